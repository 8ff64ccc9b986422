/**
 * biolatency: summarizes block device I/O latency as log2 histograms, every interval or at
 * Ctrl-C, as BCC's tool (`usecs : count distribution`), per disk (`-D`) or per flags (`-F`).
 *
 * @example
 * ```sh
 * bpfpm run biolatency -- -D 1 5
 * deno run -A probes/biolatency/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF, formatLog2Hist } from "bpf";
import { announce, intArg, runMain } from "../_shared/cli.ts";
import {
  DISK,
  EXTENSION,
  HIST_TIMESTAMP,
  MILLISECONDS,
} from "../_shared/flags.ts";
import { diskDev, flagsText } from "../_shared/block.ts";
import { extension, summarizeHists, type Totals } from "../_shared/hist.ts";
import { printHistJson, unitOfValType } from "../_shared/json.ts";

const spec = {
  name: "biolatency",
  description: "Summarize block device I/O latency as a histogram",
  positionals: "[interval [count]]",
  flags: {
    timestamp: HIST_TIMESTAMP,
    queued: {
      type: "boolean",
      short: "Q",
      help: "include OS queued time in I/O time",
    },
    milliseconds: MILLISECONDS,
    disks: {
      type: "boolean",
      short: "D",
      help: "print a histogram per disk device",
    },
    flags: {
      type: "boolean",
      short: "F",
      help: "print a histogram per set of I/O flags",
    },
    disk: DISK,
    extension: EXTENSION,
  },
  examples: [
    "biolatency              # summarize block I/O latency as a histogram",
    "biolatency 1 10         # print 1 second summaries, 10 times",
    "biolatency -mT 1        # 1s summaries, milliseconds, and timestamps",
    "biolatency -Q           # include OS queued time in I/O time",
    "biolatency -D           # show each disk device separately",
    "biolatency -F           # show I/O flags separately",
    "biolatency -d 254:0     # trace one disk only (MAJ:MIN, or its name)",
    "biolatency -e           # with the average, total and count of each histogram",
  ],
} as const;

interface Key {
  dev: number;
  flags: number;
}

interface Hist extends Totals {
  slots: number[];
  disk: string;
}

await runMain(spec, async ({ values: v, positionals, json }) => {
  const interval = intArg(positionals[0], "interval", { min: 1 });
  const count = intArg(positionals[1], "count", { min: 1 });
  const valType = v.milliseconds ? "msecs" : "usecs";
  const targ = v.disk ? diskDev(v.disk as string) : 0;
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./biolatency.bpf.c", import.meta.url),
    constants: {
      queued: v.queued === true,
      ms: v.milliseconds === true,
      per_disk: v.disks === true,
      per_flag: v.flags === true,
      targ_dev: targ,
    },
  });
  const hists = b.map<Key, Hist>("hists");
  announce("Tracing block device I/O");
  const options = { interval, count, json, timestamp: v.timestamp === true };
  await summarizeHists(hists, options, (entries) => {
    entries.sort(([a], [b]) => a.dev - b.dev || a.flags - b.flags);
    for (const [key, h] of entries) {
      const section: [string, unknown] | undefined = v.disks
        ? ["disk", h.disk || `${key.dev >>> 20}:${key.dev & 0xfffff}`]
        : v.flags
        ? ["flags", flagsText(key.flags)]
        : undefined;
      const ext = v.extension ? extension(h, valType) : undefined;
      if (json) {
        printHistJson(h.slots, {
          unit: unitOfValType(valType),
          labels: section ? { [section[0]]: section[1] } : undefined,
          extension: ext,
        });
        continue;
      }
      if (section) console.log(`\n${section[0]} = ${section[1]}`);
      console.log(formatLog2Hist(h.slots, { valType }));
      if (ext) console.log(`\n${ext.line}`);
    }
  });
});
