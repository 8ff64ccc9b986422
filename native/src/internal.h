/* Internal helpers shared by the native sources (not exported). */
#ifndef BPFPM_INTERNAL_H
#define BPFPM_INTERNAL_H
#include "bpfpm.h"

/* Records the thread's last error message (printf-style) and returns -err (err > 0). */
int bpfpm_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the thread's last error message. */
void bpfpm_clear_error(void);

#endif
