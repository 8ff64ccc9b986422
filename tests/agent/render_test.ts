/**
 * `bpfpm run NAME --output table|json|ndjson --fields a,b` (issue 17.2): a probe rendered
 * from its declaration alone, with real programs and real events; and the formatting rules
 * (units in names, RFC 3339 times with a zone, 64-bit values that never throw).
 */
import assert from "node:assert/strict";
import {
  fieldName,
  formatRecord,
  jsonSafe,
  rfc3339,
  RowWriter,
} from "../../registry/render/mod.ts";
import { REPO, runCmd, startBpfpm } from "../probes/_helpers.ts";
import { probeDirs } from "../../scripts/seed.ts";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

Deno.test("records are rendered by their declared fields: units in names, RFC 3339, names of errnos and signals, 64-bit safe", () => {
  const out = formatRecord(
    {
      ts: 1_000_000_000n,
      span_ns: 2n ** 63n,
      delta: 5n,
      ret: -13,
      fd: 3,
      sig: 9,
      family: 2,
      saddr: Uint8Array.from([127, 0, 0, 1, ...new Array(12).fill(0)]),
      args: ["/bin/echo", "x", "", ""],
      extra: "not declared",
    },
    [
      { name: "ts", type: "u64", unit: "nanoseconds", format: "ktime" },
      { name: "span_ns", type: "u64", unit: "nanoseconds" },
      { name: "delta", type: "u64", unit: "microseconds", format: "duration" },
      { name: "ret", type: "s32", format: "errno" },
      { name: "fd", type: "s32", format: "errno" },
      { name: "sig", type: "u32", format: "signal" },
      { name: "saddr", type: "bytes", format: "ip" },
      { name: "args", type: "string[]" },
    ],
    { bootNs: 0n },
  );
  assert.match(out.ts as string, RFC3339);
  assert.equal(new Date(out.ts as string).getTime(), 1000);
  assert.deepEqual({ ...out, ts: undefined }, {
    ts: undefined,
    span_ns: "9223372036854775808",
    delta_us: 5,
    ret: "EACCES",
    fd: 3,
    sig: "SIGKILL",
    saddr: "127.0.0.1",
    args: ["/bin/echo", "x"],
  });
  assert.equal(
    fieldName({ name: "rx", type: "u64", unit: "bytes" }),
    "rx_bytes",
  );
  assert.equal(
    JSON.stringify(jsonSafe({ a: 2n ** 64n - 1n, b: 1n })),
    '{"a":"18446744073709551615","b":1}',
  );
  assert.match(
    rfc3339(1_500_000_000_123_456_789n),
    /:00\.123456(Z|[+-]\d\d:\d\d)$/,
  );
});

Deno.test("table, json and ndjson output, with --fields choosing and ordering columns", () => {
  const rows = [{ pid: 1, comm: "init", big: 2n ** 64n }, {
    pid: 12345,
    comm: "sh",
    big: 1n,
  }];
  const lines = (format: "table" | "json" | "ndjson", fields?: string[]) => {
    const out: string[] = [];
    const w = new RowWriter(format, fields, (l) => out.push(l));
    for (const r of rows) w.row(r);
    w.end();
    return out;
  };
  assert.deepEqual(lines("table", ["comm", "pid"]), [
    "COMM  PID",
    "init  1",
    "sh    12345",
  ]);
  assert.deepEqual(JSON.parse(lines("json").join("\n")), [
    { pid: 1, comm: "init", big: "18446744073709551616" },
    { pid: 12345, comm: "sh", big: 1 },
  ]);
  assert.deepEqual(lines("ndjson", ["pid"]), ['{"pid":1}', '{"pid":12345}']);
  assert.throws(
    () => new RowWriter("csv" as "json", undefined, () => {}),
    /--output csv is not an output: use table, json or ndjson/,
  );
});

