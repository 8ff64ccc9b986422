/* A BPF object: opened from an ELF in memory, loaded with the verifier log captured,
 * its programs and maps listed. */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct bpfpm_object {
	struct bpf_object *obj;
	struct bpfpm_text log;
	char *verifier_log;
	char failed_program[128];
	int program_count, map_count;
	struct bpf_program **programs;
	struct bpf_map **maps;
	/* The declared names of maps made the user's (bpfpm_object__reuse_map): libbpf renames a
	 * reused map after the kernel's, and the object's own name is what callers ask for. */
	char **declared_names;
};

static const char *declared_name(const struct bpfpm_object *o, int i)
{
	return o->declared_names && o->declared_names[i] ? o->declared_names[i]
							 : bpf_map__name(o->maps[i]);
}

static const char verifier_begin[] = "-- BEGIN PROG LOAD LOG --\n";
static const char verifier_end[] = "-- END PROG LOAD LOG --";

/* Everything libbpf logged, minus the verifier log, trimmed to fit an error message. */
static void log_summary(const struct bpfpm_object *o, char *out, size_t size)
{
	out[0] = '\0';
	if (!o->log.data)
		return;
	size_t used = 0;
	const char *p = o->log.data;
	while (*p && used + 1 < size) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *begin = memmem(p, n, verifier_begin, sizeof(verifier_begin) - 2);
		if (begin) {
			const char *end = strstr(p, verifier_end);
			if (!end)
				break;
			nl = strchr(end, '\n');
			p = nl ? nl + 1 : end + strlen(end);
			continue;
		}
		const char *line = p;
		if (n >= 8 && !strncmp(line, "libbpf: ", 8)) {
			line += 8;
			n -= 8;
		}
		if (n && used + n + 3 < size) {
			if (used) {
				memcpy(out + used, "; ", 2);
				used += 2;
			}
			memcpy(out + used, line, n);
			used += n;
			out[used] = '\0';
		}
		p = nl ? nl + 1 : p + strlen(p);
	}
}

static void extract_verifier_log(struct bpfpm_object *o)
{
	if (!o->log.data)
		return;
	const char *begin = strstr(o->log.data, verifier_begin);
	if (!begin)
		return;
	const char *name = begin;
	while (name > o->log.data && name[-1] != '\n')
		name--;
	const char *q = strstr(name, "prog '");
	if (q && q < begin) {
		q += 6;
		const char *e = strchr(q, '\'');
		if (e && e < begin && (size_t)(e - q) < sizeof(o->failed_program)) {
			memcpy(o->failed_program, q, e - q);
			o->failed_program[e - q] = '\0';
		}
	}
	begin += sizeof(verifier_begin) - 1;
	const char *end = strstr(begin, verifier_end);
	size_t n = end ? (size_t)(end - begin) : strlen(begin);
	o->verifier_log = strndup(begin, n);
}

BPFPM_API struct bpfpm_object *bpfpm_object__open_mem(const void *buf, size_t size, const char *name,
						      const char *btf_path)
{
	bpfpm_clear_error();
	struct bpfpm_object *o = calloc(1, sizeof(*o));
	if (!o) {
		bpfpm_fail(ENOMEM, "out of memory opening a BPF object");
		return NULL;
	}
	bpfpm_register_sections();
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name,
		    .btf_custom_path = btf_path && *btf_path ? btf_path : NULL);
	bpfpm_log_capture_begin(&o->log);
	o->obj = bpf_object__open_mem(buf, size, &opts);
	int err = o->obj ? 0 : errno;
	bpfpm_log_capture_end();
	if (!o->obj) {
		char summary[2048];
		log_summary(o, summary, sizeof(summary));
		bpfpm_fail(err ? err : EINVAL, "cannot open the BPF object: %s",
			   summary[0] ? summary : strerror(err ? err : EINVAL));
		bpfpm_text_free(&o->log);
		free(o);
		return NULL;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, o->obj) o->program_count++;
	struct bpf_map *m;
	bpf_object__for_each_map(m, o->obj) o->map_count++;
	o->programs = calloc(o->program_count + 1, sizeof(*o->programs));
	o->maps = calloc(o->map_count + 1, sizeof(*o->maps));
	if (!o->programs || !o->maps) {
		bpfpm_object__close(o);
		bpfpm_fail(ENOMEM, "out of memory opening a BPF object");
		return NULL;
	}
	int i = 0;
	bpf_object__for_each_program(p, o->obj) o->programs[i++] = p;
	i = 0;
	bpf_object__for_each_map(m, o->obj) o->maps[i++] = m;
	return o;
}

