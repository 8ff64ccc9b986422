/* BCC compatibility: <net/inet_timewait_sock.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
