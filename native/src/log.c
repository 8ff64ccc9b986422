/* libbpf's print callback, captured per thread into a buffer: the library never prints. */
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static __thread struct bpfpm_text *capture;

void bpfpm_text_append(struct bpfpm_text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		while (cap < t->len + n + 1)
			cap *= 2;
		char *data = realloc(t->data, cap);
		if (!data)
			return;
		t->data = data;
		t->cap = cap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
}

void bpfpm_text_free(struct bpfpm_text *t)
{
	free(t->data);
	t->data = NULL;
	t->len = t->cap = 0;
}

static int print_to_capture(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || !capture)
		return 0;
	char small[512];
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return 0;
	if ((size_t)n < sizeof(small)) {
		bpfpm_text_append(capture, small, n);
		return n;
	}
	char *big = malloc(n + 1);
	if (!big)
		return 0;
	vsnprintf(big, n + 1, fmt, ap);
	bpfpm_text_append(capture, big, n);
	free(big);
	return n;
}

/* From the moment the library is loaded, libbpf's log goes to the capture (or nowhere). */
__attribute__((constructor)) static void route_libbpf_log(void) { libbpf_set_print(print_to_capture); }

void bpfpm_log_capture_begin(struct bpfpm_text *t)
{
	/* Set on every capture: another library in the process (the compiler's) shares libbpf. */
	libbpf_set_print(print_to_capture);
	capture = t;
}

void bpfpm_log_capture_end(void) { capture = NULL; }

const char *bpfpm_log_last_line(const struct bpfpm_text *t, char *out, size_t size)
{
	out[0] = '\0';
	if (!t->data || !t->len)
		return out;
	size_t end = t->len;
	while (end > 0 && t->data[end - 1] == '\n')
		end--;
	size_t start = end;
	while (start > 0 && t->data[start - 1] != '\n')
		start--;
	const char *line = t->data + start;
	size_t n = end - start;
	if (n >= 8 && !strncmp(line, "libbpf: ", 8)) {
		line += 8;
		n -= 8;
	}
	if (n >= size)
		n = size - 1;
	memcpy(out, line, n);
	out[n] = '\0';
	return out;
}
