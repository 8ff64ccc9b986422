/**
 * killsnoop: traces signals sent with kill(), tkill() and tgkill(), one line each, as BCC's
 * tool: `TIME PID COMM SIG TPID RESULT`.
 *
 * @example
 * ```sh
 * bpfpm run killsnoop -- -x
 * deno run -A probes/killsnoop/mod.ts --json
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
import { DURATION } from "../_shared/flags.ts";

const spec = {
  name: "killsnoop",
  description: "Trace signals issued by the kill() syscall",
  flags: {
    failed: {
      type: "boolean",
      short: "x",
      help: "only show failed kill syscalls",
    },
    pid: {
      type: "string",
      short: "p",
      help: "trace this PID only (the sender)",
    },
    signal: {
      type: "string",
      short: "s",
      help: "trace this signal only (a number)",
    },
    tpid: {
      type: "string",
      short: "T",
      help: "trace this target PID only",
    },
    duration: DURATION,
  },
  examples: [
    "killsnoop           # trace all kill() signals",
    "killsnoop -x        # only show failed kills",
    "killsnoop -p 181    # only trace PID 181",
    "killsnoop -s 9      # only trace signal 9",
    "killsnoop -T 181    # only trace signals sent to PID 181",
  ],
} as const;

interface Event {
  ts: bigint;
  pid: number;
  tpid: number;
  sig: number;
  ret: number;
  call: string;
  comm: string;
}

/** One output row. */
interface Row {
  time: string;
  pid: number;
  comm: string;
  call: string;
  sig: number;
  tpid: number;
  result: number;
}

await runMain(spec, async ({ values: v, json }) => {
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./killsnoop.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      targ_sig: intArg(v.signal, "-s SIGNAL", { min: 1 }) ?? 0,
      failed_only: v.failed === true,
      targ_tpid: intArg(v.tpid, "-T TPID", { min: 1 }) ?? 0,
    },
  });
  const columns: Column<Row>[] = [
    { header: "TIME", key: "time", width: 9 },
    { header: "PID", key: "pid", width: 7 },
    { header: "COMM", key: "comm", width: 16 },
    { header: "SIG", key: "sig", width: 4, right: true },
    { header: "TPID", key: "tpid", width: 7, right: true },
    { header: "RESULT", key: "result", right: true },
  ];
  const table = new Table<Row>(columns, json);
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  for await (const e of events) {
    table.row({
      time: clock(),
      pid: e.pid,
      comm: e.comm,
      call: e.call,
      sig: e.sig,
      tpid: e.tpid,
      result: e.ret,
    }, e.ts);
  }
});
