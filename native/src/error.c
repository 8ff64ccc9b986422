#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static __thread char last_error[4096];

BPFPM_API const char *bpfpm_last_error(void) { return last_error; }

void bpfpm_clear_error(void) { last_error[0] = '\0'; }

int bpfpm_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -(err > 0 ? err : -err);
}
