/**
 * More of BCC's flags, run for real through `bpfpm run`: killsnoop -T (one target PID),
 * statsnoop -s (the syscall column), and -u taking a user name as well as a UID.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertEventTime,
  directArgv,
  directWrites,
  histCount,
  type JsonHist,
  offcpuOfBlockedReader,
  reap,
  runCmd,
  spawnBusyDd,
  startProbe,
} from "./_helpers.ts";

Deno.test("killsnoop -T: only signals sent to that PID", async () => {
  const a = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const b = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await using p = startProbe("killsnoop", [
      "--json",
      "-p",
      String(Deno.pid),
      "-T",
      String(a.pid),
    ]);
    await p.attached();
    // b first: its event, had it passed the filter, would be in the ring before a's.
    Deno.kill(b.pid, "SIGTERM");
    Deno.kill(a.pid, "SIGTERM");
    interface Row {
      time: string;
      tpid: number;
      sig: number;
      result: number;
      call: string;
    }
    const row = await p.row<Row>((r) => r.tpid === a.pid);
    assertEventTime(row);
    assert.deepEqual([row.sig, row.result, row.call], [15, 0, "kill"]);
    const tpids = new Set(p.rows<Row>().map((r) => r.tpid));
    assert.deepEqual(
      [...tpids],
      [a.pid],
      `rows for other targets: ${[...tpids]}`,
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await reap([a, b]);
  }
});

Deno.test("killsnoop -T takes a PID only", async () => {
  await using p = startProbe("killsnoop", ["-T", "init"]);
  const r = await p.exited();
  assert.equal(r.code, 2, p.stderr);
  assert.match(
    p.stderr,
    /-T TPID must be an integer of at least 1, got "init"/,
  );
});

Deno.test("statsnoop -s: a SYSCALL column naming the stat call", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-statsnoop-s-" });
  try {
    const missing = join(dir, "not-here");
    await using p = startProbe("statsnoop", ["-s", "-p", String(Deno.pid)]);
    await p.attached();
    assert.throws(() => Deno.statSync(missing));
    await p.until(
      () => p.stdout.includes(missing),
      30_000,
      "the stat of the missing file",
    );
    const lines = p.stdout.split("\n");
    assert.match(lines[0], /^PID +COMM +RET +ERR +SYSCALL +PATH$/);
    const line = lines.find((l) => l.endsWith(missing))!;
    assert.match(
      line,
      new RegExp(
        `^${Deno.pid} +\\S.* +-1 +2 +(stat|lstat|fstatat|statx) +${missing}$`,
      ),
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("execsnoop -u takes a user name: root's execs shown, and an unknown name refused", async () => {
  await using p = startProbe("execsnoop", ["--json", "-u", "root"]);
  await p.attached();
  const ran = await runCmd("/bin/true", []);
  interface Row {
    pid: number;
  }
  await p.row<Row>((r) => r.pid === ran.pid);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();

  await using q = startProbe("execsnoop", ["-u", "no-such-user-bpfpm"]);
  const r = await q.exited();
  assert.equal(r.code, 2, q.stderr);
  assert.match(
    q.stderr,
    /-u no-such-user-bpfpm: no such user in \/etc\/passwd; pass a user name or a numeric UID/,
  );
});

/** The count of a histogram equals its slots' sum; avg is total / count; each value is at least its slot's start. */
function assertExtension(h: JsonHist) {
  const count = h.count!, total = h.total_us!;
  assert.ok(count > 0, JSON.stringify(h));
  assert.equal(count, histCount(h));
  assert.equal(h.avg_us, Math.floor(total / count));
  const floor = h.buckets.reduce((n, b) => n + b.count * b.min_us, 0);
  assert.ok(total >= floor, `total ${total} < ${floor}`);
}

