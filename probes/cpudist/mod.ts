/**
 * cpudist: summarizes how long tasks run on a CPU each time they are scheduled (or with -O stay off it), as log2 histograms every interval or at Ctrl-C, as BCC's tool.
 *
 * @example
 * ```sh
 * bpfpm run cpudist -- -P 1 5
 * deno run -A probes/cpudist/mod.ts --json
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
  name: "cpudist",
  description: "Summarize on-CPU time per task as a histogram",
  positionals: "[interval [count]]",
  flags: {
    timestamp: HIST_TIMESTAMP,
    milliseconds: MILLISECONDS,
    pids: PER_PROCESS,
    tids: PER_THREAD,
    pid: PID,
    offcpu: {
      type: "boolean",
      short: "O",
      help: "measure off-CPU time instead of on-CPU time",
    },
  },
  examples: [
    "cpudist            # summarize until Ctrl-C",
    "cpudist 1 10       # print 1 second summaries, 10 times",
    "cpudist -mT 1      # 1s summaries, milliseconds, and timestamps",
    "cpudist -P         # show each PID separately",
    "cpudist -p 185     # trace PID 185 only",
  ],
} as const;

await runMain(spec, async () => {
  const { values: v, positionals, json } = parseCli(Deno.args, spec);
  if (v.pids && v.tids) throw new UsageError("-P and -L exclude each other");
  const interval = intArg(positionals[0], "interval", { min: 1 });
  const count = intArg(positionals[1], "count", { min: 1 });
  const valType = v.milliseconds ? "msecs" : "usecs";
  using b = await BPF.load({
    file: new URL("./cpudist.bpf.c", import.meta.url),
  });
  configure(b, {
    targ_tgid: intArg(v.pid, "-p PID") ?? 0,
    per_process: v.pids ? 1 : 0,
    per_thread: v.tids ? 1 : 0,
    ms: v.milliseconds ? 1 : 0,
    offcpu: v.offcpu ? 1 : 0,
  });
  const hists = b.map<number, SlotHist>("hists");
  announce(`Tracing ${v.offcpu ? "off" : "on"}-CPU time`);
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
