/**
 * execsnoop: traces new processes (execve and execveat), one line each, as BCC's tool:
 * `PCOMM PID PPID RET ARGS`.
 *
 * @example
 * ```sh
 * bpfpm run execsnoop -- -T -x
 * deno run -A probes/execsnoop/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  clock,
  type Column,
  eventStream,
  intArg,
  runMain,
  sinceFirst,
  Table,
  timestampColumn,
  uidFilter,
  UsageError,
} from "../_shared/cli.ts";
import { DURATION, PID, PRINT_UID, UID } from "../_shared/flags.ts";
import { CONTAINER_FLAGS, containerFilter } from "../_shared/container.ts";

const spec = {
  name: "execsnoop",
  description: "Trace exec() syscalls",
  flags: {
    time: {
      type: "boolean",
      short: "T",
      help: "include a time column (HH:MM:SS)",
    },
    timestamp: {
      type: "boolean",
      short: "t",
      help: "include a timestamp column (seconds)",
    },
    fails: { type: "boolean", short: "x", help: "include failed exec()s" },
    pid: PID,
    ppid: { type: "string", short: "P", help: "trace this parent PID only" },
    uid: UID,
    "print-uid": PRINT_UID,
    "print-cpu": { type: "boolean", short: "C", help: "print CPU column" },
    "print-pcomm": {
      type: "boolean",
      short: "M",
      help: "print parent command",
    },
    quote: {
      type: "boolean",
      short: "q",
      help: 'add "quotemarks" around arguments',
    },
    name: {
      type: "string",
      short: "n",
      help: "only print commands matching this name (regex)",
    },
    line: {
      type: "string",
      short: "l",
      help: "only print commands whose line matches this (regex)",
    },
    "max-args": {
      type: "string",
      help: "maximum number of arguments parsed and displayed, default 20",
    },
    ...CONTAINER_FLAGS,
    duration: DURATION,
  },
  examples: [
    "execsnoop            # trace all exec() syscalls",
    "execsnoop -x         # include failed exec()s",
    "execsnoop -T         # include time (HH:MM:SS)",
    "execsnoop -P 181     # only trace new processes whose parent PID is 181",
    "execsnoop -C -M      # include the CPU and the parent's command",
    "execsnoop --cgroupmap /sys/fs/bpf/test01  # only trace cgroups in this BPF map",
    "execsnoop --mntnsmap /sys/fs/bpf/mnt_ns_set  # only trace mount namespaces in this map",
    "execsnoop --json     # one JSON object per line",
  ],
} as const;

interface Event {
  ts: bigint;
  pid: number;
  ppid: number;
  uid: number;
  retval: number;
  args_count: number;
  truncated: number;
  cpu: number;
  comm: string;
  pcomm: string;
  args: string[];
}

/** One output row. */
interface Row {
  time: string;
  /** -t: seconds since the first event (`ts_s` in JSON). */
  ts?: number;
  uid: number;
  comm: string;
  pid: number;
  pcomm: string;
  ppid: number;
  cpu: number;
  ret: number;
  args: string[];
}

await runMain(spec, async ({ values: v, json }) => {
  const maxArgs = intArg(v["max-args"], "--max-args", { min: 1 }) ?? 20;
  if (maxArgs > 20) throw new UsageError("--max-args must be at most 20");
  const name = v.name ? new RegExp(v.name as string) : undefined;
  const line = v.line ? new RegExp(v.line as string) : undefined;
  const uid = uidFilter(v.uid);
  const container = containerFilter(v);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./execsnoop.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      targ_ppid: intArg(v.ppid, "-P PPID") ?? 0,
      ...uid,
      include_failed: v.fails === true,
      max_args: maxArgs,
      ...container.constants,
    },
    reuseMaps: container.reuseMaps,
  });
  const columns: Column<Row>[] = [];
  if (v.time) {
    columns.push({ header: "TIME", key: "time", width: 8, json: false });
  }
  if (v.timestamp) columns.push(timestampColumn(8, 3));
  if (v["print-uid"]) columns.push({ header: "UID", key: "uid", width: 6 });
  columns.push(
    { header: "PCOMM", key: "comm", width: 16 },
    { header: "PID", key: "pid", width: 7 },
  );
  // BCC's -M names the parent's command PCOMM too, after PID.
  if (v["print-pcomm"]) {
    columns.push({ header: "PCOMM", key: "pcomm", width: 16 });
  }
  columns.push({ header: "PPID", key: "ppid", width: 7 });
  if (v["print-cpu"]) columns.push({ header: "CPU", key: "cpu", width: 4 });
  columns.push(
    { header: "RET", key: "ret", width: 3, right: true },
    {
      header: "ARGS",
      key: "args",
      format: (a, row) => argsText(a as string[], v.quote === true, row),
    },
  );
  const table = new Table<Row>(columns, json);
  const truncated = new WeakSet<Row>();
  function argsText(args: string[], quote: boolean, row: Row): string {
    const shown = quote
      ? args.map((a) => `"${a.replaceAll('"', '\\"')}"`)
      : args;
    return shown.join(" ") + (truncated.has(row) ? " ..." : "");
  }
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  const elapsed = sinceFirst();
  for await (const e of events) {
    const row: Row = {
      time: clock(),
      ...(v.timestamp ? { ts: elapsed(e.ts) } : {}),
      uid: e.uid,
      comm: e.comm,
      pid: e.pid,
      pcomm: e.pcomm,
      ppid: e.ppid,
      cpu: e.cpu,
      ret: e.retval,
      args: e.args.slice(0, e.args_count),
    };
    if (e.truncated) truncated.add(row);
    if (name && !name.test(row.comm)) continue;
    if (line && !line.test(row.args.join(" "))) continue;
    table.row(row, e.ts);
  }
});