Deno.test("cpudist -e: the average, total and count of each histogram", async () => {
  await using p = startProbe("cpudist", ["--json", "-P", "-e"]);
  await p.attached();
  const kid = new Deno.Command("sh", {
    args: ["-c", "while :; do :; done"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 1000));
  kid.kill("SIGKILL");
  await kid.status;
  assert.equal((await p.stop()).code, 0, p.stderr);
  const h = p.rows<JsonHist>().find((x) => x.pid === kid.pid);
  assert.ok(h, `no histogram for ${kid.pid}`);
  assertExtension(h);
  await p.assertUnloaded();

  // Table mode: BCC's line after the histogram.
  await using q = startProbe("cpudist", ["-e", "1", "1"]);
  assert.equal((await q.exited()).code, 0, q.stderr);
  assert.match(
    q.stdout,
    /\n\navg = \d+ usecs, total: \d+ usecs, count: [1-9]\d*\n/,
  );
});

Deno.test("biolatency -e: direct writes' average latency", async () => {
  await using p = startProbe("biolatency", ["--json", "-e"]);
  await p.attached();
  const dir = await Deno.makeTempDir({
    dir: "/var/tmp",
    prefix: "bpfpm-bio-e-",
  });
  try {
    await directWrites(dir, "4k", 20, true);
    assert.equal((await p.stop()).code, 0, p.stderr);
    const [h] = p.rows<JsonHist>();
    assert.ok(h, p.stdout);
    assert.ok(h.count! >= 20, JSON.stringify(h));
    assertExtension(h);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tcpconnect -L: an LPORT column with the connecting socket's local port", async () => {
  using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (server.addr as Deno.NetAddr).port;
  await using p = startProbe("tcpconnect", ["-L", "-p", String(Deno.pid)]);
  await p.attached();
  const accepted = server.accept();
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  const lport = (c.localAddr as Deno.NetAddr).port;
  (await accepted).close();
  c.close();
  await p.until(
    () => p.stdout.split("\n").some((l) => l.endsWith(` ${port}`)),
    15_000,
    "the connect's line",
  );
  const lines = p.stdout.split("\n");
  assert.match(lines[0], /^PID +COMM +IP +SADDR +LPORT +DADDR +DPORT$/);
  const line = lines.find((l) => l.endsWith(` ${port}`))!;
  assert.match(
    line,
    new RegExp(
      `^${Deno.pid} +\\S+ +4 +127\\.0\\.0\\.1 +${lport} +127\\.0\\.0\\.1 +${port}$`,
    ),
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

/** offcputime --state STATE's rows for a reader blocked in read() for 300 ms. */
async function offcpuWithState(state: string) {
  const { rows } = await offcpuOfBlockedReader(["--json", "--state", state]);
  return rows as { pid: number; off_cpu_us: number }[];
}

Deno.test("offcputime --state: 1 (TASK_INTERRUPTIBLE) keeps a read() wait, 2 (uninterruptible) leaves it out", async () => {
  const interruptible = await offcpuWithState("1");
  const blocked = interruptible.find((r) => r.off_cpu_us >= 250_000);
  assert.ok(blocked, JSON.stringify(interruptible));
  const uninterruptible = await offcpuWithState("2");
  assert.ok(
    !uninterruptible.some((r) => r.off_cpu_us >= 250_000),
    JSON.stringify(uninterruptible),
  );
});

Deno.test("profile -a: kernel frames end in _[k], user frames do not", async () => {
  const dd = spawnBusyDd();
  try {
    const run = async (extra: string[]) => {
      await using p = startProbe("profile", [
        "-f",
        "-F",
        "99",
        "-p",
        String(dd.pid),
        ...extra,
        "2",
      ]);
      assert.equal((await p.exited()).code, 0, p.stderr);
      return p.stdout.split("\n").filter((l) => l.startsWith("dd;"));
    };
    const annotated = await run(["-a"]);
    const kernelFrames = annotated.flatMap((l) =>
      l.replace(/ \d+$/, "").split(";").slice(1)
    ).filter((f) => f.endsWith("_[k]"));
    assert.ok(kernelFrames.length > 0, annotated.join("\n"));
    assert.ok(kernelFrames.some((f) => /^(entry_SYSCALL|do_syscall)/.test(f)));
    // In a folded line user frames come first: none of them is annotated.
    for (const l of annotated) {
      const frames = l.replace(/ \d+$/, "").split(";").slice(1);
      const firstK = frames.findIndex((f) => f.endsWith("_[k]"));
      if (firstK >= 0) {
        assert.ok(frames.slice(firstK).every((f) => f.endsWith("_[k]")), l);
      }
    }
    const plain = await run([]);
    assert.ok(plain.length > 0);
    assert.ok(!plain.some((l) => l.includes("_[k]")), plain.join("\n"));
  } finally {
    dd.kill("SIGKILL");
    await dd.status;
  }
});

Deno.test("execsnoop --cgroup: only the execs of processes in that cgroup", async () => {
  const cg = `/sys/fs/cgroup/unified/bpfpm-test-${Deno.pid}`;
  await Deno.mkdir(cg);
  try {
    // Under bpfpm run the probe may not stat /sys: the cgroup goes by its id.
    const id = String(Deno.statSync(cg).ino);
    await using p = startProbe("execsnoop", ["--json", "--cgroup", id]);
    await p.attached();
    const outside = await runCmd("/bin/true", []);
    const inside = await runCmd("/bin/sh", [
      "-c",
      `echo $$ > ${cg}/cgroup.procs && exec /bin/true`,
    ]);
    assert.equal(inside.code, 0, inside.stderr);
    interface Row {
      pid: number;
      comm: string;
    }
    const row = await p.row<Row>((r) => r.pid === inside.pid);
    assert.equal(row.comm, "true");
    assert.ok(!p.rows<Row>().some((r) => r.pid === outside.pid));
    assert.deepEqual(
      [...new Set(p.rows<Row>().map((r) => r.pid))],
      [inside.pid],
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
    // Run directly (deno run -A), the probe takes the directory itself.
    const direct = await runCmd(
      Deno.execPath(),
      directArgv("execsnoop", ["--cgroup", cg, "-d", "1"]),
    );
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(direct.stdout, /^PCOMM +PID +PPID +RET +ARGS$/m);
  } finally {
    await Deno.remove(cg);
  }

  // bpfpm run resolves a cgroup directory for the package; anything else is one line.
  await using bad = startProbe("execsnoop", ["--cgroup", "/etc"]);
  assert.equal((await bad.exited()).code, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /--cgroup \/etc is not a cgroup v2 directory \(no cgroup.controllers in it\): name one under the cgroup2 mount, or pass its id/,
  );
  assert.doesNotMatch(bad.stderr, /Tracing/);
});

Deno.test("biosnoop -P: S when an I/O starts where the disk's previous one ended, else R", async () => {
  await using p = startProbe("biosnoop", ["--json", "-P"]);
  await p.attached();
  const dir = await Deno.makeTempDir({
    dir: "/var/tmp",
    prefix: "bpfpm-bio-P-",
  });
  try {
    await directWrites(dir, "64k", 100, false);
    interface Row {
      comm: string;
      disk: string;
      sector: number;
      bytes: number;
      pattern: string;
    }
    await p.until(
      () => p.rows<Row>().filter((r) => r.comm === "dd").length >= 100,
      30_000,
      "dd's 100 writes",
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    const rows = p.rows<Row>();
    const end = new Map<string, number>();
    for (const r of rows) {
      const last = end.get(r.disk);
      const want = last === undefined ? "?" : last === r.sector ? "S" : "R";
      assert.equal(r.pattern, want, JSON.stringify(r));
      end.set(r.disk, r.sector + r.bytes / 512);
    }
    // One file written front to back: mostly sequential.
    const dds = rows.filter((r) => r.comm === "dd");
    const seq = dds.filter((r) => r.pattern === "S").length;
    assert.ok(seq > dds.length / 2, dds.map((r) => r.pattern).join(""));
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("opensnoop -F: a relative path is shown joined to the opener's working directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-opensnoop-F-" });
  try {
    await Deno.mkdir(join(dir, "sub"));
    const name = `missing-${Deno.pid}`;
    const run = async (extra: string[]) => {
      await using p = startProbe("opensnoop", ["--json", "-x", ...extra]);
      await p.attached();
      const cat = await runCmd("/bin/sh", [
        "-c",
        `cd ${join(dir, "sub")} && exec cat ${name}`,
      ]);
      assert.notEqual(cat.code, 0);
      interface Row {
        pid: number;
        path: string;
        err: number;
      }
      const row = await p.row<Row>((r) =>
        r.pid === cat.pid && r.path.endsWith(name)
      );
      assert.equal((await p.stop()).code, 0, p.stderr);
      await p.assertUnloaded();
      return row;
    };
    const full = await run(["-F"]);
    assert.deepEqual([full.path, full.err], [join(dir, "sub", name), 2]);
    const plain = await run([]);
    assert.equal(plain.path, name);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("syscount -t and --syscall: only this thread's statx calls", async () => {
  // The thread running this test (under deno test, not always the process's first).
  const tid = Deno.readLinkSync("/proc/thread-self").split("/").pop()!;
  await using p = startProbe("syscount", [
    "--json",
    "-t",
    tid,
    "--syscall",
    "statx",
  ]);
  await p.attached();
  for (let i = 0; i < 200; i++) Deno.statSync("/");
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
  const rows = p.rows<{ syscall: string; count: number }>();
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].syscall, "statx");
  assert.ok(rows[0].count >= 200, JSON.stringify(rows));
});

Deno.test("syscount -c PPID: only the calls of that process's children", async () => {
  await using p = startProbe("syscount", [
    "--json",
    "-P",
    "-c",
    String(Deno.pid),
    "-T",
    "1000",
  ]);
  await p.attached();
  const kids = [];
  for (let i = 0; i < 3; i++) kids.push(await runCmd("/bin/true", []));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
  const rows = p.rows<{ pid: number; comm: string; count: number }>();
  for (const k of kids) {
    assert.ok(rows.some((r) => r.pid === k.pid), `no row for ${k.pid}`);
  }
  assert.ok(!rows.some((r) => r.pid === Deno.pid), "the parent was counted");

  await using bad = startProbe("syscount", ["--syscall", "no_such_call"]);
  assert.equal((await bad.exited()).code, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /--syscall no_such_call: this kernel has no syscall of that name/,
  );
});
