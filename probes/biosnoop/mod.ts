/**
 * biosnoop: traces block device I/O, one line per request when it completes, with its
 * process, disk, direction, sector, size and latency, as BCC's tool:
 * `TIME(s) COMM PID DISK T SECTOR BYTES LAT(ms)`.
 *
 * @example
 * ```sh
 * bpfpm run biosnoop -- -Q -d 254:0
 * deno run -A probes/biosnoop/mod.ts --json
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
} from "../_shared/cli.ts";
import { DISK } from "../_shared/flags.ts";
import { diskDev, flagsText } from "../_shared/block.ts";

const spec = {
  name: "biosnoop",
  description: "Trace block I/O",
  flags: {
    queue: { type: "boolean", short: "Q", help: "include OS queued time" },
    pattern: {
      type: "boolean",
      short: "P",
      help: "display IO pattern (sequential or random)",
    },
    disk: DISK,
    pid: { type: "string", short: "p", help: "show I/O of this PID only" },
    duration: { type: "string", help: "total duration of trace in seconds" },
  },
  examples: [
    "biosnoop            # trace all block I/O",
    "biosnoop -Q         # include OS queued time",
    "biosnoop -P         # show whether each I/O follows the disk's previous one",
    "biosnoop -d 254:0   # trace one disk only (MAJ:MIN, or its name)",
  ],
} as const;

interface Event {
  ts: bigint;
  delta_ns: bigint;
  qdelta_ns: bigint;
  sector: bigint;
  len: number;
  pid: number;
  dev: number;
  flags: number;
  comm: string;
  disk: string;
}

/** One output row. */
interface Row {
  ts: number;
  comm: string;
  pid: number;
  disk: string;
  t: "R" | "W" | "";
  /** S: starts where the disk's previous I/O ended; R: elsewhere; ?: the first seen. */
  pattern?: "S" | "R" | "?";
  flags: string;
  sector: number;
  bytes: number;
  que_ms: number;
  lat_ms: number;
}

await runMain(spec, async ({ values: v, json }) => {
  const pid = intArg(v.pid, "-p PID");
  const targ = v.disk ? diskDev(v.disk as string) : 0;
  using b = await BPF.load({
    file: new URL("./biosnoop.bpf.c", import.meta.url),
    constants: { targ_dev: targ },
  });
  const columns: Column<Row>[] = [
    {
      header: "TIME(s)",
      key: "ts",
      unit: "seconds",
      width: 11,
      format: (t) => (t as number).toFixed(6),
    },
    {
      header: "COMM",
      key: "comm",
      width: 14,
      format: (c) => String(c).slice(0, 14),
    },
    { header: "PID", key: "pid", width: 7 },
    { header: "DISK", key: "disk", width: 9 },
    { header: "T", key: "t", width: 1 },
    ...(v.pattern
      ? [{ header: "PAT", key: "pattern", width: 3 } as const]
      : []),
    { header: "SECTOR", key: "sector", width: 10, right: true },
    { header: "BYTES", key: "bytes", unit: "bytes", width: 7, right: true },
  ];
  if (v.queue) {
    columns.push({
      header: "QUE(ms)",
      key: "que_ms",
      unit: "milliseconds",
      width: 7,
      right: true,
      format: (q) => (q as number).toFixed(2),
    });
  }
  columns.push({
    header: "LAT(ms)",
    key: "lat_ms",
    unit: "milliseconds",
    width: 7,
    right: true,
    format: (l) => (l as number).toFixed(2),
  });
  const table = new Table<Row>(columns, json);
  table.header();
  announce();
  const events = eventStream<Event>(b, v.duration, "--duration");
  const elapsed = sinceFirst();
  // Where each disk's last completed I/O ended, in 512-byte sectors (BCC's -P).
  const lastEnd = new Map<number, bigint>();
  for await (const e of events) {
    const last = lastEnd.get(e.dev);
    lastEnd.set(e.dev, e.sector + BigInt(e.len >>> 9));
    if (pid !== undefined && e.pid !== pid) continue;
    const op = e.flags & 0xff;
    table.row({
      ts: elapsed(e.ts),
      comm: e.comm,
      pid: e.pid,
      disk: e.disk || `${e.dev >>> 20}:${e.dev & 0xfffff}`,
      t: op === 0 ? "R" : op === 1 ? "W" : "",
      pattern: v.pattern
        ? last === undefined ? "?" : last === e.sector ? "S" : "R"
        : undefined,
      flags: flagsText(e.flags),
      sector: Number(e.sector),
      bytes: e.len,
      que_ms: Number(e.qdelta_ns) / 1e6,
      lat_ms: Number(e.delta_ns) / 1e6,
    }, e.ts);
  }
});
