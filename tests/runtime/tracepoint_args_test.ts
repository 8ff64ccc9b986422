/**
 * TRACEPOINT_PROBE's `args` is typed from the tracepoint's format file: fields read at the
 * kernel's offsets with the right sizes.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { waitGone } from "./_helpers.ts";

Deno.test("TRACEPOINT_PROBE args: sys_enter_kill's pid and sig arrive as the kill() call gave them", async () => {
  const b = await BPF.load({
    text: `
      TRACEPOINT_PROBE(syscalls, sys_enter_kill) {
        if (args->sig != 18) return 0;
        bpf_trace_printk("kill %d %d\\n", args->pid, args->sig);
        return 0;
      }`,
  });
  const ids = [...b.programs.values()].map((p) => p.id);
  try {
    const expected = `kill ${Deno.pid} 18`;
    const sender = setInterval(() => Deno.kill(Deno.pid, "SIGCONT"), 50);
    const deadline = setTimeout(() => b.close(), 10_000);
    let seen: string | undefined;
    try {
      for await (const f of b.traceFields()) {
        if (f.msg === expected) {
          seen = f.msg;
          break;
        }
      }
    } finally {
      clearInterval(sender);
      clearTimeout(deadline);
    }
    assert.equal(seen, expected);
  } finally {
    b.close();
  }
  assert.deepEqual(await waitGone(ids), []);
});
