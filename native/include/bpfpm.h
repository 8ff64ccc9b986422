/* bpfpm native layer: the flat C ABI that runtime/_ffi.ts declares.
 *
 * Conventions (libbpf's): names are bpfpm_<object>__<action>; calls return 0 or -errno;
 * constructors return NULL and record why (bpfpm_last_errno, bpfpm_last_error). The
 * thread-local message says why a call failed; libbpf's own log and the verifier log are
 * captured, never printed. Nothing here ever prints to stdout/stderr.
 *
 * Symbols are hidden by default (-fvisibility=hidden); only those declared BPFPM_API in the
 * public headers of native/include are exported: this one (errors, objects, programs,
 * tracefs, kernel files), bpfpm_link.h (every attach kind, one link type), bpfpm_maps.h (maps,
 * pinning), bpfpm_events.h (one event reader over ring buffers, perf buffers and their
 * drainer threads) and bpfpm_features.h (feature probes). Declarations shared between the
 * sources live in internal headers under native/src. bpfpm_test.h is not part of this ABI:
 * hooks the tests use to force rare timings. */
#ifndef BPFPM_H
#define BPFPM_H
#include <stddef.h>
#include <stdint.h>

#define BPFPM_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* The message of the last failed call on this thread ("" if none). Valid until the next call. */
BPFPM_API const char *bpfpm_last_error(void);
/* The errno (positive) of the last failed call on this thread (0 if none). */
BPFPM_API int bpfpm_last_errno(void);

/* ---- objects (object.c) ---- */

struct bpfpm_object;
struct bpf_program;

/* Opens an ELF object held in memory (copied; buf may be freed after). btf_path, if not NULL,
 * replaces /sys/kernel/btf/vmlinux for CO-RE relocations. NULL on error. */
BPFPM_API struct bpfpm_object *bpfpm_object__open_mem(const void *buf, size_t size, const char *name,
						      const char *btf_path);
/* Loads every program and creates every map. On failure nothing stays loaded; the verifier
 * log (if a program was rejected) is kept: bpfpm_object__verifier_log. */
BPFPM_API int bpfpm_object__load(struct bpfpm_object *obj);
/* The verifier log of the program that failed to load ("" if none). */
BPFPM_API const char *bpfpm_object__verifier_log(const struct bpfpm_object *obj);
/* The name of the program that failed to load ("" if none). */
BPFPM_API const char *bpfpm_object__failed_program(const struct bpfpm_object *obj);
/* The program at index (0..program_count-1, the order of bpfpm_object__describe), or NULL. */
BPFPM_API struct bpf_program *bpfpm_object__program(const struct bpfpm_object *obj, int index);
/* Describes every program and map in one call, into buf; returns the bytes needed (call
 * again with a bigger buf if > cap). Layout, little-endian u32s: [program_count, map_count];
 * per program 32 bytes: type (enum bpf_prog_type), expected_attach_type, fd (-1 before load),
 * id (0 before load), name offset, section offset, 0, 0; per map 48 bytes: type, key_size,
 * value_size, max_entries, flags, btf_key_type_id, btf_value_type_id, fd, id, name offset,
 * 0, 0; then the NUL-terminated strings (offsets from buf). */
BPFPM_API int64_t bpfpm_object__describe(const struct bpfpm_object *obj, void *buf, uint64_t cap);
/* Unloads the programs, frees the maps and the object (links must be destroyed first). */
BPFPM_API void bpfpm_object__close(struct bpfpm_object *obj);
/* Writes len bytes of buf at offset into the initial value of the object's internal map
 * named section (".rodata", ".data", ".bss"): its `const volatile` values, set between open
 * and load so the verifier sees them as constants. -EINVAL if no such map or the bytes do
 * not fit in it, -EBUSY once the object is loaded. */
BPFPM_API int bpfpm_object__set_initial_bytes(struct bpfpm_object *obj, const char *section,
					      uint64_t offset, const void *buf, uint64_t len);
/* Makes the object's map named `map` the existing map behind fd (a pinned map the caller
 * opened and checked) instead of creating it at load; fd is duplicated (the caller closes
 * its own). Between open and load. -ENOENT if no such map. */
BPFPM_API int bpfpm_object__reuse_map(struct bpfpm_object *obj, const char *map, int fd);
/* Prepares obj, a second opening of the ELF base was loaded from, to load one program late
 * (BCC's programs typed at attach time): only `program` loads, as `type` and
 * `expected_attach_type`, and every map base has already created is shared (its fd reused).
 * Then bpfpm_object__load(obj). */
BPFPM_API int bpfpm_object__prepare_late(struct bpfpm_object *obj, const struct bpfpm_object *base,
					 const char *program, int type, int expected_attach_type);

/* ---- tracefs and trace_pipe (trace.c) ---- */

/* Mounts tracefs at path (mount -t tracefs tracefs path). */
BPFPM_API int bpfpm_tracefs__mount(const char *path);

struct bpfpm_trace_pipe;
/* Opens path (a trace_pipe) for nonblocking reads. NULL on error. */
BPFPM_API struct bpfpm_trace_pipe *bpfpm_trace_pipe__open(const char *path);
/* Waits until data is available or the pipe is cancelled, then reads up to len bytes.
 * Returns the byte count, 0 once cancelled, or -errno. Blocking: declare it nonblocking in FFI. */
BPFPM_API int64_t bpfpm_trace_pipe__read(struct bpfpm_trace_pipe *tp, void *buf, uint64_t len);
/* Wakes a pending read (which then returns 0); later reads return 0 at once. */
BPFPM_API void bpfpm_trace_pipe__cancel(struct bpfpm_trace_pipe *tp);
/* Frees the pipe; no read may be pending. */
BPFPM_API void bpfpm_trace_pipe__close(struct bpfpm_trace_pipe *tp);

/* ---- kernel files and process facts (system.c) ---- */

/* Reads up to cap bytes of the file at path into buf; the byte count or -errno. */
BPFPM_API int64_t bpfpm_file__read(const char *path, void *buf, uint64_t cap);
/* 0 if path exists, else -errno. */
BPFPM_API int bpfpm_file__exists(const char *path);
/* The calling thread's effective capability set (bit N = capability N). */
BPFPM_API int bpfpm_process__effective_caps(uint64_t *out);
/* Copies the C string s (NULL: "") into buf (cap bytes, NUL-terminated, truncated to fit);
 * returns strlen(s). Lets TypeScript read native strings without UnsafePointerView, which
 * Deno allows only under an unscoped --allow-ffi. */
BPFPM_API uint64_t bpfpm_string__copy(const char *s, void *buf, uint64_t cap);
/* The wall clock (CLOCK_REALTIME, ns since the epoch) at CLOCK_MONOTONIC zero, the clock of
 * bpf_ktime_get_ns(): an event's ktime plus this is its wall-clock time. Read from the pair
 * of clock reads closest together of a few. */
BPFPM_API int64_t bpfpm_clock__boot_ns(void);
/* Sizes the C heap of a long-running process (bpfpm agent): at most arena_max malloc arenas
 * (the drainer and runtime threads otherwise get one each), and blocks of mmap_threshold
 * bytes or more mapped on their own and returned whole when freed (libbpf's BTF and ELF
 * buffers, which glibc's growing threshold would otherwise leave in the heap). 0 or -errno. */
BPFPM_API int bpfpm_memory__tune(int arena_max, int mmap_threshold);
/* Returns the C heap's free pages to the kernel (malloc_trim); 1 if any were. */
BPFPM_API int bpfpm_memory__trim(void);

#ifdef __cplusplus
}
#endif
#endif
