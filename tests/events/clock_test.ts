/**
 * An event's `bpf_ktime_get_ns()` becomes wall-clock time by `systemClock()`: checked against
 * the wall clock read just before and after a syscall this process makes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BPF, rfc3339, systemClock } from "../../mod.ts";

const SOURCE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile u32 targ_tgid = 0;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} times SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_kill")
int on_kill(struct trace_event_raw_sys_enter *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || ctx->args[1] != 18) return 0;
  u64 now = bpf_ktime_get_ns();
  bpf_ringbuf_output(&times, &now, sizeof(now), 0);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

/** The wall clock in ns, to the microsecond (performance.now() runs on the monotonic clock). */
function wallNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

Deno.test("systemClock() turns an event's ktime into the wall-clock time it happened, within a millisecond", async () => {
  using b = await BPF.load({
    text: SOURCE,
    constants: { targ_tgid: Deno.pid },
  });
  const times = b.ringbuf("times", { type: "bytes" });
  const { bootNs } = systemClock();
  for (let i = 0; i < 5; i++) {
    const before = wallNs();
    Deno.kill(Deno.pid, "SIGCONT"); // kill(self, 18): harmless, and one syscall
    const after = wallNs();
    const [rec] = await times.read(1000);
    assert.ok(rec, "the kill(2) event arrived");
    const ktime = new DataView((rec as Uint8Array).buffer).getBigUint64(
      0,
      true,
    );
    const at = bootNs + ktime;
    const slack = 1_000_000n; // performance's wall clock and CLOCK_REALTIME may differ slightly
    assert.ok(
      at >= before - slack && at <= after + slack,
      `event at ${rfc3339(at)}, syscall between ${rfc3339(before)} and ${
        rfc3339(after)
      }`,
    );
  }
});
