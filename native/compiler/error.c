#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bpfpm_compiler.h"
#include "compiler_internal.h"

static __thread char last_error[4096];

BPFPM_API const char *bpfpm_compiler__last_error(void) { return last_error; }

BPFPM_API size_t bpfpm_compiler__last_error_copy(char *buf, size_t cap)
{
	size_t len = strlen(last_error);
	if (buf && cap)
		snprintf(buf, cap, "%s", last_error);
	return len;
}

void bpfpm_compiler_clear_error(void) { last_error[0] = '\0'; }

int bpfpm_compiler_fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -(err > 0 ? err : -err);
}
