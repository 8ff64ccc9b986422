/* Test hooks of libbpfpm.so: NOT part of the public ABI (bpfpm.h and its companions). They
 * force timings a test cannot otherwise wait for. Only tests call them, through their own
 * symbol table (testLib() in runtime/_ffi.ts); nothing in the runtime does. */
#ifndef BPFPM_TEST_H
#define BPFPM_TEST_H
#include "bpfpm_events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the reader's primary drainer sleep ms after each claim (0: not at all), the worst
 * moment for it to be descheduled, to show the watchdog takes over. No-op without a pump. */
BPFPM_API void bpfpm_test__drainer_stall(struct bpfpm_event_reader *r, int ms);

#ifdef __cplusplus
}
#endif
#endif
