/* Shared between the compiler library's C and C++ files. */
#ifndef BPFPM_COMPILER_INTERNAL_H
#define BPFPM_COMPILER_INTERNAL_H
#ifdef __cplusplus
extern "C" {
#endif

void bpfpm_compiler_clear_error(void);
/* Sets the thread's last error and returns -err (err may be given either sign). */
int bpfpm_compiler_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
