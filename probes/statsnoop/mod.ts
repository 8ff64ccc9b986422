/**
 * statsnoop: traces stat-family syscalls (stat, lstat, fstatat, statx, statfs), one line
 * each, as BCC's tool: `PID COMM RET ERR PATH`.
 *
 * @example
 * ```sh
 * bpfpm run statsnoop -- -x
 * deno run -A probes/statsnoop/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  type Column,
  eventStream,
  intArg,
  runMain,
  sinceFirst,
  Table,
  timestampColumn,
} from "../_shared/cli.ts";
import { DURATION, PID } from "../_shared/flags.ts";

const spec = {
  name: "statsnoop",
  description: "Trace stat() syscalls",
  flags: {
    timestamp: {
      type: "boolean",
      short: "t",
      help: "include a timestamp column (seconds)",
    },
    failed: { type: "boolean", short: "x", help: "only show failed stats" },
    sys: { type: "boolean", short: "s", help: "show syscall name" },
    pid: PID,
    duration: DURATION,
  },
  examples: [
    "statsnoop           # trace all stat() syscalls",
    "statsnoop -t        # include timestamps",
    "statsnoop -x        # only show failed stats",
    "statsnoop -s        # show the syscall's name",
    "statsnoop -p 181    # only trace PID 181",
  ],
} as const;

interface Event {
  ts: bigint;
  pid: number;
  ret: number;
  call: string;
  comm: string;
  pathname: string;
}

/** One output row. */
interface Row {
  /** Seconds since the first event (-t only). */
  ts?: number;
  pid: number;
  comm: string;
  call: string;
  ret: number;
  err: number;
  path: string;
}

await runMain(spec, async ({ values: v, json }) => {
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./statsnoop.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      failed_only: v.failed === true,
    },
  });
  const columns: Column<Row>[] = [];
  if (v.timestamp) columns.push(timestampColumn(12, 6));
  columns.push(
    { header: "PID", key: "pid", width: 7 },
    { header: "COMM", key: "comm", width: 16 },
    { header: "RET", key: "ret", width: 4, right: true },
    { header: "ERR", key: "err", width: 3, right: true },
  );
  if (v.sys) columns.push({ header: "SYSCALL", key: "call", width: 9 });
  columns.push({ header: "PATH", key: "path" });
  const table = new Table<Row>(columns, json);
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  const elapsed = sinceFirst();
  for await (const e of events) {
    table.row({
      ts: v.timestamp ? elapsed(e.ts) : undefined,
      pid: e.pid,
      comm: e.comm,
      call: e.call,
      ret: e.ret >= 0 ? e.ret : -1,
      err: e.ret >= 0 ? 0 : -e.ret,
      path: e.pathname,
    }, e.ts);
  }
});
