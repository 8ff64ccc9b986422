/**
 * The agent's pieces without a kernel or servers: its config file's errors, parameters
 * turned into flags, declared maps turned into series and OpenTelemetry metric data, and
 * the Prometheus text kept between scrapes: the same lines OpenTelemetry's own serializer
 * writes for that data, accepted by promtool, rebuilt only where a value changed.
 */
import assert from "node:assert/strict";
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  type SumMetricData,
} from "@opentelemetry/sdk-metrics";
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  Agent,
  declarations,
  labelValue,
  metricName,
  parseAgentConfig,
  probeArgs,
  PrometheusText,
  readLines,
  SeriesTable,
  type Supervisor,
} from "../../registry/agent/mod.ts";
import {
  hrTime,
  MetricPoints,
  toMetricData,
} from "../../registry/agent/metrics.ts";
import { loadSyscallNames } from "../../registry/agent/series.ts";
import type { BpfManifest } from "../../registry/manifest.ts";
import { syscallTable } from "../../runtime/trace/syscalls.ts";
import { promtoolProblems, startOtlpReceiver } from "./_helpers.ts";

/** The text of `/metrics` chunks (each ends at a line end). */
function textOf(chunks: Uint8Array[]): string {
  const dec = new TextDecoder();
  return chunks.map((c) => dec.decode(c)).join("");
}

Deno.test("agent config: defaults, and one line naming the file and field for each mistake", () => {
  const c = parseAgentConfig(
    JSON.stringify({
      registry: "http://127.0.0.1:4873",
      probes: [{ name: "runqlat" }],
      otlp: { endpoint: "http://collector:4318/", interval: "500ms" },
    }),
    "agent.json",
  );
  assert.equal(c.probes[0].range, "latest");
  assert.equal(c.probes[0].run, "package");
  assert.equal(c.pollMs, 30_000);
  assert.deepEqual(c.otlp, {
    endpoint: "http://collector:4318",
    intervalMs: 500,
    headers: {},
  });
  const bad = (v: unknown) => {
    try {
      parseAgentConfig(typeof v === "string" ? v : JSON.stringify(v), "a.json");
    } catch (e) {
      return (e as Error).message;
    }
    assert.fail("accepted");
  };
  assert.match(bad("{"), /^a\.json is not valid JSON .*: fix the file$/);
  assert.equal(
    bad({
      registry: "ftp://x",
      probes: [{ name: "a", rnage: "^1" }],
      poll: "5",
    }),
    'a.json: registry: must be an http(s) URL; probes.0: unknown field "rnage"; poll: must be a duration such as 10s',
  );
  assert.equal(
    bad({ registry: "http://r", probes: [{ name: "a", run: "inline" }] }),
    "a.json: probes.0.run: must be one of package, declared",
  );
  assert.equal(
    bad({ registry: "http://r", probes: [] }),
    'a.json: probes: list at least one probe, such as {"name": "runqlat"}',
  );
  assert.equal(
    bad({ registry: "http://r", probes: [{ name: "a" }, { name: "a" }] }),
    "a.json: probe a is listed twice; keep one entry per package",
  );
  assert.equal(
    bad({
      registry: "http://r",
      probes: [{ name: "a" }],
      prometheus: { listen: "9464" },
    }),
    "a.json: prometheus.listen: must be host:port, such as 127.0.0.1:9464",
  );
});

const SYSCOUNT: BpfManifest = JSON.parse(
  Deno.readTextFileSync(
    new URL("../../probes/syscount/package.json", import.meta.url),
  ),
).bpf;

Deno.test("parameters become the flags their declarations name, checked by type", () => {
  assert.deepEqual(
    probeArgs("syscount@1.0.0", SYSCOUNT, {
      latency: true,
      pid: 42,
      failures: false,
    }, [
      "-T",
      "5",
    ]),
    ["--json", "--latency", "--pid=42", "-T", "5"],
  );
  assert.throws(
    () => probeArgs("syscount@1.0.0", SYSCOUNT, { pdi: 1 }, []),
    /^ClientError: syscount@1\.0\.0 has no parameter pdi; its parameters are pid, failures, errno, latency, process$/,
  );
  assert.throws(
    () => probeArgs("syscount@1.0.0", SYSCOUNT, { pid: -1 }, []),
    /parameter pid takes an integer ≥ 0, not -1/,
  );
  assert.throws(
    () => probeArgs("syscount@1.0.0", SYSCOUNT, { latency: "yes" }, []),
    /parameter latency takes true or false, not "yes"/,
  );
});

