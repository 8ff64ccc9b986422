/**
 * runqlat: summarizes run queue (scheduler) latency, the time tasks wait to run after becoming runnable, as log2 histograms every interval or at Ctrl-C, as BCC's tool.
 *
 * @example
 * ```sh
 * bpfpm run runqlat -- -P 1 5
 * deno run -A probes/runqlat/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  configure,
  intArg,
  parseCli,
  runMain,
  summaryLoop,
  UsageError,
} from "../_shared/cli.ts";
import {
  HIST_TIMESTAMP,
  MILLISECONDS,
  PER_PROCESS,
  PER_THREAD,
  PID,
} from "../_shared/flags.ts";
import { printHists, type SlotHist } from "../_shared/hist.ts";

const spec = {
  name: "runqlat",
  description: "Summarize run queue (scheduler) latency as a histogram",
  positionals: "[interval [count]]",
  flags: {
    timestamp: HIST_TIMESTAMP,
    milliseconds: MILLISECONDS,
    pids: PER_PROCESS,
    tids: PER_THREAD,
    pid: PID,
  },
  examples: [
    "runqlat            # summarize until Ctrl-C",
    "runqlat 1 10       # print 1 second summaries, 10 times",
    "runqlat -mT 1      # 1s summaries, milliseconds, and timestamps",
    "runqlat -P         # show each PID separately",
    "runqlat -p 185     # trace PID 185 only",
  ],
} as const;

await runMain(spec, async () => {
  const { values: v, positionals, json } = parseCli(Deno.args, spec);
  if (v.pids && v.tids) throw new UsageError("-P and -L exclude each other");
  const interval = intArg(positionals[0], "interval", { min: 1 });
  const count = intArg(positionals[1], "count", { min: 1 });
  const valType = v.milliseconds ? "msecs" : "usecs";
  using b = await BPF.load({
    file: new URL("./runqlat.bpf.c", import.meta.url),
  });
  configure(b, {
    targ_tgid: intArg(v.pid, "-p PID") ?? 0,
    per_process: v.pids ? 1 : 0,
    per_thread: v.tids ? 1 : 0,
    ms: v.milliseconds ? 1 : 0,
  });
  const hists = b.map<number, SlotHist>("hists");
  announce(`Tracing run queue latency`);
  await summaryLoop({ interval, count }, () => {
    const entries = hists.dump();
    hists.clear();
    if (!json) {
      console.log();
      if (v.timestamp) console.log(new Date().toTimeString().slice(0, 8));
    }
    printHists(entries, {
      valType,
      json,
      section: v.pids ? "pid" : v.tids ? "tid" : undefined,
    });
  });
});
