/* BCC compatibility: <linux/version.h>. The BCC rewriter defines LINUX_VERSION_CODE from the
 * running kernel; a compile without it gets 0. */
#ifndef BPFPM_LINUX_VERSION_H
#define BPFPM_LINUX_VERSION_H
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#ifndef LINUX_VERSION_CODE
#define LINUX_VERSION_CODE 0
#endif
#endif
