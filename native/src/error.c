#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static __thread char last_error[4096];
static __thread int last_errno;

BPFPM_API const char *bpfpm_last_error(void) { return last_error; }

BPFPM_API int bpfpm_last_errno(void) { return last_errno; }

void bpfpm_clear_error(void)
{
	last_error[0] = '\0';
	last_errno = 0;
}

int bpfpm_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_errno = err > 0 ? err : -err;
	return -last_errno;
}

void *bpfpm_fail_null(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	last_errno = err > 0 ? err : -err;
	errno = last_errno;
	return NULL;
}
