/**
 * offcputime: summarizes off-CPU (blocked) time by kernel and user stack trace, for a
 * duration or until Ctrl-C, as BCC's tool; `-f` prints folded stacks for flame graphs.
 *
 * @example
 * ```sh
 * bpfpm run offcputime -- -p 185 -f 5
 * deno run -A probes/offcputime/mod.ts --json 5
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import { announce, intArg, runMain, UsageError } from "../_shared/cli.ts";
import { DELIMITED, PID } from "../_shared/flags.ts";
import {
  stackOptions,
  stackScope,
  summarizeStacks,
} from "../_shared/stacks.ts";

const spec = {
  name: "offcputime",
  description: "Summarize off-CPU time by stack trace",
  positionals: "[duration]",
  flags: {
    pid: PID,
    tid: { type: "string", short: "t", help: "trace this TID only" },
    "user-threads-only": {
      type: "boolean",
      short: "u",
      help: "user threads only (no kernel threads)",
    },
    "kernel-threads-only": {
      type: "boolean",
      short: "k",
      help: "kernel threads only (no user threads)",
    },
    "user-stacks-only": {
      type: "boolean",
      short: "U",
      help: "show stacks from user space only",
    },
    "kernel-stacks-only": {
      type: "boolean",
      short: "K",
      help: "show stacks from kernel space only",
    },
    delimited: DELIMITED,
    folded: { type: "boolean", short: "f", help: "output folded format" },
    offset: { type: "boolean", short: "s", help: "show address offsets" },
    "min-block-time": {
      type: "string",
      short: "m",
      help:
        "the amount of time in microseconds over which we store traces (default 1)",
    },
    "max-block-time": {
      type: "string",
      short: "M",
      help: "the amount of time in microseconds under which we store traces",
    },
    state: {
      type: "string",
      help:
        "filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE, 0 == running) see include/linux/sched.h",
    },
  },
  examples: [
    "offcputime             # trace off-CPU stack time until Ctrl-C",
    "offcputime 5           # trace for 5 seconds only",
    "offcputime -f 5        # 5 seconds, and output in folded format",
    "offcputime -s 5        # 5 seconds, and show symbol offsets",
    "offcputime -m 1000     # trace only events that last more than 1000 usec",
    "offcputime -p 185      # only trace threads for PID 185",
    "offcputime -u          # only trace user threads (no kernel)",
    "offcputime --state 2   # only threads blocked uninterruptibly (D state)",
  ],
} as const;

await runMain(spec, async ({ values: v, positionals, json }) => {
  if (v["user-threads-only"] && v["kernel-threads-only"]) {
    throw new UsageError("-u and -k exclude each other");
  }
  const stacks = {
    ...stackOptions(v, json),
    value: { key: "off_cpu", unit: "microseconds" as const },
  };
  const duration = intArg(positionals[0], "duration", { min: 1 });
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./offcputime.bpf.c", import.meta.url),
    constants: {
      targ_tgid: intArg(v.pid, "-p PID") ?? 0,
      targ_pid: intArg(v.tid, "-t TID") ?? 0,
      user_threads_only: v["user-threads-only"] === true,
      kernel_threads_only: v["kernel-threads-only"] === true,
      min_us: intArg(v["min-block-time"], "-m") ?? 1,
      max_us: intArg(v["max-block-time"], "-M") ?? 2n ** 64n - 1n,
      targ_state: intArg(v.state, "--state") ?? -1,
    },
  });
  announce(
    `Tracing off-CPU time (us) ${stackScope(v.pid, stacks, duration)}`,
  );
  await summarizeStacks(b, duration, stacks);
});