BPFPM_API int bpfpm_object__load(struct bpfpm_object *o)
{
	bpfpm_clear_error();
	bpfpm_log_capture_begin(&o->log);
	int err = bpf_object__load(o->obj);
	bpfpm_log_capture_end();
	if (!err)
		return 0;
	extract_verifier_log(o);
	char summary[2048];
	log_summary(o, summary, sizeof(summary));
	return bpfpm_fail(err, "%s", summary[0] ? summary : strerror(-err));
}

BPFPM_API const char *bpfpm_object__verifier_log(const struct bpfpm_object *o)
{
	return o->verifier_log ? o->verifier_log : "";
}

BPFPM_API const char *bpfpm_object__failed_program(const struct bpfpm_object *o) { return o->failed_program; }

BPFPM_API struct bpf_program *bpfpm_object__program(const struct bpfpm_object *o, int index)
{
	return index >= 0 && index < o->program_count ? o->programs[index] : NULL;
}

BPFPM_API void bpfpm_object__close(struct bpfpm_object *o)
{
	if (!o)
		return;
	bpf_object__close(o->obj);
	bpfpm_text_free(&o->log);
	free(o->verifier_log);
	free(o->programs);
	for (int i = 0; o->declared_names && i < o->map_count; i++)
		free(o->declared_names[i]);
	free(o->declared_names);
	free(o->maps);
	free(o);
}

BPFPM_API int bpfpm_object__set_initial_bytes(struct bpfpm_object *o, const char *section,
					      uint64_t offset, const void *buf, uint64_t len)
{
	bpfpm_clear_error();
	/* libbpf finds an internal map by its section name (its real name). */
	struct bpf_map *m = bpf_object__find_map_by_name(o->obj, section);
	if (!m)
		return bpfpm_fail(EINVAL, "the object has no %s section", section);
	if (bpf_map__fd(m) >= 0)
		return bpfpm_fail(EBUSY, "the object is loaded: %s is set before load", section);
	size_t size = 0;
	const void *data = bpf_map__initial_value(m, &size);
	if (!data)
		return bpfpm_fail(EINVAL, "%s has no initial value", section);
	if (offset > size || len > size - offset)
		return bpfpm_fail(EINVAL, "%llu bytes at offset %llu do not fit in %s (%zu bytes)",
				  (unsigned long long)len, (unsigned long long)offset, section, size);
	/* libbpf's initial value is read through its getter and replaced through its setter. */
	char *copy = malloc(size);
	if (!copy)
		return bpfpm_fail(ENOMEM, "out of memory setting %s", section);
	memcpy(copy, data, size);
	memcpy(copy + offset, buf, len);
	int err = bpf_map__set_initial_value(m, copy, size);
	free(copy);
	if (err)
		return bpfpm_fail(-err, "cannot set the initial value of %s: %s", section, strerror(-err));
	return 0;
}

/* What bpfpm_object__describe reports of a program (its first four u32s). */
struct program_info {
	uint32_t type;                 /* enum bpf_prog_type */
	uint32_t expected_attach_type; /* enum bpf_attach_type */
	int32_t fd;                    /* -1 before load */
	uint32_t id;                   /* kernel program id, 0 before load */
};

static void program_info(const struct bpf_program *prog, struct program_info *out)
{
	memset(out, 0, sizeof(*out));
	out->type = bpf_program__type(prog);
	out->expected_attach_type = bpf_program__expected_attach_type(prog);
	out->fd = bpf_program__fd(prog);
	if (out->fd >= 0) {
		struct bpf_prog_info info = {0};
		__u32 len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(out->fd, &info, &len))
			out->id = info.id;
	}
}

/* What bpfpm_object__describe reports of a map (its first nine u32s). */
struct map_info {
	uint32_t type; /* enum bpf_map_type */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t flags;
	uint32_t btf_key_type_id;
	uint32_t btf_value_type_id;
	int32_t fd;  /* -1 before load */
	uint32_t id; /* kernel map id, 0 before load */
};

static void map_info(const struct bpf_map *map, struct map_info *out)
{
	memset(out, 0, sizeof(*out));
	out->type = bpf_map__type(map);
	out->key_size = bpf_map__key_size(map);
	out->value_size = bpf_map__value_size(map);
	out->max_entries = bpf_map__max_entries(map);
	out->flags = bpf_map__map_flags(map);
	out->btf_key_type_id = bpf_map__btf_key_type_id(map);
	out->btf_value_type_id = bpf_map__btf_value_type_id(map);
	out->fd = bpf_map__fd(map);
	if (out->fd >= 0) {
		struct bpf_map_info info = {0};
		__u32 len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(out->fd, &info, &len))
			out->id = info.id;
	}
}

