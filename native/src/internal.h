/* Internal helpers shared by the native sources (not exported). */
#ifndef BPFPM_INTERNAL_H
#define BPFPM_INTERNAL_H
#include <stddef.h>

#include "bpfpm.h"

/* Records the thread's last error (errno and printf-style message) and returns -err
 * (err may be given either sign). */
int bpfpm_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the thread's last error. */
void bpfpm_clear_error(void);
/* For constructors: records the last error like bpfpm_fail, sets errno to err and returns NULL. */
void *bpfpm_fail_null(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads a small integer file such as /sys/bus/event_source/devices/uprobe/type; -errno if
 * absent (system.c). */
int bpfpm_read_int_file(const char *path, int *out);
/* Where tracefs is mounted (/sys/kernel/tracing or /sys/kernel/debug/tracing) into out;
 * -ENOENT when neither has events (system.c). */
int bpfpm_tracefs_dir(char *out, size_t n);

/* The enum bpf_attach_type values newer than the system's UAPI header (Debian 12's, with
 * libbpf 1.1), in one place. */
enum {
	BPFPM_TRACE_KPROBE_MULTI = 42,
	BPFPM_TCX_INGRESS = 46, /* 6.6 */
	BPFPM_TCX_EGRESS = 47,
	BPFPM_TRACE_UPROBE_MULTI = 48, /* 6.6 */
	BPFPM_TRACE_KPROBE_SESSION = 56, /* 6.10 */
	BPFPM_TRACE_UPROBE_SESSION = 57, /* 6.13 */
};

/* Registers with libbpf the multi-attach sections it does not know (uprobe.multi, ...), once
 * per process, before an object is opened (link/multi.c). */
void bpfpm_register_sections(void);

/* A growable text buffer. */
struct bpfpm_text {
	char *data;
	size_t len, cap;
};
void bpfpm_text_append(struct bpfpm_text *t, const char *s, size_t n);
void bpfpm_text_free(struct bpfpm_text *t);

/* Routes libbpf's log on this thread into t (warnings and info; debug is dropped) until
 * bpfpm_log_capture_end. Without a capture in progress libbpf's log is dropped. */
void bpfpm_log_capture_begin(struct bpfpm_text *t);
void bpfpm_log_capture_end(void);
/* The last line libbpf logged during the current capture ("" if none), without "libbpf: ". */
const char *bpfpm_log_last_line(const struct bpfpm_text *t, char *out, size_t size);

#endif