Deno.test("bpfpm run ./probes/execsnoop --output ndjson: the declared record of a real exec, then nothing loaded", async () => {
  await using p = startBpfpm(
    ["run", "./probes/execsnoop", "--yes", "--output", "ndjson"],
    { cwd: REPO },
  );
  await p.attached();
  const ran = await runCmd("/bin/echo", ["rendered", "from", "declaration"]);
  const row = await p.row<Record<string, unknown>>((r) => r.pid === ran.pid);
  assert.match(row.ts as string, RFC3339);
  assert.ok(
    Math.abs(new Date(row.ts as string).getTime() - Date.now()) < 120_000,
  );
  assert.deepEqual(
    [row.comm, row.ppid, row.retval, row.args, row.args_count],
    ["echo", Deno.pid, 0, ["/bin/echo", "rendered", "from", "declaration"], 4],
  );
  const status = await p.stop();
  assert.equal(status.code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("bpfpm run ./probes/syscount --output ndjson --fields: declared metrics at Ctrl-C, parameters as typed flags", async () => {
  await using p = startBpfpm(
    [
      "run",
      "./probes/syscount",
      "--yes",
      "--output",
      "ndjson",
      "--fields",
      "metric,syscall,value",
      "--",
      "--latency",
    ],
    { cwd: REPO },
  );
  await p.attached();
  const dd = await runCmd("dd", [
    "if=/dev/zero",
    "of=/dev/null",
    "bs=1",
    "count=100000",
  ]);
  assert.ok(dd);
  const status = await p.stop();
  assert.equal(status.code, 0, p.stderr);
  await p.assertUnloaded();
  const rows = p.rows<{ metric: string; syscall: string; value: number }>();
  const read = rows.find((r) =>
    r.metric === "syscount_syscalls" && r.syscall === "read"
  );
  assert.ok(read && read.value >= 100_000, JSON.stringify(read));
  assert.deepEqual(Object.keys(read), ["metric", "syscall", "value"]);
  const time = rows.find((r) =>
    r.metric === "syscount_syscall_time_seconds" && r.syscall === "read"
  );
  assert.ok(time && time.value > 0, JSON.stringify(time));

  const bad = startBpfpm(
    [
      "run",
      "./probes/syscount",
      "--yes",
      "--output",
      "ndjson",
      "--",
      "--pdi",
      "1",
    ],
    { cwd: REPO },
  );
  const s = await bad.exited();
  assert.notEqual(s.code, 0);
  assert.match(
    bad.stderr,
    /syscount@1\.0\.0: Unknown option '--pdi'.*; its parameters are --pid, --failures, --errno, --latency, --process/,
  );
});

Deno.test("bpfpm run ./probes/runqlat --output ndjson -- --pid N --pids: .rodata parameters, set before load, keep only the target", async () => {
  // A process that sleeps and wakes, waiting in a run queue each time it wakes.
  const sleeper = new Deno.Command("python3", {
    args: ["-c", "import time\nwhile True: time.sleep(0.002)"],
  }).spawn();
  try {
    await using p = startBpfpm(
      [
        "run",
        "./probes/runqlat",
        "--yes",
        "--output",
        "ndjson",
        "--",
        "--pid",
        String(sleeper.pid),
        "--pids",
      ],
      { cwd: REPO },
    );
    await p.attached();
    await new Promise((r) => setTimeout(r, 1500));
    const status = await p.stop();
    assert.equal(status.code, 0, p.stderr);
    await p.assertUnloaded();
    const rows = p.rows<{ metric: string; pid: string; count: number }>()
      .filter((r) => r.metric === "runqlat_run_queue_latency_seconds");
    // Labels are text: only the target's histogram.
    assert.deepEqual([...new Set(rows.map((r) => r.pid))], [
      String(sleeper.pid),
    ]);
    const waits = rows.reduce((n, r) => n + r.count, 0);
    assert.ok(waits >= 50, `${waits} waits of ${sleeper.pid}`);
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
});

Deno.test("bpfpm run DIR --output: a .rodata parameter its program does not declare is refused, naming both", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-render-rodata-" });
  try {
    await Deno.writeTextFile(
      `${dir}/package.json`,
      JSON.stringify({
        name: "misdeclared",
        version: "1.0.0",
        bpf: {
          entry: "mod.ts",
          sources: ["p.bpf.c"],
          grants: {
            attach: [{
              kind: "tracepoint",
              target: "syscalls:sys_enter_getppid",
            }],
            helpers: [],
          },
          metrics: [{
            map: "counts",
            name: "x_calls",
            kind: "counter",
            value: "value",
          }],
          parameters: [{
            name: "pid",
            type: "integer",
            default: 0,
            description: "d",
            variable: "targ_pid",
          }],
        },
      }),
    );
    await Deno.writeTextFile(`${dir}/mod.ts`, "");
    await Deno.writeTextFile(
      `${dir}/p.bpf.c`,
      Deno.readTextFileSync(
        new URL("../runtime/fixtures/target_pid.bpf.c", import.meta.url),
      ).replace("PROG_NAME", "misdeclared"),
    );
    const p = startBpfpm(
      ["run", dir, "--yes", "--output", "ndjson", "--", "--pid", "1"],
      { cwd: REPO },
    );
    const s = await p.exited();
    assert.notEqual(s.code, 0);
    assert.match(
      p.stderr,
      /misdeclared@1\.0\.0's parameters do not match its program: option constants names targ_pid, which the program does not declare; its const volatile values are step, target_pid; ask its publisher to fix the manifest/,
    );
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every probe that declares events or metrics starts from its declaration and unloads at Ctrl-C", async () => {
  const failures: string[] = [];
  for (const dir of probeDirs()) {
    const name = dir.split("/").pop()!;
    await using p = startBpfpm(
      ["run", `./probes/${name}`, "--yes", "--output", "ndjson"],
      { cwd: REPO },
    );
    try {
      await p.attached(60_000);
      const status = await p.stop();
      if (status.code !== 0) {
        failures.push(`${name}: exit ${status.code}: ${p.stderr}`);
      }
      await p.assertUnloaded();
    } catch (e) {
      failures.push(
        `${name}: ${(e as Error).message.split("\n")[0]}: ${
          p.stderr.slice(-400)
        }`,
      );
    }
  }
  assert.deepEqual(failures, []);
});
