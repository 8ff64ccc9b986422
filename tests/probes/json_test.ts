/**
 * probes/_shared's `--json` printers keep the convention (probes/README.md) by
 * construction: `Table` names fields from their columns' units and adds `time`, refuses keys
 * that break the rule, and prints 64-bit values without throwing; `printHistJson` prints one
 * object per histogram. No kernel needed: what they print is captured.
 */
import assert from "node:assert/strict";
import { type Column, Table } from "../../probes/_shared/cli.ts";
import { printHistJson, printJsonLine } from "../../probes/_shared/json.ts";
import { rfc3339, systemClock } from "../../mod.ts";

/** What `fn` prints with console.log, one parsed JSON object a line. */
function printed(fn: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    fn();
  } finally {
    console.log = log;
  }
  return lines.map((l) => JSON.parse(l));
}

interface Row {
  pid: number;
  lat: number;
  len: bigint;
  clock: string;
  comm: string;
}

const COLUMNS: Column<Row>[] = [
  { header: "TIME", key: "clock", jsonKey: "time" },
  { header: "PID", key: "pid" },
  { header: "LAT(ms)", key: "lat", jsonKey: "latency", unit: "milliseconds" },
  { header: "BYTES", key: "len", jsonKey: "bytes", unit: "bytes" },
];

Deno.test("Table --json: time first from the event's ktime, unit suffixes, 64-bit safe", () => {
  const t = new Table<Row>(COLUMNS, true);
  const ktime = 5_000_000_000n;
  const [row] = printed(() =>
    t.row(
      { pid: 7, lat: 1.5, len: 2n ** 64n - 1n, clock: "10:00:00", comm: "sh" },
      ktime,
    )
  );
  assert.deepEqual(Object.keys(row), [
    "time",
    "pid",
    "latency_ms",
    "bytes",
    "comm",
  ]);
  // The boot clock is read once per process; /proc/uptime moves in 10 ms steps.
  const expected = rfc3339(systemClock().bootNs + ktime);
  assert.ok(
    Math.abs(Date.parse(String(row.time)) - Date.parse(expected)) < 100,
    `${row.time} vs ${expected}`,
  );
  assert.match(
    String(row.time),
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/,
  );
  assert.equal(row.latency_ms, 1.5);
  assert.equal(row.bytes, "18446744073709551615");
  assert.equal(row.comm, "sh");
});

Deno.test("Table: a table-only or JSON-only column, and keys the convention refuses", () => {
  const t = new Table<Row>([
    { header: "PID", key: "pid", json: false },
    {
      header: "LAT",
      key: "lat",
      jsonKey: "latency",
      unit: "microseconds",
      table: false,
    },
  ], true);
  const [row] = printed(() =>
    t.row({ pid: 7, lat: 3, len: 0n, clock: "", comm: "x" })
  );
  assert.deepEqual(Object.keys(row), [
    "time",
    "latency_us",
    "len",
    "clock",
    "comm",
  ]);
  for (const jsonKey of ["rx_kb", "latency_usecs", "ms", "ts", "Latency"]) {
    assert.throws(
      () => new Table<Row>([{ header: "X", key: "lat", jsonKey }], true),
      TypeError,
      jsonKey,
    );
  }
  assert.throws(
    () =>
      new Table<Row>([
        { header: "A", key: "lat", jsonKey: "span", unit: "seconds" },
        { header: "B", key: "pid", jsonKey: "span_s" },
      ], true),
    /Two columns have the JSON key span_s/,
  );
  assert.throws(() => printed(() => printJsonLine({ tx_kb: 1 })), TypeError);
  // An undefined field is not printed, so not checked.
  assert.deepEqual(
    Object.keys(printed(() => printJsonLine({ pid: 1, ts: undefined }))[0]),
    ["time", "pid"],
  );
});

Deno.test("printHistJson: one object with labels, buckets in the unit, and -e's figures", () => {
  const [h] = printed(() =>
    printHistJson([0, 2, 5, 0, 1], {
      unit: "microseconds",
      labels: { pid: 42, comm: "sh" },
      extension: { avg: 3, total: 24, count: 8 },
    })
  );
  const before = Date.now();
  assert.deepEqual(Object.keys(h), [
    "time",
    "pid",
    "comm",
    "buckets",
    "avg_us",
    "total_us",
    "count",
  ]);
  assert.ok(Math.abs(Date.parse(String(h.time)) - before) < 5000);
  assert.deepEqual(h.buckets, [
    { min_us: 0, max_us: 1, count: 2 },
    { min_us: 2, max_us: 3, count: 5 },
    { min_us: 4, max_us: 7, count: 0 },
    { min_us: 8, max_us: 15, count: 1 },
  ]);
  assert.deepEqual([h.avg_us, h.total_us, h.count], [3, 24, 8]);
});
