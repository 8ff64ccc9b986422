/* libbpfpm_compiler.so's compile calls: each runs in a forked child that dlopens
 * libbpfpm_clang.so (clang + LLVM) and streams the result back over a pipe. The calling
 * process never maps LLVM (≈ 60 MB of RSS), and LLVM 14's process-wide CO-RE state, which
 * crashes a second CO-RE compile in one process, dies with each child.
 *
 * Pipe protocol, child to parent: records of (u32 part, u64 length, bytes), then one record
 * (u32 END, u64 status as int64). No END record means the child died mid-way. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <elf.h>

#include "bpfpm_compiler.h"
#include "compiler_internal.h"

#ifndef BPFPM_LLVM_VERSION
#error "BPFPM_LLVM_VERSION must name the LLVM version (native/Makefile sets it)"
#endif

#define PARTS 4
#define END 0xffffffffu

struct part {
	char *data;
	size_t len, cap;
};

struct bpfpm_compile_result {
	int status;
	struct part parts[PARTS];
};

static int part_append(struct part *p, const void *data, size_t len)
{
	if (p->len + len + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < p->len + len + 1)
			cap *= 2;
		char *n = realloc(p->data, cap);
		if (!n)
			return -ENOMEM;
		p->data = n;
		p->cap = cap;
	}
	memcpy(p->data + p->len, data, len);
	p->len += len;
	p->data[p->len] = '\0';
	return 0;
}

static void set_error(struct bpfpm_compile_result *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct bpfpm_compile_result *r, int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = -(err > 0 ? err : -err);
	r->parts[BPFPM_COMPILE_ERROR].len = 0;
	part_append(&r->parts[BPFPM_COMPILE_ERROR], msg, strlen(msg));
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_record(int fd, uint32_t part, uint64_t len, const void *data)
{
	char head[12];
	memcpy(head, &part, 4);
	memcpy(head + 4, &len, 8);
	if (write_all(fd, head, sizeof(head)))
		return -1;
	return data && len ? write_all(fd, data, len) : 0;
}

struct child_ctx {
	int fd;
	int broken;
};

static void child_emit(void *ctx, int part, const char *data, size_t len)
{
	struct child_ctx *c = ctx;
	if (!c->broken && write_record(c->fd, (uint32_t)part, len, data))
		c->broken = 1;
}

/* libbpfpm_clang.so sits next to this library. */
static int clang_lib_path(char *out, size_t size)
{
	Dl_info info;
	const char *slash;
	if (!dladdr((void *)clang_lib_path, &info) || !info.dli_fname)
		return -1;
	slash = strrchr(info.dli_fname, '/');
	if (!slash)
		return snprintf(out, size, "%s", BPFPM_CLANG_LIB) >= (int)size ? -1 : 0;
	return snprintf(out, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname,
			BPFPM_CLANG_LIB) >= (int)size
		       ? -1
		       : 0;
}

/* The child keeps only: stdin/stdout on /dev/null, stderr into err_fd (whatever LLVM prints
 * there reaches the caller as the error text, never the terminal), and the result pipe as
 * fd 3. Everything else the parent had open (BPF links, trace_pipe, sockets) is closed, so a
 * compile never keeps them alive. Returns the pipe's fd. */
static int child_fds(int pipe_fd, int err_fd)
{
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	int p = fcntl(pipe_fd, F_DUPFD_CLOEXEC, 10);
	int e = fcntl(err_fd, F_DUPFD_CLOEXEC, 10);
	int n = null_fd < 0 ? -1 : fcntl(null_fd, F_DUPFD_CLOEXEC, 10);

	if (p < 0 || e < 0 || n < 0)
		return pipe_fd;
	if (dup2(n, 0) < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0 || dup2(p, 3) < 0)
		return pipe_fd;
	close_range(4, ~0U, 0);
	return 3;
}

static void child_main(pid_t parent, int fd, int err_fd, const char *lib, const char *main_name,
		       const char *source, size_t source_len, const char *pch_out,
		       const char *args, size_t args_len)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
	struct child_ctx ctx;
	void *handle;
	bpfpm_clang_run_fn run;
	int64_t status;

	/* The parent's handlers (Deno's) must not run here; die with the parent. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1); /* the parent died before the line above */
	fd = child_fds(fd, err_fd);
	ctx = (struct child_ctx){.fd = fd};

	/* Lazy: LLVM has tens of thousands of symbols, and a compile calls a fraction of them. */
	handle = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
	run = handle ? (bpfpm_clang_run_fn)dlsym(handle, BPFPM_CLANG_RUN) : NULL;
	if (!run) {
		char msg[6144];
		snprintf(msg, sizeof(msg), "cannot load %s: %.1024s", lib, dlerror());
		child_emit(&ctx, BPFPM_COMPILE_ERROR, msg, strlen(msg));
		status = -ELIBACC;
	} else {
		status = run(main_name, source, source_len, pch_out, args, args_len, child_emit,
			     &ctx);
	}
	if (ctx.broken || write_record(fd, END, (uint64_t)status, NULL))
		_exit(1);
	_exit(0);
}

