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
import { announce, runMain } from "../_shared/cli.ts";
import {
  printHists,
  SCHED_HIST_FLAGS,
  schedHistArgs,
  type SlotHist,
  summarizeHists,
} from "../_shared/hist.ts";

const spec = {
  name: "runqlat",
  description: "Summarize run queue (scheduler) latency as a histogram",
  positionals: "[interval [count]]",
  flags: {
    ...SCHED_HIST_FLAGS,
  },
  examples: [
    "runqlat            # summarize until Ctrl-C",
    "runqlat 1 10       # print 1 second summaries, 10 times",
    "runqlat -mT 1      # 1s summaries, milliseconds, and timestamps",
    "runqlat -P         # show each PID separately",
    "runqlat -p 185     # trace PID 185 only",
  ],
} as const;

await runMain(spec, async ({ values: v, positionals, json }) => {
  const h = schedHistArgs(v, positionals);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./runqlat.bpf.c", import.meta.url),
    constants: h.config,
  });
  announce(`Tracing run queue latency`);
  await summarizeHists(
    b.map<number, SlotHist>("hists"),
    { ...h, json },
    (entries) => printHists(entries, { ...h, json }),
  );
});