Deno.test("declared maps become OpenTelemetry metric data: units, labels, log2 buckets", async () => {
  await loadSyscallNames();
  const [calls, time] = SYSCOUNT.metrics!;
  const now = hrTime(2_000);
  const sample = {
    entries: [[59, { count: 3n, total_ns: 1_500_000_000n, comm: "" }], [
      0,
      { count: 2n ** 53n + 2n, total_ns: 0n, comm: "" },
    ]] as [unknown, unknown][],
    attributes: { probe: "syscount", probe_version: "1.0.0" },
    start: hrTime(1_000),
  };
  const c = toMetricData(calls, [sample], now) as SumMetricData;
  assert.equal(c.dataPointType, DataPointType.SUM);
  assert.equal(c.isMonotonic, true);
  assert.equal(c.aggregationTemporality, AggregationTemporality.CUMULATIVE);
  assert.equal(c.descriptor.name, "syscount_syscalls");
  assert.deepEqual(c.dataPoints.map((p) => [p.attributes.syscall, p.value]), [
    ["execve", 3],
    ["read", 2 ** 53 + 2],
  ]);
  const t = toMetricData(time, [sample], now) as SumMetricData;
  assert.equal(metricName(time), "syscount_syscall_time_seconds");
  assert.equal(t.descriptor.unit, "s");
  assert.equal(t.dataPoints[0].value, 1.5);

  const RUNQLAT: BpfManifest = JSON.parse(
    Deno.readTextFileSync(
      new URL("../../probes/runqlat/package.json", import.meta.url),
    ),
  ).bpf;
  const h = toMetricData(RUNQLAT.metrics![0], [{
    entries: [[0, { slots: [1, 0, 4, 0, 2], comm: "" }]],
    attributes: { probe: "runqlat", probe_version: "1.0.0" },
    start: hrTime(1_000),
  }], now) as HistogramMetricData;
  const v = h.dataPoints[0].value;
  // Slot i holds values below 2^i µs; the last slot is open-ended.
  assert.deepEqual(v.buckets.boundaries, [1e-6, 2e-6, 4e-6, 8e-6]);
  assert.deepEqual(v.buckets.counts, [1, 0, 4, 0, 2]);
  assert.equal(v.count, 7);
  assert.deepEqual(h.dataPoints[0].attributes, {
    probe: "runqlat",
    probe_version: "1.0.0",
    pid: "0",
    comm: "",
  });

  // The agent's own text has the lines OpenTelemetry's serializer writes for the same data
  // (less its `# UNIT` comments), in families promtool accepts.
  const node = { "host.name": "n1" };
  const otel = new PrometheusSerializer(
    undefined,
    false,
    /^host\.name$/,
    false,
    true,
  ).serialize({
    resource: resourceFromAttributes(node),
    scopeMetrics: [{ scope: { name: "t" }, metrics: [c, t, h] }],
  });
  const text = textOf(new PrometheusText(node, ["host.name"]).render([
    ...SYSCOUNT.metrics!.map((declaration) => ({
      probe: "syscount",
      version: "1.0.0",
      declaration,
      entries: sample.entries,
    })),
    {
      probe: "runqlat",
      version: "1.0.0",
      declaration: RUNQLAT.metrics![0],
      entries: [[0, { slots: [1, 0, 4, 0, 2], comm: "" }]],
    },
  ]));
  const lines = (t: string) =>
    t.split("\n").filter((l) => l && !l.startsWith("# UNIT")).sort();
  assert.deepEqual(lines(text), lines(otel));
  assert.match(
    text,
    /^syscount_syscalls_total\{probe="syscount",probe_version="1.0.0",syscall="execve",host_name="n1"\} 3$/m,
  );
  assert.match(
    text,
    /^runqlat_run_queue_latency_seconds_bucket\{.*le="\+Inf"\} 7$/m,
  );
  return promtoolProblems(text).then((p) => assert.equal(p, ""));
});