/* Reads the child's records into r; returns 1 when the END record was seen. */
static int read_records(int fd, struct bpfpm_compile_result *r)
{
	char buf[65536];
	char head[12];
	size_t have = 0, need = sizeof(head);
	uint32_t part = 0;
	uint64_t left = 0;
	int in_body = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			if (!in_body) {
				size_t take = need - have < (size_t)(n - off) ? need - have : (size_t)(n - off);
				memcpy(head + have, buf + off, take);
				have += take;
				off += (ssize_t)take;
				if (have < need)
					break;
				memcpy(&part, head, 4);
				memcpy(&left, head + 4, 8);
				have = 0;
				if (part == END) {
					r->status = (int)(int64_t)left;
					return 1;
				}
				if (part >= PARTS)
					return 0;
				in_body = left > 0;
			} else {
				size_t take = left < (uint64_t)(n - off) ? (size_t)left : (size_t)(n - off);
				if (part_append(&r->parts[part], buf + off, take))
					return 0;
				left -= take;
				off += (ssize_t)take;
				in_body = left > 0;
			}
		}
	}
}

/* Empties the DWARF sections of a BPF object (.debug_* and their relocations), keeping every
 * section and so every index that symbols and relocations use: the sections are laid out
 * again, in order, with the DWARF ones at size 0. -g is needed for BTF and CO-RE, which live
 * in .BTF/.BTF.ext; libbpf ignores DWARF, which is most of an object that reads kernel
 * structs (≈ 600 KB of 640 KB for a task_struct walk). Leaves the object as it was if it is
 * not the 64-bit little-endian relocatable ELF clang makes. */
static void strip_dwarf(struct part *obj)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)obj->data;
	const Elf64_Shdr *sh, *names;
	Elf64_Shdr *out_sh;
	char *out;
	size_t off, i, n, cap;
	int changed = 0;

	if (obj->len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shnum || eh->e_shstrndx >= eh->e_shnum ||
	    eh->e_shoff > obj->len || (obj->len - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum)
		return;
	n = eh->e_shnum;
	sh = (const Elf64_Shdr *)(obj->data + eh->e_shoff);
	names = &sh[eh->e_shstrndx];
	for (i = 0; i < n; i++) {
		if (sh[i].sh_type != SHT_NOBITS &&
		    (sh[i].sh_offset > obj->len || sh[i].sh_size > obj->len - sh[i].sh_offset))
			return;
	}
	if (names->sh_offset > obj->len || names->sh_size > obj->len - names->sh_offset)
		return;

	cap = obj->len + n * sizeof(Elf64_Shdr) + 64;
	out = calloc(1, cap); /* alignment gaps must not carry stale heap bytes */
	out_sh = malloc(n * sizeof(Elf64_Shdr));
	if (!out || !out_sh) {
		free(out);
		free(out_sh);
		return;
	}
	memcpy(out, eh, sizeof(*eh));
	memcpy(out_sh, sh, n * sizeof(Elf64_Shdr));
	off = sizeof(*eh);
	for (i = 1; i < n; i++) {
		const char *name = obj->data + names->sh_offset + sh[i].sh_name;
		size_t align = sh[i].sh_addralign > 1 ? sh[i].sh_addralign : 1;
		int dwarf = sh[i].sh_name < names->sh_size &&
			    (!strncmp(name, ".debug_", 7) || !strncmp(name, ".rel.debug_", 11) ||
			     !strncmp(name, ".rela.debug_", 12));

		if (dwarf) {
			out_sh[i].sh_size = 0;
			changed = 1;
		}
		off = (off + align - 1) / align * align;
		out_sh[i].sh_offset = off;
		if (sh[i].sh_type != SHT_NOBITS && out_sh[i].sh_size) {
			memcpy(out + off, obj->data + sh[i].sh_offset, out_sh[i].sh_size);
			off += out_sh[i].sh_size;
		}
	}
	off = (off + 7) / 8 * 8;
	if (!changed || off + n * sizeof(Elf64_Shdr) > cap) {
		free(out);
		free(out_sh);
		return;
	}
	((Elf64_Ehdr *)out)->e_shoff = off;
	memcpy(out + off, out_sh, n * sizeof(Elf64_Shdr));
	free(out_sh);
	free(obj->data);
	obj->data = out;
	obj->len = obj->cap = off + n * sizeof(Elf64_Shdr);
}

/* Adds the end of what the child wrote to stderr (LLVM's fatal errors, a crash's stack) to
 * the error part. */
