/**
 * exitsnoop: traces process exits, one line each with its age and exit status, as BCC's
 * tool: `PCOMM PID PPID TID AGE(s) EXIT_CODE`.
 *
 * @example
 * ```sh
 * bpfpm run exitsnoop -- -x
 * deno run -A probes/exitsnoop/mod.ts --json
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
  Table,
} from "../_shared/cli.ts";
import { DURATION, PID } from "../_shared/flags.ts";

const spec = {
  name: "exitsnoop",
  description: "Trace all process termination (exit, fatal signal)",
  flags: {
    timestamp: {
      type: "boolean",
      short: "t",
      help: "include a timestamp (local time)",
    },
    utc: { type: "boolean", help: "include a timestamp in UTC" },
    failed: { type: "boolean", short: "x", help: "trace error exits only" },
    pid: PID,
    "per-thread": { type: "boolean", help: "trace per thread termination" },
    duration: DURATION,
  },
  examples: [
    "exitsnoop                # trace all process termination",
    "exitsnoop -x             # trace only fails, exclude exit(0)",
    "exitsnoop -t             # include timestamps (local time)",
    "exitsnoop -p 181         # only trace PID 181",
    "exitsnoop --per-thread   # trace per thread termination",
  ],
} as const;

const SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

interface Event {
  ts: bigint;
  start_time: bigint;
  exit_time: bigint;
  pid: number;
  tid: number;
  ppid: number;
  sig: number;
  exit_code: number;
  core: number;
  comm: string;
}

/** One output row. */
interface Row {
  time: string;
  comm: string;
  pid: number;
  ppid: number;
  tid: number;
  age: number;
  exit_code: number;
  /** The fatal signal's name; null after an exit(). */
  signal: string | null;
  core_dumped: boolean;
  exit: string;
}

function exitText(e: Event): string {
  if (e.sig === 0) return e.exit_code === 0 ? "0" : `code ${e.exit_code}`;
  return `signal ${e.sig} (${SIGNALS[e.sig] ?? "?"})${
    e.core ? ", core dumped" : ""
  }`;
}

await runMain(spec, async ({ values: v, json }) => {
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./exitsnoop.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      per_thread: v["per-thread"] === true,
      failed_only: v.failed === true,
    },
  });
  const columns: Column<Row>[] = [];
  if (v.timestamp || v.utc) {
    columns.push({
      header: v.utc ? "TIME-UTC" : "TIME-TZ",
      key: "time",
      width: 12,
    });
  }
  columns.push(
    { header: "PCOMM", key: "comm", width: 16 },
    { header: "PID", key: "pid", width: 7 },
    { header: "PPID", key: "ppid", width: 7 },
    { header: "TID", key: "tid", width: 7 },
    {
      header: "AGE(s)",
      key: "age",
      unit: "seconds",
      width: 7,
      format: (a) => (a as number).toFixed(2),
    },
    { header: "EXIT_CODE", key: "exit" },
  );
  const table = new Table<Row>(columns, json);
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  for await (const e of events) {
    const now = new Date();
    table.row({
      time: v.utc
        ? now.toISOString().slice(11, 23)
        : clock(now) + now.toISOString().slice(19, 23),
      comm: e.comm,
      pid: e.pid,
      ppid: e.ppid,
      tid: e.tid,
      age: Number(e.exit_time - e.start_time) / 1e9,
      exit_code: e.exit_code,
      signal: e.sig ? SIGNALS[e.sig] ?? `signal ${e.sig}` : null,
      core_dumped: e.core !== 0,
      exit: exitText(e),
    }, e.ts);
  }
});
