/* bpfpm compiler: BPF C held in memory -> BPF ELF in memory, with clang 14 as a library.
 *
 * A separate library from libbpfpm.so so that a compile-cache hit never even opens it
 * (runtime/compile/_ffi.ts opens it only on a miss). Same conventions as bpfpm.h: names are
 * bpfpm_compiler__<action>, calls return 0 or -errno, nothing is ever printed.
 *
 * Each compile (and PCH build) runs in a forked child of the calling process, which dlopens
 * libbpfpm_clang.so (clang + LLVM, next to this library) and sends the result back over a
 * pipe. So LLVM never enters the caller (≈ 60 MB of RSS saved), and LLVM 14's process-wide
 * CO-RE state, which crashes a second CO-RE compile in one process, dies with each child.
 *
 * Compile results are heap objects read through the result accessors, because a compile is
 * declared nonblocking on the Deno side and so runs on a worker thread, where a thread-local
 * last-error would not be visible to the caller. */
#ifndef BPFPM_COMPILER_H
#define BPFPM_COMPILER_H
#include <stddef.h>
#include <stdint.h>

#define BPFPM_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

struct bpfpm_compile_result;

/* Parts of a compile result, for bpfpm_compiler__result_size/_copy. */
enum bpfpm_compile_part {
	BPFPM_COMPILE_OBJECT = 0,      /* the BPF ELF object (empty for a PCH build or on error) */
	BPFPM_COMPILE_DIAGNOSTICS = 1, /* clang's diagnostics, as clang prints them, no colours */
	BPFPM_COMPILE_DEPS = 2,        /* absolute paths of the files read, '\n'-separated */
	BPFPM_COMPILE_ERROR = 3,       /* why the compile could not run (not a C error) */
};

/* The message of the last failed synchronous call on this thread ("" if none). */
BPFPM_API const char *bpfpm_compiler__last_error(void);
/* The same, copied into buf (cap bytes, NUL-terminated); returns the message's length. For
 * callers that cannot read C memory (Deno's pointer views need unscoped --allow-ffi). */
BPFPM_API size_t bpfpm_compiler__last_error_copy(char *buf, size_t cap);

/* The compiler's identity: the LLVM version, clang's resource dir and this library's build
 * stamp. Static string; does not load LLVM. */
BPFPM_API const char *bpfpm_compiler__version(void);

/* Writes a vmlinux.h for the BTF at btf_path (normally /sys/kernel/btf/vmlinux) to out_path,
 * with libbpf's btf_dump; types carry preserve_access_index (CO-RE). Atomic: temp + rename.
 * On failure the message also goes to errbuf (errlen bytes, NUL-terminated; may be NULL), for
 * callers on another thread than the one that reads bpfpm_compiler__last_error. */
BPFPM_API int bpfpm_compiler__gen_vmlinux_h(const char *btf_path, const char *out_path,
					    char *errbuf, size_t errlen);

/* Reads up to cap bytes of the file at path into buf; returns the bytes read or -errno. With
 * buf NULL, returns the file's size as read (for files like /sys/kernel/btf/vmlinux, whose
 * stat size is exact). Lets the runtime read kernel files that Deno only opens under -A. */
BPFPM_API int64_t bpfpm_compiler__read_file(const char *path, uint8_t *buf, size_t cap);

/* Compiles source[0..source_len) as the C file main_name (an absolute path: relative
 * #include "..." resolve from its directory; it need not exist) to a BPF object
 * (-target bpf -O2 -g, CO-RE). args: extra clang -cc1 arguments, NUL-separated, args_len bytes
 * in all (e.g. "-include-pch\0/x/vmlinux.pch\0-DX=1"). Returns NULL with errno set only when
 * out of memory; otherwise a result to free with bpfpm_compiler__result_free. */
BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__compile(const char *source, size_t source_len,
							       const char *main_name, const char *args,
							       size_t args_len);

/* Builds a precompiled header of the header file header_path into pch_path (atomically), with
 * the same base flags compiles use; args as for bpfpm_compiler__compile (they must match the
 * -D/-U the compiles will use). Result as for bpfpm_compiler__compile, without an object. */
BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__build_pch(const char *header_path,
								 const char *pch_path, const char *args,
								 size_t args_len);

/* 0 if the object (or PCH) was produced; -EINVAL if the C did not compile (see the
 * diagnostics); another -errno if the compiler could not run (see BPFPM_COMPILE_ERROR). */
BPFPM_API int bpfpm_compiler__result_status(const struct bpfpm_compile_result *r);
BPFPM_API size_t bpfpm_compiler__result_size(const struct bpfpm_compile_result *r, int part);
/* Copies up to cap bytes of a part into buf; returns the part's size. */
BPFPM_API size_t bpfpm_compiler__result_copy(const struct bpfpm_compile_result *r, int part,
					     uint8_t *buf, size_t cap);
BPFPM_API void bpfpm_compiler__result_free(struct bpfpm_compile_result *r);

#ifdef __cplusplus
}
#endif
#endif
