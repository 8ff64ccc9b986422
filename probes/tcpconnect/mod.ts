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
  type Column,
  eventStream,
  intArg,
  runMain,
  sinceFirst,
  Table,
  timestampColumn,
  uidFilter,
} from "../_shared/cli.ts";
import {
  DURATION,
  IPV4,
  IPV6,
  PID,
  TCP_TIMESTAMP,
  UID,
} from "../_shared/flags.ts";
import { familyFilter, formatAddr, portList } from "../_shared/net.ts";
import { CONTAINER_FLAGS, containerFilter } from "../_shared/container.ts";

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
    dns: {
      type: "boolean",
      short: "d",
      help: "include likely DNS query associated with each connect",
    },
    ipv4: IPV4,
    ipv6: IPV6,
    ...CONTAINER_FLAGS,
    // -d is BCC's --dns here, so the duration has its long name only.
    duration: { type: DURATION.type, help: DURATION.help },
  },
  examples: [
    "tcpconnect           # trace all TCP connect()s",
    "tcpconnect -t        # include timestamps",
    "tcpconnect -p 181    # only trace PID 181",
    "tcpconnect -P 80,81  # only trace ports 80 and 81",
    "tcpconnect -U        # include UID",
    "tcpconnect -c        # count connects per src ip and dest ip/port",
    "tcpconnect -L        # include the local port",
    "tcpconnect -d        # include the DNS query that likely led to each connect",
    "tcpconnect --cgroupmap /sys/fs/bpf/test01  # only trace cgroups in this BPF map",
    "tcpconnect --mntnsmap /sys/fs/bpf/mnt_ns_set  # only trace mount namespaces in this map",
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

interface DnsEvent {
  len: number;
  data: Uint8Array;
}

/**
 * The names a DNS reply answers, as `address → query name`: each A and AAAA record of
 * the answer section under the (first) question's name, as BCC's --dns keeps them.
 * A reply cut short or malformed yields what was read before the fault.
 */
function dnsAnswers(msg: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const u16 = (o: number) => (msg[o] << 8) | msg[o + 1];
  // A name at `o`: its text and the offset after it (pointers followed, bounded).
  const name = (o: number): [string, number] => {
    const labels: string[] = [];
    let end = -1;
    for (let hops = 0; o < msg.length && hops < 64; hops++) {
      const n = msg[o];
      if (n === 0) {
        o++;
        break;
      }
      if ((n & 0xc0) === 0xc0) {
        if (end < 0) end = o + 2;
        o = ((n & 0x3f) << 8) | msg[o + 1];
        continue;
      }
      labels.push(new TextDecoder().decode(msg.subarray(o + 1, o + 1 + n)));
      o += 1 + n;
    }
    return [labels.join("."), end < 0 ? o : end];
  };
  if (msg.length < 12 || !(msg[2] & 0x80)) return out; // not a response
  const questions = u16(4), answers = u16(6);
  let o = 12;
  let query = "";
  for (let i = 0; i < questions && o < msg.length; i++) {
    const [q, next] = name(o);
    if (i === 0) query = q;
    o = next + 4;
  }
  for (let i = 0; i < answers && o + 10 <= msg.length; i++) {
    const [, next] = name(o);
    o = next;
    const type = u16(o), rdlength = u16(o + 8);
    const rdata = msg.subarray(o + 10, o + 10 + rdlength);
    o += 10 + rdlength;
    if (type === 1 && rdata.length === 4) out.set(formatAddr(2, rdata), query);
    if (type === 28 && rdata.length === 16) {
      out.set(formatAddr(10, rdata), query);
    }
  }
  return out;
}

/** One output row. */
interface Row {
  /** -t: seconds since the first event (`ts_s` in JSON). */
  ts?: number;
  uid: number;
  pid: number;
  comm: string;
  ip: 4 | 6;
  saddr: string;
  lport: number;
  daddr: string;
  dport: number;
  query?: string;
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
  const container = containerFilter(v);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./tcpconnect.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      ...uid,
      targ_family: family,
      with_lport: v.lport === true,
      with_dns: v.dns === true,
      ...container.constants,
    },
    reuseMaps: container.reuseMaps,
  });
  const events = eventStream<Event>(b, v.duration);
  // -d: the addresses recent DNS replies gave, with the name asked (the last 10000).
  const resolved = new Map<string, string>();
  if (v.dns) {
    (async () => {
      for await (
        const d of b.ringbuf<DnsEvent>("dns", { type: "struct dns_event" })
      ) {
        for (const [addr, query] of dnsAnswers(d.data.subarray(0, d.len))) {
          resolved.delete(addr);
          resolved.set(addr, query);
          if (resolved.size > 10_000) {
            resolved.delete(resolved.keys().next().value!);
          }
        }
      }
    })().catch(() => {});
  }
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
    { header: "DPORT", key: "dport", width: v.dns ? 5 : undefined },
  );
  if (v.dns) columns.push({ header: "QUERY", key: "query" });
  // The reply and the connect come through two rings read apart: a connect whose address
  // no reply named yet waits up to 50 ms for a reply that may still be on its way.
  async function queryOf(daddr: string): Promise<string> {
    for (let waited = 0; !resolved.has(daddr) && waited < 50; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return resolved.get(daddr) ?? "No DNS Query";
  }
  const table = new Table<Row>(columns, json);
  table.header();
  announce();
  const elapsed = sinceFirst();
  for await (const e of events) {
    if (ports && !ports.has(e.dport)) continue;
    const daddr = formatAddr(e.family, e.daddr);
    table.row({
      ...(v.timestamp ? { ts: elapsed(e.ts) } : {}),
      uid: e.uid,
      pid: e.pid,
      comm: e.comm,
      ip: e.family === 2 ? 4 : 6,
      saddr: formatAddr(e.family, e.saddr),
      lport: e.lport,
      daddr,
      dport: e.dport,
      ...(v.dns ? { query: await queryOf(daddr) } : {}),
    }, e.ts);
  }
});
