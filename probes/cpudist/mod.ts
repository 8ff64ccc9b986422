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
import { announce, runMain } from "../_shared/cli.ts";
import { EXTENSION } from "../_shared/flags.ts";
import {
  printHists,
  SCHED_HIST_FLAGS,
  schedHistArgs,
  type SlotHist,
  summarizeHists,
} from "../_shared/hist.ts";

const spec = {
  name: "cpudist",
  description: "Summarize on-CPU time per task as a histogram",
  positionals: "[interval [count]]",
  flags: {
    ...SCHED_HIST_FLAGS,
    offcpu: {
      type: "boolean",
      short: "O",
      help: "measure off-CPU time instead of on-CPU time",
    },
    extension: EXTENSION,
  },
  examples: [
    "cpudist            # summarize until Ctrl-C",
    "cpudist 1 10       # print 1 second summaries, 10 times",
    "cpudist -mT 1      # 1s summaries, milliseconds, and timestamps",
    "cpudist -P         # show each PID separately",
    "cpudist -p 185     # trace PID 185 only",
    "cpudist -e         # with the average, total and count of each histogram",
  ],
} as const;

await runMain(spec, async ({ values: v, positionals, json }) => {
  const h = schedHistArgs(v, positionals);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./cpudist.bpf.c", import.meta.url),
    constants: { ...h.config, offcpu: v.offcpu === true },
  });
  announce(`Tracing ${v.offcpu ? "off" : "on"}-CPU time`);
  await summarizeHists(
    b.map<number, SlotHist>("hists"),
    { ...h, json },
    (entries) =>
      printHists(entries, { ...h, json, extension: v.extension === true }),
  );
});
