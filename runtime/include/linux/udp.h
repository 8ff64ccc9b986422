/* BCC compatibility: <linux/udp.h> is the BTF-generated vmlinux.h plus the constants BTF lacks,
 * and the kernel's socket member aliases (sk->sk_family, inet->inet_dport, ...). */
#include "bcc/compat.h"
#include "bcc/sock_aliases.h"
