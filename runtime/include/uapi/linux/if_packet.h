/* BCC compatibility: <uapi/linux/if_packet.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
