/**
 * The agent's pieces without a kernel or servers: its config file's errors, parameters
 * turned into flags, declared maps turned into metric data, and that data as Prometheus
 * text accepted by promtool.
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
  declarations,
  hrTime,
  labelValue,
  metricName,
  parseAgentConfig,
  probeArgs,
  readLines,
  toMetricData,
} from "../../registry/agent/mod.ts";
import type { BpfManifest } from "../../registry/manifest.ts";
import { promtoolProblems } from "./_helpers.ts";

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

Deno.test("declared maps become OpenTelemetry metric data: units, labels, log2 buckets", () => {
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

  const text = new PrometheusSerializer(
    undefined,
    false,
    /^host\.name$/,
    false,
    true,
  )
    .serialize({
      resource: resourceFromAttributes({ "host.name": "n1" }),
      scopeMetrics: [{ scope: { name: "t" }, metrics: [c, t, h] }],
    });
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

Deno.test("labels are shown by their declared format", () => {
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