static void append_stderr(struct bpfpm_compile_result *r, int err_fd)
{
	char buf[4096];
	struct stat st;
	off_t from;
	ssize_t n;

	if (fstat(err_fd, &st) || st.st_size <= 0)
		return;
	from = st.st_size > (off_t)sizeof(buf) ? st.st_size - (off_t)sizeof(buf) : 0;
	n = pread(err_fd, buf, sizeof(buf), from);
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	part_append(&r->parts[BPFPM_COMPILE_ERROR], "; the compiler's output: ", 25);
	part_append(&r->parts[BPFPM_COMPILE_ERROR], buf, (size_t)n);
}

static struct bpfpm_compile_result *run_forked(const char *main_name, const char *source,
					       size_t source_len, const char *pch_out,
					       const char *args, size_t args_len)
{
	struct bpfpm_compile_result *r = calloc(1, sizeof(*r));
	char lib[4096];
	int fds[2], err_fd, wstatus = 0, complete;
	pid_t pid, parent;

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	if (clang_lib_path(lib, sizeof(lib))) {
		set_error(r, ENOENT, "cannot locate %s next to libbpfpm_compiler.so", BPFPM_CLANG_LIB);
		return r;
	}
	/* The child's stderr: shared memory both sides can read after the child is gone. */
	err_fd = memfd_create("bpfpm-compiler-stderr", MFD_CLOEXEC);
	if (err_fd < 0) {
		set_error(r, errno, "cannot create the compiler's stderr: %s", strerror(errno));
		return r;
	}
	if (pipe2(fds, O_CLOEXEC)) {
		set_error(r, errno, "cannot create a pipe: %s", strerror(errno));
		close(err_fd);
		return r;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		close(err_fd);
		set_error(r, err, "cannot fork the compiler: %s", strerror(err));
		return r;
	}
	if (pid == 0) {
		close(fds[0]);
		child_main(parent, fds[1], err_fd, lib, main_name, source, source_len, pch_out,
			   args, args_len);
	}
	close(fds[1]);
	complete = read_records(fds[0], r);
	close(fds[0]);
	if (!complete)
		kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(wstatus) && !complete)
		set_error(r, EIO, "the compiler crashed (signal %d: %s)", WTERMSIG(wstatus),
			  strsignal(WTERMSIG(wstatus)));
	else if (!complete)
		set_error(r, EIO, "the compiler exited without a complete result");
	if (r->status && r->status != -EINVAL)
		append_stderr(r, err_fd);
	if (!r->status && r->parts[BPFPM_COMPILE_OBJECT].len)
		strip_dwarf(&r->parts[BPFPM_COMPILE_OBJECT]);
	close(err_fd);
	return r;
}

static struct bpfpm_compile_result *invalid(const char *msg)
{
	struct bpfpm_compile_result *r = calloc(1, sizeof(*r));
	if (r)
		set_error(r, EINVAL, "%s", msg);
	else
		errno = ENOMEM;
	return r;
}

BPFPM_API const char *bpfpm_compiler__version(void)
{
	return "clang " BPFPM_LLVM_VERSION "; target bpf; resource-dir " BPFPM_CLANG_RESOURCE_DIR
	       "; bpfpm compiler built " __DATE__ " " __TIME__;
}

BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__compile(const char *source, size_t source_len,
							       const char *main_name, const char *args,
							       size_t args_len)
{
	if (!source || !main_name || (!args && args_len))
		return invalid("source and main_name are required");
	return run_forked(main_name, source, source_len, NULL, args, args_len);
}

BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__build_pch(const char *header_path,
								 const char *pch_path, const char *args,
								 size_t args_len)
{
	if (!header_path || !pch_path || (!args && args_len))
		return invalid("header_path and pch_path are required");
	return run_forked(header_path, NULL, 0, pch_path, args, args_len);
}

BPFPM_API int bpfpm_compiler__result_status(const struct bpfpm_compile_result *r)
{
	return r ? r->status : -EINVAL;
}

BPFPM_API size_t bpfpm_compiler__result_size(const struct bpfpm_compile_result *r, int part)
{
	if (!r || part < 0 || part >= PARTS)
		return 0;
	return r->parts[part].len;
}

BPFPM_API size_t bpfpm_compiler__result_copy(const struct bpfpm_compile_result *r, int part,
					     uint8_t *buf, size_t cap)
{
	size_t len;
	if (!r || part < 0 || part >= PARTS)
		return 0;
	len = r->parts[part].len;
	if (buf && cap)
		memcpy(buf, r->parts[part].data, len < cap ? len : cap);
	return len;
}

BPFPM_API void bpfpm_compiler__result_free(struct bpfpm_compile_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < PARTS; i++)
		free(r->parts[i].data);
	free(r);
}
