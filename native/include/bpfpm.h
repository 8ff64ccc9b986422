/* bpfpm native layer: the flat C ABI that runtime/_ffi.ts declares.
 *
 * Conventions (libbpf's): names are bpfpm_<object>__<action>; calls return 0 or -errno;
 * constructors return NULL and set errno; a thread-local message says why
 * (bpfpm_last_error). Nothing here ever prints to stdout/stderr. */
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

#ifdef __cplusplus
}
#endif
#endif
