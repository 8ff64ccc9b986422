/**
 * profile: samples stack traces at a timed interval (49 Hz by default) on every CPU and
 * summarizes them by kernel and user stack, for a duration or until Ctrl-C, as BCC's tool;
 * `-f` prints folded stacks for flame graphs.
 *
 * @example
 * ```sh
 * bpfpm run profile -- -F 99 -f 10
 * deno run -A probes/profile/mod.ts --json -p 185 5
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import { announce, intArg, runMain, UsageError } from "../_shared/cli.ts";
import { DELIMITED } from "../_shared/flags.ts";
import { CONTAINER_FLAGS, containerFilter } from "../_shared/container.ts";
import {
  stackOptions,
  stackScope,
  summarizeStacks,
} from "../_shared/stacks.ts";

const spec = {
  name: "profile",
  description: "Profile CPU stack traces at a timed interval",
  positionals: "[duration]",
  flags: {
    pid: {
      type: "string",
      short: "p",
      help: "profile process with this PID only",
    },
    tid: {
      type: "string",
      short: "L",
      help: "profile thread with this TID only",
    },
    "user-stacks-only": {
      type: "boolean",
      short: "U",
      help: "show stacks from user space only (no kernel space stacks)",
    },
    "kernel-stacks-only": {
      type: "boolean",
      short: "K",
      help: "show stacks from kernel space only (no user space stacks)",
    },
    annotations: {
      type: "boolean",
      short: "a",
      help: "add _[k] annotations to kernel frames",
    },
    address: { type: "boolean", short: "A", help: "show raw addresses" },
    frequency: {
      type: "string",
      short: "F",
      help: "sample frequency, Hertz (default 49)",
    },
    count: {
      type: "string",
      short: "c",
      help: "sample period, number of events",
    },
    delimited: DELIMITED,
    "include-idle": {
      type: "boolean",
      short: "I",
      help: "include CPU idle stacks",
    },
    folded: {
      type: "boolean",
      short: "f",
      help: "output folded format, one line per stack (for flame graphs)",
    },
    cpu: { type: "string", short: "C", help: "cpu number to run profile on" },
    ...CONTAINER_FLAGS,
  },
  examples: [
    "profile             # profile stack traces at 49 Hertz until Ctrl-C",
    "profile -F 99       # profile stack traces at 99 Hertz",
    "profile -c 1000000  # profile stack traces every 1 in a million events",
    "profile 5           # profile at 49 Hertz for 5 seconds only",
    "profile -f 5        # output in folded format for flame graphs",
    "profile -p 185      # only profile process with PID 185",
    "profile -U          # only show user space stacks (no kernel)",
    "profile -K          # only show kernel space stacks (no user)",
    "profile -A          # each frame's raw address before its symbol",
    "profile --cgroupmap /sys/fs/bpf/test01  # only profile cgroups in this BPF map",
    "profile --mntnsmap /sys/fs/bpf/mnt_ns_set  # only profile mount namespaces in this map",
  ],
} as const;

await runMain(spec, async ({ values: v, positionals, json }) => {
  const stacks = { ...stackOptions(v, json), value: { key: "samples" } };
  if (v.frequency !== undefined && v.count !== undefined) {
    throw new UsageError("-F and -c exclude each other");
  }
  const duration = intArg(positionals[0], "duration", { min: 1 });
  const frequency = intArg(v.frequency, "-F FREQUENCY", { min: 1 });
  const period = intArg(v.count, "-c COUNT", { min: 1 });
  const cpu = intArg(v.cpu, "-C CPU");
  const container = containerFilter(v);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./profile.bpf.c", import.meta.url),
    constants: {
      targ_tgid: intArg(v.pid, "-p PID") ?? 0,
      targ_pid: intArg(v.tid, "-L TID") ?? 0,
      include_idle: v["include-idle"] === true,
      user_only: stacks.userOnly === true,
      kernel_only: stacks.kernelOnly === true,
      ...container.constants,
    },
    reuseMaps: container.reuseMaps,
  });
  b.attachPerfEvent("do_perf_event", {
    event: "cpu-clock",
    ...(period !== undefined ? { period } : { frequency: frequency ?? 49 }),
    ...(cpu !== undefined ? { cpu } : {}),
  });
  announce(
    `Sampling at ${
      period !== undefined
        ? `every ${period} events`
        : `${frequency ?? 49} Hertz`
    } ${stackScope(v.pid, stacks, duration)}`,
  );
  await summarizeStacks(b, duration, stacks);
});
