/**
 * bashreadline: prints the commands interactive bash shells read with readline(), system
 * wide, as BCC's tool: `TIME PID COMMAND`.
 *
 * @example
 * ```sh
 * bpfpm run bashreadline
 * deno run -A probes/bashreadline/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  clock,
  eventStream,
  runMain,
  Table,
} from "../_shared/cli.ts";
import { DURATION } from "../_shared/flags.ts";

const spec = {
  name: "bashreadline",
  description: "Print entered bash commands from all running shells",
  flags: {
    shared: {
      type: "string",
      short: "s",
      help: "the location of libreadline.so, when bash links it dynamically",
    },
    binary: {
      type: "string",
      short: "b",
      help: "the bash binary (default: bash on PATH)",
    },
    duration: DURATION,
  },
  examples: [
    "bashreadline                                   # trace every interactive bash",
    "bashreadline -s /usr/lib/libreadline.so.8      # bash built with a shared readline",
  ],
} as const;

interface Event {
  ts: bigint;
  pid: number;
  comm: string;
  str: string;
}

/** One output row. */
interface Row {
  time: string;
  pid: number;
  comm: string;
  command: string;
}

await runMain(spec, async ({ values: v, json }) => {
  const binary = (v.shared ?? v.binary ?? "bash") as string;
  using b = await BPF.load({
    file: new URL("./bashreadline.bpf.c", import.meta.url),
    autoAttach: false,
    constants: { any_comm: v.shared !== undefined },
  });
  b.attachUretprobe("printret", { binary, symbol: "readline" });
  const table = new Table<Row>([
    { header: "TIME", key: "time", width: 8 },
    { header: "PID", key: "pid", width: 7 },
    { header: "COMMAND", key: "command" },
  ], json);
  table.header();
  announce();
  const events = eventStream<Event>(b, v.duration);
  for await (const e of events) {
    table.row(
      { time: clock(), pid: e.pid, comm: e.comm, command: e.str },
      e.ts,
    );
  }
});
