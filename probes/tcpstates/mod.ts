/**
 * tcpstates: traces TCP session state changes, one line per change with the time spent in
 * the old state, as BCC's tool:
 * `SKADDR C-PID C-COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS`.
 *
 * @example
 * ```sh
 * bpfpm run tcpstates -- -L 80
 * deno run -A probes/tcpstates/mod.ts --json
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
  name: "tcpstates",
  description: "Trace TCP session state changes and durations",
  flags: {
    time: TCP_TIME,
    timestamp: TCP_TIMESTAMP,
    wide: WIDE,
    csv: CSV,
    localport: LOCAL_PORTS,
    remoteport: REMOTE_PORTS,
    ipv4: IPV4,
    ipv6: IPV6,
    journal: {
      type: "boolean",
      short: "Y",
      help: "log session state changes to the systemd journal",
    },
    duration: DURATION,
  },
  examples: [
    "tcpstates           # trace all TCP state changes",
    "tcpstates -t        # include timestamp column",
    "tcpstates -T        # include time column (HH:MM:SS)",
    "tcpstates -w        # wider columns (fit IPv6)",
    "tcpstates -Y        # log events to the systemd journal",
    "tcpstates -L 80     # only trace local port 80",
    "tcpstates -D 80     # only trace remote port 80",
  ],
} as const;

const STATES = [
  "",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
];

interface Event {
  ts: bigint;
  skaddr: bigint;
  delta_us: bigint;
  pid: number;
  oldstate: number;
  newstate: number;
  family: number;
  sport: number;
  dport: number;
  saddr: Uint8Array;
  daddr: Uint8Array;
  comm: string;
}

/** One output row. */
/** journald's stream socket: each line written after the header is one entry. */
const JOURNAL_STREAM = "/run/systemd/journal/stdout";

/**
 * -Y: a connection to the journal that logs lines as `tcpstates` at priority 5 (notice),
 * as BCC's -Y does. BCC sends structured OBJECT_* fields with journal.send (the native
 * datagram protocol, which Deno cannot speak without --unstable-net); here the fields
 * are in the message only, in BCC's words: `COMM SADDR SPORT → DADDR DPORT OLD → NEW`.
 */
async function openJournal(): Promise<(line: string) => Promise<void>> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: JOURNAL_STREAM });
  } catch (e) {
    throw new Error(
      `-Y: cannot reach the journal at ${JOURNAL_STREAM} (${
        (e as Error).message
      }): is systemd-journald running?`,
    );
  }
  const enc = new TextEncoder();
  const write = async (text: string) => {
    const bytes = enc.encode(text);
    for (let n = 0; n < bytes.length;) {
      n += await conn.write(bytes.subarray(n));
    }
  };
  // identifier, unit id, priority, level prefix, forward to syslog, kmsg, console.
  await write("tcpstates\n\n5\n0\n0\n0\n0\n");
  return (line) => write(line.replaceAll("\n", " ") + "\n");
}

interface Row {
  time: string;
  /** With -t: seconds since the first event. */
  ts?: number;
  skaddr: string;
  pid: number;
  comm: string;
  ip: 4 | 6;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  oldstate: string;
  newstate: string;
  ms: number;
}

await runMain(spec, async ({ values: v, json }) => {
  const family = familyFilter(v);
  const lports = portList(v.localport, "-L");
  const rports = portList(v.remoteport, "-D");
  using b = await BPF.load({
    file: new URL("./tcpstates.bpf.c", import.meta.url),
    constants: { targ_family: family },
  });
  const wide = v.wide === true;
  const addrWidth = wide ? 39 : 15;
  const columns: Column<Row>[] = [];
  if (v.time) {
    columns.push({ header: "TIME", key: "time", width: 8, json: false });
  }
  if (v.timestamp) columns.push(timestampColumn(9, 6));
  columns.push(
    { header: "SKADDR", key: "skaddr", width: 16 },
    { header: "C-PID", key: "pid", width: 7 },
    {
      header: "C-COMM",
      key: "comm",
      width: 10,
      format: (c) => String(c).slice(0, 10),
    },
  );
  columns.push(
    ...endpointColumns<Row>(addrWidth, wide || v.csv === true),
    { header: "OLDSTATE", key: "oldstate", width: 11 },
    {
      header: "->",
      key: "newstate",
      width: 14,
      format: (s) => `-> ${s}`,
      csvHeader: "NEWSTATE",
      csvFormat: String,
    },
    {
      header: "MS",
      key: "ms",
      jsonKey: "delta",
      unit: "milliseconds",
      format: (ms) => (ms as number).toFixed(3),
    },
  );
  const table = new Table<Row>(columns, json, { csv: v.csv === true });
  const journal = v.journal ? await openJournal() : undefined;
  table.header();
  announce();
  const events = eventStream<Event>(b, v.duration);
  const elapsed = sinceFirst();
  for await (const e of events) {
    if (lports && !lports.has(e.sport)) continue;
    if (rports && !rports.has(e.dport)) continue;
    const row: Row = {
      time: clock(),
      ...(v.timestamp ? { ts: elapsed(e.ts) } : {}),
      skaddr: e.skaddr.toString(16),
      pid: e.pid,
      comm: e.comm,
      ...endpoints(
        e.family,
        { addr: e.saddr, port: e.sport },
        { addr: e.daddr, port: e.dport },
      ),
      oldstate: STATES[e.oldstate] ?? String(e.oldstate),
      newstate: STATES[e.newstate] ?? String(e.newstate),
      ms: Number(e.delta_us) / 1000,
    };
    table.row(row, e.ts);
    await journal?.(
      `${row.comm} ${row.laddr} ${row.lport} → ${row.raddr} ${row.rport} ${row.oldstate} → ${row.newstate}`,
    );
  }
});
