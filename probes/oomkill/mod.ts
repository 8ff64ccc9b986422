/**
 * oomkill: traces the Linux out-of-memory killer, one line per victim with the task that
 * triggered it, as BCC's tool:
 * `HH:MM:SS Triggered by PID 3297 ("ntpd"), OOM kill of PID 22516 ("perl"), 3850642 pages, loadavg: …`.
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
import {
  announce,
  clock,
  configure,
  eventStream,
  runMain,
} from "../_shared/cli.ts";
import { DURATION } from "../_shared/flags.ts";

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

/** One output row. */
interface Row {
  time: string;
  tpid: number;
  tcomm: string;
  pid: number;
  comm: string;
  pages: number;
  anon_rss_kb: number;
  file_rss_kb: number;
  loadavg: string;
}

await runMain(spec, async ({ values: v, json }) => {
  using b = await BPF.load({
    file: new URL("./oomkill.bpf.c", import.meta.url),
  });
  configure(b, {});
  announce("Tracing OOM kills");
  const events = eventStream<Event>(b, v.duration);
  for await (const e of events) {
    let loadavg = "";
    try {
      // Deno.loadavg, not /proc/loadavg: Deno lets a sandboxed package read no /proc file.
      loadavg = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
    } catch { /* not permitted: left empty */ }
    const row: Row = {
      time: clock(),
      tpid: e.tpid,
      tcomm: e.tcomm,
      pid: e.vpid,
      comm: e.vcomm,
      pages: Number(e.total_vm),
      anon_rss_kb: Number(e.anon_rss),
      file_rss_kb: Number(e.file_rss),
      loadavg,
    };
    console.log(
      json
        ? JSON.stringify(row)
        : `${row.time} Triggered by PID ${row.tpid} (${
          JSON.stringify(row.tcomm)
        }), OOM kill of PID ${row.pid} (${
          JSON.stringify(row.comm)
        }), ${row.pages} pages, loadavg: ${row.loadavg}`,
    );
  }
});
