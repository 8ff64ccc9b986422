/* Shared between the compiler library's files, and the internal ABI between
 * libbpfpm_compiler.so (small, loaded into the caller) and libbpfpm_clang.so (clang and
 * LLVM, dlopen'ed only inside the forked compile child, so LLVM never enters the caller). */
#ifndef BPFPM_COMPILER_INTERNAL_H
#define BPFPM_COMPILER_INTERNAL_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void bpfpm_compiler_clear_error(void);
/* Sets the thread's last error and returns -err (err may be given either sign). */
int bpfpm_compiler_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Receives one piece of a result part (enum bpfpm_compile_part); parts may come in pieces. */
typedef void (*bpfpm_clang_emit_fn)(void *ctx, int part, const char *data, size_t len);

/* libbpfpm_clang.so's one entry: compiles source[0..source_len) as main_name to an object, or,
 * when source is NULL, the header main_name to the PCH pch_out. args: extra -cc1 arguments,
 * NUL-separated. Emits the parts; returns 0, -EINVAL (C errors) or another -errno. */
typedef int (*bpfpm_clang_run_fn)(const char *main_name, const char *source, size_t source_len,
				  const char *pch_out, const char *args, size_t args_len,
				  bpfpm_clang_emit_fn emit, void *ctx);
#define BPFPM_CLANG_LIB "libbpfpm_clang.so"
#define BPFPM_CLANG_RUN "bpfpm_clang__run"

#ifdef __cplusplus
}
#endif
#endif
