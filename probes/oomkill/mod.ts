/**
 * oomkill: traces the Linux out-of-memory killer, one line per victim with the task that
 * triggered it, as BCC's tool:
 * `HH:MM:SS Triggered by PID 3297 ("ntpd"), OOM kill of PID 22516 ("perl"), 15402568 kB total-vm, loadavg: …`
 * (the victim's total-vm as the `oom:mark_victim` tracepoint gives it, in kB, where BCC's
 * kprobe prints the OOM's total pages).
 *
 * @example
 * ```sh
 * bpfpm run oomkill
 * deno run -A probes/oomkill/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import { announce, clock, eventStream, runMain } from "../_shared/cli.ts";
import { DURATION } from "../_shared/flags.ts";
import { printJsonLine } from "../_shared/json.ts";

const spec = {
  name: "oomkill",
  description: "Trace the Linux out-of-memory (OOM) killer",
  flags: {
    duration: DURATION,
  },
  examples: ["oomkill    # trace OOM kills until Ctrl-C"],
} as const;

interface Event {
  ts: bigint;
  total_vm: bigint;
  anon_rss: bigint;
  file_rss: bigint;
  tpid: number;
  vpid: number;
  tcomm: string;
  vcomm: string;
}

await runMain(spec, async ({ values: v, json }) => {
  using b = await BPF.load({
    file: new URL("./oomkill.bpf.c", import.meta.url),
  });
  announce("Tracing OOM kills");
  const events = eventStream<Event>(b, v.duration);
  for await (const e of events) {
    let loadavg = "";
    try {
      // Deno.loadavg, not /proc/loadavg: Deno lets a sandboxed package read no /proc file.
      loadavg = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
    } catch { /* not permitted: left empty */ }
    if (json) {
      printJsonLine({
        tpid: e.tpid,
        tcomm: e.tcomm,
        pid: e.vpid,
        comm: e.vcomm,
        total_vm_kib: e.total_vm,
        anon_rss_kib: e.anon_rss,
        file_rss_kib: e.file_rss,
        loadavg,
      }, e.ts);
      continue;
    }
    console.log(
      `${clock()} Triggered by PID ${e.tpid} (${
        JSON.stringify(e.tcomm)
      }), OOM kill of PID ${e.vpid} (${
        JSON.stringify(e.vcomm)
      }), ${e.total_vm} kB total-vm, loadavg: ${loadavg}`,
    );
  }
});