Deno.test("/metrics text is kept between scrapes: a series' line changes only with its value", async () => {
  await loadSyscallNames();
  const [calls] = SYSCOUNT.metrics!;
  const p = new PrometheusText({ "host.name": "n1" }, ["host.name"]);
  const entries = (n: number, hot: bigint) =>
    Array.from(
      { length: n },
      (_, i) =>
        [i + 1000, { count: i ? 1n : hot, total_ns: 0n, comm: "" }] as [
          unknown,
          unknown,
        ],
    );
  const src = (e: [unknown, unknown][], version = "1.0.0") => ({
    probe: "syscount",
    version,
    declaration: calls,
    entries: e,
  });
  const first = textOf(p.render([src(entries(5000, 1n))]));
  assert.equal(
    first.split("\n").filter((l) => /^syscount/.test(l)).length,
    5000,
  );
  // The same values: the same bytes (the block is reused, not made again).
  const block = p.render([src(entries(5000, 1n))])[2];
  assert.equal(p.render([src(entries(5000, 1n))])[2], block);
  // One value moved: that line alone differs.
  const second = textOf(p.render([src(entries(5000, 7n))]));
  const a = first.split("\n"), b = second.split("\n");
  assert.equal(a.length, b.length);
  const changed = a.flatMap((l, i) => l === b[i] ? [] : [[l, b[i]]]);
  assert.deepEqual(changed, [[
    'syscount_syscalls_total{probe="syscount",probe_version="1.0.0",syscall="1000",host_name="n1"} 1',
    'syscount_syscalls_total{probe="syscount",probe_version="1.0.0",syscall="1000",host_name="n1"} 7',
  ]]);
  // An entry gone from the map: its series is gone.
  assert.doesNotMatch(
    textOf(p.render([src(entries(4999, 7n))])),
    /syscall="5999"/,
  );
  // Two versions during an upgrade share one family (one HELP and TYPE); a version no
  // longer given is forgotten.
  const both = textOf(
    p.render([src(entries(2, 1n)), src(entries(1, 1n), "1.1.0")]),
  );
  assert.equal(
    both.match(/^# TYPE syscount_syscalls_total counter$/gm)?.length,
    1,
  );
  assert.equal(both.match(/probe_version="1\.1\.0"/g)?.length, 1);
  assert.doesNotMatch(textOf(p.render([src(entries(1, 1n))])), /1\.1\.0/);
  return promtoolProblems(both).then((e) => assert.equal(e, ""));
});

Deno.test("OTLP points are kept between exports: a value is made again only when it changed", () => {
  const RUNQLAT: BpfManifest = JSON.parse(
    Deno.readTextFileSync(
      new URL("../../probes/runqlat/package.json", import.meta.url),
    ),
  ).bpf;
  const p = new MetricPoints(
    RUNQLAT.metrics![0],
    { probe: "runqlat", probe_version: "1.0.0" },
    hrTime(0),
  );
  const dump = (a: number) =>
    [[1, { slots: [a, 2], comm: "x" }], [2, { slots: [1, 1], comm: "y" }]] as [
      unknown,
      unknown,
    ][];
  const [a1, b1] = p.read(dump(1), hrTime(1000));
  const [a2, b2] = p.read(dump(5), hrTime(2000));
  assert.deepEqual(a2.endTime, hrTime(2000));
  assert.deepEqual(a2.attributes, {
    probe: "runqlat",
    probe_version: "1.0.0",
    pid: "1",
    comm: "x",
  });
  assert.equal(a2.attributes, a1.attributes);
  assert.deepEqual((a2.value as { buckets: unknown }).buckets, {
    boundaries: [1e-6],
    counts: [5, 2],
  });
  assert.equal(b2.value, b1.value); // unchanged: the same value, not made again
  assert.equal(p.read(dump(5).slice(1), hrTime(3000)).length, 1);
});

Deno.test("labels are shown by their declared format", async () => {
  assert.equal(
    labelValue(2, { name: "e", from: "key", format: "errno" }),
    "ENOENT",
  );
  assert.equal(
    labelValue(-13, { name: "e", from: "key", format: "errno" }),
    "EACCES",
  );
  assert.equal(
    labelValue(0x0100007f, { name: "a", from: "key", format: "ipv4" }),
    "127.0.0.1",
  );
  assert.equal(
    labelValue(9999, { name: "s", from: "key", format: "syscall" }),
    "9999",
  );
  // Syscall names are the running kernel's, by this machine's numbers.
  await loadSyscallNames();
  const execve = [...(await syscallTable())].find(([, n]) => n === "execve");
  assert.ok(execve, "the kernel names execve");
  assert.equal(
    labelValue(execve[0], { name: "s", from: "key", format: "syscall" }),
    "execve",
  );
});

Deno.test("entries that differ only in fields that are not labels fold into one series", () => {
  const PROFILE: BpfManifest = JSON.parse(
    Deno.readTextFileSync(
      new URL("../../probes/profile/package.json", import.meta.url),
    ),
  ).bpf;
  const key = (stack: number) => ({
    pid: 7,
    tgid: 7,
    user_stack_id: stack,
    kern_stack_id: -1,
    comm: "x",
  });
  const d = toMetricData(PROFILE.metrics![0], [{
    entries: [[key(1), 5n], [key(2), 3n], [{ ...key(1), tgid: 8 }, 1n]],
    attributes: { probe: "profile", probe_version: "1.0.0" },
    start: hrTime(0),
  }], hrTime(1000)) as SumMetricData;
  assert.deepEqual(d.dataPoints.map((p) => [p.attributes.pid, p.value]), [[
    "7",
    8,
  ], ["8", 1]]);
});

Deno.test("a probe's output lines: a line over 1 MiB is skipped whole, memory stays bounded", async () => {
  const big = "x".repeat((1 << 20) + 10);
  const chunks = [
    '{"a":1}\n',
    big.slice(0, 700_000),
    big.slice(700_000),
    'tail\n{"b"',
    ":2}",
  ];
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(new TextEncoder().encode(x));
      c.close();
    },
  });
  const got: string[] = [];
  await readLines(body, (l) => got.push(l));
  assert.deepEqual(got, ['{"a":1}', '{"b":2}']);
});