/* Appends a NUL-terminated string to the table at out[*at]; returns its offset (0 if no room). */
static uint32_t put_string(uint8_t *out, uint64_t cap, uint64_t *at, const char *str)
{
	size_t n = strlen(str ? str : "") + 1;
	uint64_t off = *at;
	*at += n;
	if (*at <= cap)
		memcpy(out + off, str ? str : "", n);
	return (uint32_t)off;
}

BPFPM_API int64_t bpfpm_object__describe(const struct bpfpm_object *o, void *buf, uint64_t cap)
{
	uint8_t *out = buf;
	uint64_t head = 8 + (uint64_t)o->program_count * 32 + (uint64_t)o->map_count * 48;
	uint64_t at = head;
	uint32_t rec[12];
	if (cap >= 8) {
		rec[0] = o->program_count;
		rec[1] = o->map_count;
		memcpy(out, rec, 8);
	}
	for (int i = 0; i < o->program_count; i++) {
		struct program_info info;
		program_info(o->programs[i], &info);
		memset(rec, 0, sizeof(rec));
		rec[0] = info.type;
		rec[1] = info.expected_attach_type;
		rec[2] = (uint32_t)info.fd;
		rec[3] = info.id;
		rec[4] = put_string(out, cap, &at, bpf_program__name(o->programs[i]));
		rec[5] = put_string(out, cap, &at, bpf_program__section_name(o->programs[i]));
		if (8 + (uint64_t)i * 32 + 32 <= cap)
			memcpy(out + 8 + (uint64_t)i * 32, rec, 32);
	}
	for (int i = 0; i < o->map_count; i++) {
		struct map_info info;
		map_info(o->maps[i], &info);
		memset(rec, 0, sizeof(rec));
		memcpy(rec, &info, 9 * 4);
		rec[9] = put_string(out, cap, &at, declared_name(o, i));
		uint64_t pos = 8 + (uint64_t)o->program_count * 32 + (uint64_t)i * 48;
		if (pos + 48 <= cap)
			memcpy(out + pos, rec, 48);
	}
	return (int64_t)at;
}

BPFPM_API int bpfpm_object__reuse_map(struct bpfpm_object *o, const char *map, int fd)
{
	bpfpm_clear_error();
	int i = 0;
	while (i < o->map_count && strcmp(declared_name(o, i), map))
		i++;
	if (i == o->map_count)
		return bpfpm_fail(ENOENT, "no map '%s' in the object", map);
	if (!o->declared_names && !(o->declared_names = calloc(o->map_count, sizeof(char *))))
		return bpfpm_fail(ENOMEM, "out of memory");
	char *name = o->declared_names[i] ? NULL : strdup(map);
	if (!o->declared_names[i] && !name)
		return bpfpm_fail(ENOMEM, "out of memory");
	int err = bpf_map__reuse_fd(o->maps[i], fd);
	if (err) {
		free(name);
		return bpfpm_fail(-err, "cannot use fd %d as map '%s': %s", fd, map, strerror(-err));
	}
	if (name)
		o->declared_names[i] = name;
	return 0;
}

BPFPM_API int bpfpm_object__prepare_late(struct bpfpm_object *o, const struct bpfpm_object *base,
					 const char *program, int type, int expected_attach_type)
{
	bpfpm_clear_error();
	int found = 0;
	for (int i = 0; i < o->program_count; i++) {
		struct bpf_program *p = o->programs[i];
		int wanted = !strcmp(bpf_program__name(p), program);
		bpf_program__set_autoload(p, wanted);
		if (!wanted)
			continue;
		found = 1;
		bpf_program__set_type(p, type);
		bpf_program__set_expected_attach_type(p, expected_attach_type);
	}
	if (!found)
		return bpfpm_fail(ENOENT, "no program '%s' in the object", program);
	for (int i = 0; i < o->map_count; i++) {
		struct bpf_map *from = NULL;
		for (int j = 0; j < base->map_count && !from; j++)
			if (!strcmp(declared_name(base, j), bpf_map__name(o->maps[i])))
				from = base->maps[j];
		if (!from || bpf_map__fd(from) < 0)
			continue;
		int err = bpf_map__reuse_fd(o->maps[i], bpf_map__fd(from));
		if (err)
			return bpfpm_fail(-err, "cannot share map '%s' with the loaded object: %s",
					  bpf_map__name(o->maps[i]), strerror(-err));
	}
	return 0;
}
