/**
 * tcplife: one line per TCP session when it closes, with its process, addresses, bytes and
 * duration, as BCC's tool: `PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS`.
 *
 * @example
 * ```sh
 * bpfpm run tcplife -- -T -L 80
 * deno run -A probes/tcplife/mod.ts --json
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
} from "../_shared/cli.ts";
import {
  CSV,
  DURATION,
  IPV4,
  IPV6,
  LOCAL_PORTS,
  PID,
  REMOTE_PORTS,
  TCP_TIME,
  TCP_TIMESTAMP,
  WIDE,
} from "../_shared/flags.ts";
import {
  endpointColumns,
  endpoints,
  familyFilter,
  portList,
} from "../_shared/net.ts";

const spec = {
  name: "tcplife",
  description: "Trace the lifespan of TCP sessions and summarize",
  flags: {
    time: TCP_TIME,
    timestamp: TCP_TIMESTAMP,
    wide: WIDE,
    csv: CSV,
    pid: PID,
    localport: LOCAL_PORTS,
    remoteport: REMOTE_PORTS,
    port: {
      type: "string",
      short: "P",
      help: "same as -D (tcpconnect's spelling)",
    },
    ipv4: IPV4,
    ipv6: IPV6,
    duration: DURATION,
  },
  examples: [
    "tcplife           # trace all TCP connect()s",
    "tcplife -T        # include time column (HH:MM:SS)",
    "tcplife -w        # wider columns (fit IPv6)",
    "tcplife -p 181    # only trace PID 181",
    "tcplife -L 80     # only trace local port 80",
    "tcplife -L 80,81  # only trace local ports 80 and 81",
    "tcplife -D 80     # only trace remote port 80",
  ],
} as const;

interface Event {
  ts: bigint;
  span_ns: bigint;
  rx_bytes: bigint;
  tx_bytes: bigint;
  pid: number;
  family: number;
  lport: number;
  rport: number;
  saddr: Uint8Array;
  daddr: Uint8Array;
  comm: string;
}

/** One output row. */
interface Row {
  time: string;
  /** Seconds since the first session (-t only). */
  ts?: number;
  pid: number;
  comm: string;
  ip: 4 | 6;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  tx_bytes: bigint;
  rx_bytes: bigint;
  tx_kb: number;
  rx_kb: number;
  ms: number;
}

await runMain(spec, async ({ values: v, json }) => {
  const family = familyFilter(v);
  const lports = portList(v.localport, "-L");
  const rports = portList(v.remoteport ?? v.port, "-D");
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./tcplife.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      only_ipv4: family === 2,
      only_ipv6: family === 10,
    },
  });
  const wide = v.wide === true;
  const columns: Column<Row>[] = [];
  if (v.time) columns.push({ header: "TIME", key: "time", width: 8 });
  if (v.timestamp) columns.push(timestampColumn(9, 3));
  const addrWidth = wide ? 26 : 15;
  columns.push(
    { header: "PID", key: "pid", width: wide ? 7 : 5 },
    {
      header: "COMM",
      key: "comm",
      width: wide ? 12 : 10,
      format: (c) => String(c).slice(0, wide ? 12 : 10),
    },
  );
  columns.push(
    ...endpointColumns<Row>(addrWidth, wide || v.csv === true),
    // JSON has the exact tx_bytes and rx_bytes instead.
    {
      header: "TX_KB",
      key: "tx_kb",
      width: wide ? 6 : 5,
      right: true,
      json: false,
    },
    {
      header: "RX_KB",
      key: "rx_kb",
      width: wide ? 6 : 5,
      right: true,
      json: false,
    },
    {
      header: "MS",
      key: "ms",
      jsonKey: "duration",
      unit: "milliseconds",
      format: (ms) => (ms as number).toFixed(2),
    },
  );
  const table = new Table<Row>(columns, json, { csv: v.csv === true });
  table.header();
  announce("Tracing TCP sessions");
  const events = eventStream<Event>(b, v.duration);
  const elapsed = sinceFirst();
  for await (const e of events) {
    if (lports && !lports.has(e.lport)) continue;
    if (rports && !rports.has(e.rport)) continue;
    table.row({
      time: clock(),
      ts: v.timestamp ? elapsed(e.ts) : undefined,
      pid: e.pid,
      comm: e.comm,
      ...endpoints(
        e.family,
        { addr: e.saddr, port: e.lport },
        { addr: e.daddr, port: e.rport },
      ),
      tx_bytes: e.tx_bytes,
      rx_bytes: e.rx_bytes,
      tx_kb: Number(e.tx_bytes / 1024n),
      rx_kb: Number(e.rx_bytes / 1024n),
      ms: Number(e.span_ns) / 1e6,
    }, e.ts);
  }
});