Deno.test("a package's declarations are checked before the agent or --output acts on them", () => {
  const plan = (bpf: unknown) => ({
    dir: "/nonexistent",
    spec: "evil@1.0.0",
    name: "evil",
    entry: "mod.ts",
    bpf: {},
    files: new Map([[
      "package.json",
      new TextEncoder().encode(JSON.stringify({ bpf })),
    ]]),
  });
  assert.throws(
    () =>
      declarations(plan({
        entry: "mod.ts",
        metrics: [{
          map: "m",
          name: "x",
          kind: "counter",
          unit: "furlongs",
          value: "value",
        }],
      })),
    /^ClientError: evil@1\.0\.0 has an invalid bpf manifest: bpf\.metrics\[0\]\.unit: must be one of count, .*; ask its publisher for a fixed version$/,
  );
  assert.equal(declarations(plan(SYSCOUNT)).metrics?.length, 2);
});

Deno.test("a probe's pipe is read into one buffer of the reader's own, not a new one per read", async () => {
  // A byte stream as a child's pipe is: a BYOB read hands the source the reader's buffer;
  // a default read without autoAllocateChunkSize hands it none, and the source must make
  // a chunk itself (what Deno's pipes do with a 64 KiB buffer each time).
  const lines = Array.from({ length: 300 }, (_, i) => `{"n":${i}}\n`);
  const bytes = new TextEncoder().encode(lines.join(""));
  let at = 0, given = 0, made = 0;
  const sizes = new Set<number>();
  const body = new ReadableStream({
    type: "bytes",
    pull(c) {
      if (at >= bytes.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      const n = Math.min(100, bytes.length - at); // short reads, lines split across them
      const view = c.byobRequest?.view;
      if (view) {
        given++;
        sizes.add(view.buffer.byteLength);
        new Uint8Array(view.buffer, view.byteOffset, n).set(
          bytes.subarray(at, at + n),
        );
        c.byobRequest!.respond(n);
      } else {
        made++;
        c.enqueue(bytes.slice(at, at + n));
      }
      at += n;
    },
  });
  const got: string[] = [];
  await readLines(body, (l) => got.push(l));
  assert.deepEqual(got, lines.map((l) => l.trimEnd()));
  assert.equal(made, 0, "no chunk made by the source");
  assert.ok(given >= 29, `${given} reads`);
  assert.equal(sizes.size, 1, "every read lands in the same 64 KiB buffer");
  assert.equal([...sizes][0], 64 << 10);
});

Deno.test("OTLP log records: a JSON line waits as its text and goes out parsed, with the time it came", async () => {
  const otlp = startOtlpReceiver();
  try {
    const { startOtlp } = await import("../../registry/agent/otlp.ts");
    const exp = startOtlp(
      { endpoint: otlp.url, intervalMs: 600_000, headers: {} },
      { "host.name": "n1" },
      () => ({ sources: [], errors: [] }),
    );
    const before = Date.now();
    exp.emit("execsnoop", "1.0.0", { json: '{"pid":7,"comm":"sh"}' });
    exp.emit("runqlat", "2.0.0", { value: { cpu: 1 } });
    const after = Date.now();
    // Nothing goes out before the interval; the queue's bound is the SDK's (8,192).
    for (let i = 0; i < 9000; i++) exp.emit("x", "1", { json: "1" });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(otlp.received.logs.length, 0);
    await exp.shutdown();
    // deno-lint-ignore no-explicit-any
    const records = otlp.received.logs.flatMap((req: any) =>
      // deno-lint-ignore no-explicit-any
      req.resourceLogs.flatMap((rl: any) =>
        // deno-lint-ignore no-explicit-any
        rl.scopeLogs.flatMap((sl: any) => sl.logRecords)
      )
    );
    assert.equal(records.length, 8192);
    const [a, b] = records;
    const kv = (r: { body: { kvlistValue: { values: [] } } }) =>
      Object.fromEntries(
        r.body.kvlistValue.values.map((
          x: { key: string; value: Record<string, unknown> },
        ) => [x.key, x.value.intValue ?? x.value.stringValue]),
      );
    assert.deepEqual(kv(a), { pid: 7, comm: "sh" });
    assert.deepEqual(kv(b), { cpu: 1 });
    const ms = Math.round(Number(a.timeUnixNano) / 1e6);
    assert.ok(ms >= before && ms <= after, `${ms} in [${before}, ${after}]`);
    assert.equal(a.observedTimeUnixNano, a.timeUnixNano);
    assert.equal(records[8191].body.intValue, 1);
  } finally {
    await otlp.close();
  }
});

Deno.test("a map key whose series went and came back gets its series (and its text) made again", () => {
  const d = SYSCOUNT.metrics![0];
  const t = new SeriesTable(d);
  const e = (keys: number[], v: bigint) =>
    keys.map((k) => [k, { count: v }] as [unknown, unknown]);
  assert.equal(t.read(e([1000, 1001], 1n)), true);
  const first = t.series.get("1000")!;
  first.text = "kept";
  assert.equal(t.read(e([1000, 1001], 1n)), false);
  assert.equal(t.read(e([1001], 1n)), true); // 1000 gone
  assert.equal(t.series.has("1000"), false);
  assert.equal(t.read(e([1000, 1001], 2n)), true); // back, with another value
  const again = t.series.get("1000")!;
  assert.notEqual(again, first);
  assert.deepEqual([again.labels, again.value, again.text], [
    ["1000"],
    2,
    undefined,
  ]);
  // Two keys with the same labels add up into one series.
  const byErrno = new SeriesTable({
    map: "m",
    name: "errors",
    kind: "counter",
    value: "value",
    labels: [{ name: "errno", from: "key", format: "errno" }],
  });
  byErrno.read([[2, 3], [-2, 4]]);
  assert.deepEqual(
    [...byErrno.series.values()].map((s) => [s.labels, s.value]),
    [[["ENOENT"], 7]],
  );
  byErrno.read([[-2, 4]]);
  assert.deepEqual(
    [...byErrno.series.values()].map((s) => [s.labels, s.value]),
    [[["ENOENT"], 4]],
  );
});

Deno.test("an OTLP push's map read brings the /metrics text up to date: the next scrape makes no text", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bpfpm-agent-collect-" });
  try {
    const config = (prometheus: boolean) =>
      parseAgentConfig(
        JSON.stringify({
          registry: "http://127.0.0.1:4873",
          stateDir: dir,
          probes: [{ name: "syscount" }],
          otlp: { endpoint: "http://127.0.0.1:4318" },
          ...(prometheus ? { prometheus: { listen: "127.0.0.1:9464" } } : {}),
        }),
        "agent.json",
      );
    const entries = Array.from(
      { length: 300 },
      (_, i) => [i + 1000, { count: 1n, total_ns: 0n }] as [unknown, unknown],
    );
    let dumps = 0;
    // A running syscount as the agent sees it: its release and the object it loaded.
    const probe = {
      probe: { name: "syscount" },
      release: { version: "1.0.0", manifest: SYSCOUNT },
      objects: [{
        maps: new Set(["data"]),
        map: () => ({
          dump: () => {
            dumps++;
            return entries;
          },
        }),
      }],
      started: 0,
    } as unknown as Supervisor;
    const agent = new Agent(config(true), { yes: true });
    agent.probes.splice(0, 1, probe);
    const { sources } = agent.collect();
    assert.equal(dumps, 1); // one dump for the map both metrics read
    assert.equal(sources.length, 2);
    const made = agent.prometheus.made;
    assert.equal(made, 600); // two metrics × 300 series, made at the push
    const text = textOf(agent.metrics());
    assert.equal(agent.prometheus.made, made, "the scrape made no text");
    assert.equal(
      text.split("\n").filter((l) => /^syscount/.test(l)).length,
      600,
    );
    // Without /metrics, a push leaves the text alone.
    const quiet = new Agent(config(false), { yes: true });
    quiet.probes.splice(0, 1, probe);
    quiet.collect();
    assert.equal(quiet.prometheus.made, 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
