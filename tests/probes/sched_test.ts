/**
 * The scheduler and stack probes (runqlat, cpudist, offcputime, profile), the uretprobe one
 * (bashreadline) and oomkill, run for real against workloads this test starts.
 */
import assert from "node:assert/strict";
import {
  assertEventTime,
  histCount,
  type JsonHist,
  oomKillTail,
  runCmd,
  sleep,
  startProbe,
} from "./_helpers.ts";

/** `n` shell busy loops for `ms`, then killed; returns their pids. */
async function busy(n: number, ms: number): Promise<number[]> {
  const kids = Array.from(
    { length: n },
    () =>
      new Deno.Command("sh", {
        args: ["-c", "while :; do :; done"],
        stdout: "null",
        stderr: "null",
      }).spawn(),
  );
  await sleep(ms);
  for (const k of kids) k.kill("SIGKILL");
  await Promise.all(kids.map((k) => k.status));
  return kids.map((k) => k.pid);
}

Deno.test("runqlat -P: busy loops competing for the CPUs wait in the run queue", async () => {
  await using p = startProbe("runqlat", ["--json", "-P"]);
  await p.attached();
  const pids = await busy(4, 1000);
  assert.equal((await p.stop()).code, 0, p.stderr);
  const hists = p.rows<JsonHist>();
  const ours = hists.filter((h) => pids.includes(h.pid!));
  assert.ok(ours.length > 0, `no histogram for ${pids}`);
  for (const h of ours) {
    assert.equal(h.comm, "sh");
    assert.ok(h.buckets.length > 0, JSON.stringify(h));
  }
  assert.ok(ours.some((h) => histCount(h) > 0));
  await p.assertUnloaded();
});

Deno.test("cpudist -P: a busy loop runs for long stretches on a CPU", async () => {
  await using p = startProbe("cpudist", ["--json", "-P"]);
  await p.attached();
  const [pid] = await busy(1, 1000);
  assert.equal((await p.stop()).code, 0, p.stderr);
  const h = p.rows<JsonHist>().find((x) => x.pid === pid);
  assert.ok(h, `no histogram for ${pid}`);
  assert.equal(h.comm, "sh");
  assert.ok(histCount(h) > 0);
  // Busy, it only leaves the CPU when preempted: stretches of at least 256 us.
  const longest = h.buckets.filter((b) => b.count > 0).at(-1)!;
  assert.ok(longest.min_us >= 256, JSON.stringify(h.buckets));
  await p.assertUnloaded();
});

Deno.test("offcputime: a sleeping child's blocked time, with its kernel stack", async () => {
  await using p = startProbe("offcputime", ["--json", "-m", "100000"]);
  await p.attached();
  const child = await runCmd("sleep", ["0.5"]);
  assert.equal((await p.stop()).code, 0, p.stderr);
  interface Row {
    pid: number;
    tid: number;
    comm: string;
    kernel_stack: string[];
    user_stack: string[];
    off_cpu_us: number;
  }
  const rows = p.rows<Row>().filter((r) => r.pid === child.pid);
  assert.ok(rows.length > 0, "no stack of the sleeping child");
  const slept = rows.find((r) => r.kernel_stack.includes("do_nanosleep"));
  assert.ok(slept, JSON.stringify(rows));
  assert.equal(slept.comm, "sleep");
  assert.ok(
    slept.off_cpu_us >= 400_000 && slept.off_cpu_us < 5_000_000,
    `${slept.off_cpu_us}`,
  );
  assert.ok(
    p.rows<Row>().every((r) => r.off_cpu_us >= 100_000),
    "-m 100000 keeps only blocks of at least 100 ms",
  );
  await p.assertUnloaded();
});

Deno.test("profile: samples a busy loop's user and kernel stacks at 99 Hz", async () => {
  await using p = startProbe("profile", ["--json", "-F", "99"]);
  await p.attached();
  const [pid] = await busy(1, 1500);
  assert.equal((await p.stop()).code, 0, p.stderr);
  interface Row {
    pid: number;
    comm: string;
    user_stack: string[];
    samples: number;
  }
  // A sample may land between fork and exec, under the parent thread's comm.
  const rows = p.rows<Row>().filter((r) => r.pid === pid && r.comm === "sh");
  const samples = rows.reduce((n, r) => n + r.samples, 0);
  // 1.5 s at 99 Hz is about 150 samples on an idle CPU; this machine is shared.
  assert.ok(samples >= 5 && samples <= 400, `${samples} samples`);
  assert.ok(rows.some((r) => r.user_stack.length > 0));
  await p.assertUnloaded();
});

Deno.test("bashreadline: the line an interactive bash reads", async () => {
  await using p = startProbe("bashreadline", ["--json"]);
  await p.attached();
  const marker = `bpfpm_probe_${Math.random().toString(36).slice(2, 10)}`;
  // script(1) gives bash a terminal, so it is interactive and reads with readline.
  const r = await runCmd(
    "script",
    ["-qec", "bash --norc --noprofile -i", "/dev/null"],
    { stdin: `echo ${marker}\nexit\n` },
  );
  assert.ok(r.stdout.includes(marker), r.stdout);
  interface Row {
    time: string;
    pid: number;
    comm: string;
    command: string;
  }
  const line = await p.row<Row>((x) => x.command === `echo ${marker}`);
  assertEventTime(line);
  assert.deepEqual(Object.keys(line), ["time", "pid", "command", "comm"]);
  assert.equal(line.comm, "bash");
  const exit = await p.row<Row>((x) =>
    x.pid === line.pid && x.command === "exit"
  );
  assert.ok(exit);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("oomkill: a child that outgrows its memory cgroup is the OOM victim", async () => {
  await using p = startProbe("oomkill", ["--json"]);
  await p.attached();
  await oomKillTail();
  interface Row {
    tpid: number;
    tcomm: string;
    pid: number;
    comm: string;
    total_vm_kib: number;
    loadavg: string;
  }
  const row = await p.row<Row>((x) => x.comm === "tail");
  assert.ok(row.pid > 0 && row.tpid > 0);
  // tail grew to the cgroup's 32 MiB before it was killed.
  assert.ok(row.total_vm_kib > 32 * 1024 / 2, `${row.total_vm_kib} kB`);
  assert.match(row.loadavg, /^\d+\.\d\d \d+\.\d\d \d+\.\d\d$/);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});
