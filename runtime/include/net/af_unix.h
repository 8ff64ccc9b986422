/* BCC compatibility: <net/af_unix.h> is the BTF-generated vmlinux.h plus the constants BTF lacks. */
#include "bcc/compat.h"
