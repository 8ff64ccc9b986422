/**
 * tcpconnect: traces active TCP connections (connect()), one line each, as BCC's tool:
 * `PID COMM IP SADDR DADDR DPORT`; `-c` counts them by address and port instead.
 *
 * @example
 * ```sh
 * bpfpm run tcpconnect -- -P 80,443
 * deno run -A probes/tcpconnect/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  cgroupFilter,
  type Column,
  configure,
  eventStream,
  intArg,
  runMain,
  sinceFirst,
  Table,
  timestampColumn,
  uidFilter,
} from "../_shared/cli.ts";
import {
  CGROUP,
  DURATION,
  IPV4,
  IPV6,
  PID,
  TCP_TIMESTAMP,
  UID,
} from "../_shared/flags.ts";
import { familyFilter, formatAddr, portList } from "../_shared/net.ts";

const spec = {
  name: "tcpconnect",
  description: "Trace TCP connects",
  flags: {
    timestamp: TCP_TIMESTAMP,
    pid: PID,
    port: {
      type: "string",
      short: "P",
      help: "comma-separated list of destination ports to trace",
    },
    "print-uid": {
      type: "boolean",
      short: "U",
      help: "include the UID on output",
    },
    uid: UID,
    count: {
      type: "boolean",
      short: "c",
      help: "count connects per source IP and destination IP/port",
    },
    lport: {
      type: "boolean",
      short: "L",
      help: "include LPORT on output",
    },
    ipv4: IPV4,
    ipv6: IPV6,
    cgroup: CGROUP,
    duration: DURATION,
  },
  examples: [
    "tcpconnect           # trace all TCP connect()s",
    "tcpconnect -t        # include timestamps",
    "tcpconnect -p 181    # only trace PID 181",
    "tcpconnect -P 80,81  # only trace ports 80 and 81",
    "tcpconnect -U        # include UID",
    "tcpconnect -c        # count connects per src ip and dest ip/port",
    "tcpconnect -L        # include the local port",
  ],
} as const;

interface Event {
  ts: bigint;
  pid: number;
  tid: number;
  uid: number;
  family: number;
  dport: number;
  lport: number;
  saddr: Uint8Array;
  daddr: Uint8Array;
  comm: string;
}

/** One output row. */
interface Row {
  ts: number;
  uid: number;
  pid: number;
  comm: string;
  ip: 4 | 6;
  saddr: string;
  lport: number;
  daddr: string;
  dport: number;
}

/** One row of `-c`. */
interface CountRow {
  saddr: string;
  daddr: string;
  dport: number;
  connects: number;
}

await runMain(spec, async ({ values: v, json }) => {
  const family = familyFilter(v);
  const ports = portList(v.port, "-P");
  const uid = uidFilter(v.uid);
  using b = await BPF.load({
    file: new URL("./tcpconnect.bpf.c", import.meta.url),
  });
  configure(b, {
    targ_pid: intArg(v.pid, "-p PID") ?? 0,
    ...uid,
    ...cgroupFilter(v.cgroup),
    family,
    lport: v.lport ? 1 : 0,
  });
  const events = eventStream<Event>(b, v.duration);
  if (v.count) {
    announce("Tracing connect");
    const counts = new Map<string, CountRow>();
    for await (const e of events) {
      if (ports && !ports.has(e.dport)) continue;
      const row = {
        saddr: formatAddr(e.family, e.saddr),
        daddr: formatAddr(e.family, e.daddr),
        dport: e.dport,
        connects: 0,
      };
      const key = `${row.saddr} ${row.daddr} ${row.dport}`;
      const c = counts.get(key) ?? row;
      c.connects++;
      counts.set(key, c);
    }
    const table = new Table<CountRow>([
      { header: "LADDR", key: "saddr", width: 25 },
      { header: "RADDR", key: "daddr", width: 25 },
      { header: "RPORT", key: "dport", width: 5 },
      { header: "CONNECTS", key: "connects" },
    ], json);
    if (!json) console.log();
    table.header();
    for (
      const c of [...counts.values()].sort((a, b) => b.connects - a.connects)
    ) {
      table.row(c);
    }
    return;
  }
  const columns: Column<Row>[] = [];
  if (v.timestamp) columns.push(timestampColumn(9, 3));
  if (v["print-uid"]) columns.push({ header: "UID", key: "uid", width: 6 });
  columns.push(
    { header: "PID", key: "pid", width: 7 },
    {
      header: "COMM",
      key: "comm",
      width: 12,
      format: (c) => String(c).slice(0, 12),
    },
    { header: "IP", key: "ip", width: 2 },
    { header: "SADDR", key: "saddr", width: 16 },
  );
  if (v.lport) columns.push({ header: "LPORT", key: "lport", width: 6 });
  columns.push(
    { header: "DADDR", key: "daddr", width: 16 },
    { header: "DPORT", key: "dport" },
  );
  const table = new Table<Row>(columns, json);
  table.header();
  announce();
  const elapsed = sinceFirst();
  for await (const e of events) {
    if (ports && !ports.has(e.dport)) continue;
    table.row({
      ts: elapsed(e.ts),
      uid: e.uid,
      pid: e.pid,
      comm: e.comm,
      ip: e.family === 2 ? 4 : 6,
      saddr: formatAddr(e.family, e.saddr),
      lport: e.lport,
      daddr: formatAddr(e.family, e.daddr),
      dport: e.dport,
    });
  }
});
