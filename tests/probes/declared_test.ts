/**
 * bashreadline, exitsnoop, killsnoop, mountsnoop, offcputime, statsnoop and tcplife rendered
 * from their declarations alone (`bpfpm run ./probes/NAME --output ndjson -- --PARAM`): each
 * declared `.rodata` parameter reaches the program before load and filters real events; the
 * records carry the declared fields (RFC 3339 `ts`, units in names, errnos and signals by name).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  loopbackSession,
  reap,
  REPO,
  RFC3339,
  runCmd,
  sleep,
  startBpfpm,
} from "./_helpers.ts";

/** `bpfpm run ./probes/NAME --yes --output ndjson -- ...params`. */
function declared(name: string, params: string[]) {
  return startBpfpm(
    ["run", `./probes/${name}`, "--yes", "--output", "ndjson", "--", ...params],
    { cwd: REPO },
  );
}

type Rec = Record<string, unknown>;

Deno.test("declared exitsnoop --failed: an exit(0) is left out, an exit(5) rendered", async () => {
  await using p = declared("exitsnoop", ["--failed"]);
  await p.attached();
  const zero = await runCmd("/bin/sh", ["-c", "exit 0"]);
  const five = await runCmd("/bin/sh", ["-c", "exit 5"]);
  const row = await p.row<Rec>((r) => r.pid === five.pid);
  assert.match(row.ts as string, RFC3339);
  assert.deepEqual(
    [row.comm, row.ppid, row.tid, row.exit_code, row.core],
    ["sh", Deno.pid, five.pid, 5, 0],
  );
  assert.ok(!p.rows<Rec>().some((r) => r.pid === zero.pid));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("declared killsnoop --pid --signal --tpid: only this process's SIGTERM to one target", async () => {
  const a = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const b = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    await using p = declared("killsnoop", [
      "--pid",
      String(Deno.pid),
      "--signal",
      "15",
      "--tpid",
      String(a.pid),
    ]);
    await p.attached();
    // Each left-out signal goes first: had it passed the filters, its row would come first.
    Deno.kill(a.pid, "SIGCONT");
    Deno.kill(b.pid, "SIGTERM");
    Deno.kill(a.pid, "SIGTERM");
    const row = await p.row<Rec>((r) => r.tpid === a.pid);
    assert.match(row.ts as string, RFC3339);
    assert.deepEqual(
      [row.pid, row.sig, row.ret, row.call],
      [Deno.pid, "SIGTERM", 0, "kill"],
    );
    assert.deepEqual(p.rows<Rec>().map((r) => [r.tpid, r.sig]), [
      [a.pid, "SIGTERM"],
    ]);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await reap([a, b]);
  }
});

Deno.test("declared statsnoop --pid --failed: this process's failed stat only, its errno by name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-declared-stat-" });
  try {
    const present = join(dir, "present");
    const absent = join(dir, "absent");
    await Deno.writeTextFile(present, "x");
    await using p = declared("statsnoop", [
      "--pid",
      String(Deno.pid),
      "--failed",
    ]);
    await p.attached();
    Deno.statSync(present);
    assert.throws(() => Deno.statSync(absent));
    const row = await p.row<Rec>((r) => r.pathname === absent);
    assert.match(row.ts as string, RFC3339);
    assert.equal(row.pid, Deno.pid);
    assert.equal(row.ret, "ENOENT");
    assert.match(row.call as string, /^(stat|lstat|fstatat|statx)$/);
    const rows = p.rows<Rec>();
    assert.ok(!rows.some((r) => r.pathname === present));
    assert.ok(
      rows.every((r) => r.pid === Deno.pid && /^E[A-Z]+$/.test(String(r.ret))),
      JSON.stringify(rows),
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("declared mountsnoop --pid: one process's mount(), not another's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-declared-mnt-" });
  // A mount of a file system type no kernel has: it fails (ENODEV) and mounts nothing.
  const mount = [
    "import ctypes, sys",
    "sys.stdin.readline()",
    "libc = ctypes.CDLL(None, use_errno=True)",
    `libc.mount(b"bpfpm_src", ${
      JSON.stringify(dir)
    }.encode(), b"bpfpm_nofs", 0, None)`,
  ].join("\n");
  const target = new Deno.Command("python3", {
    args: ["-c", mount],
    stdin: "piped",
  }).spawn();
  try {
    await using p = declared("mountsnoop", ["--pid", String(target.pid)]);
    await p.attached();
    const other = await runCmd("python3", ["-c", mount], { stdin: "\n" });
    assert.equal(other.code, 0, other.stderr);
    const w = target.stdin.getWriter();
    await w.write(new TextEncoder().encode("\n"));
    await w.close();
    assert.equal((await target.status).code, 0);
    const row = await p.row<Rec>((r) => r.pid === target.pid);
    assert.match(row.ts as string, RFC3339);
    assert.deepEqual(
      [row.op, row.src, row.dest, row.fs, row.ret, row.comm],
      [0, "bpfpm_src", dir, "bpfpm_nofs", "ENODEV", "python3"],
    );
    assert.ok(!p.rows<Rec>().some((r) => r.pid === other.pid));
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    try {
      target.kill("SIGKILL");
    } catch { /* exited */ }
    await target.status;
    await Deno.remove(dir, { recursive: true });
  }
});

/** Both ends of one session over [::1]; returns the server's port. */
async function ipv6Session(): Promise<number> {
  using l = Deno.listen({ hostname: "::1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const served = l.accept().then(async (c) => {
    await c.read(new Uint8Array(100));
    c.close();
  });
  const c = await Deno.connect({ hostname: "::1", port });
  await c.write(new Uint8Array(100));
  await served;
  c.close();
  return port;
}

Deno.test("declared tcplife --ipv6 --pid: this process's IPv6 sessions only, bytes and duration with units", async () => {
  await using p = declared("tcplife", ["--ipv6", "--pid", String(Deno.pid)]);
  await p.attached();
  const v4 = await loopbackSession(100, 100);
  const port = await ipv6Session();
  const server = await p.row<Rec>((r) => r.lport === port);
  assert.match(server.ts as string, RFC3339);
  assert.deepEqual(
    [server.pid, server.family, server.saddr, server.daddr],
    [Deno.pid, 10, "::1", "::1"],
  );
  // bytes_received counts the FIN too.
  const rx = server.rx_bytes as number;
  assert.ok(rx >= 100 && rx <= 101, `rx_bytes ${rx}`);
  assert.ok((server.span_ns as number) > 0, JSON.stringify(server));
  await p.row<Rec>((r) => r.rport === port);
  const rows = p.rows<Rec>();
  assert.ok(rows.every((r) => r.family === 10 && r.pid === Deno.pid));
  assert.ok(!rows.some((r) => r.lport === v4.port || r.rport === v4.port));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

/**
 * Declared offcputime with `params` and `--pid` of a shell that blocks reading its stdin
 * for 300 ms once the probe is attached; the metric rows printed at Ctrl-C.
 */
async function offcpuOfReader(params: string[]) {
  const sh = new Deno.Command("sh", {
    args: ["-c", "read x; read y"],
    stdin: "piped",
  }).spawn();
  try {
    await using p = declared("offcputime", [
      ...params,
      "--pid",
      String(sh.pid),
    ]);
    await p.attached();
    const w = sh.stdin.getWriter();
    await w.write(new TextEncoder().encode("one\n"));
    await sleep(300);
    await w.write(new TextEncoder().encode("two\n"));
    await w.close();
    assert.equal((await sh.status).code, 0);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
    return { pid: sh.pid, rows: p.rows<Rec>() };
  } finally {
    try {
      sh.kill("SIGKILL");
    } catch { /* exited */ }
  }
}

Deno.test("declared offcputime --pid, --min-block-time: one shell's blocked time, and none under a 2 s minimum", async () => {
  const all = await offcpuOfReader([]);
  const metric = "offcputime_blocked_time_seconds";
  assert.ok(all.rows.length > 0, "no rows");
  for (const r of all.rows) {
    assert.deepEqual([r.metric, r.tid, r.comm], [
      metric,
      String(all.pid),
      "sh",
    ]);
    assert.match(r.time as string, RFC3339);
  }
  const blocked = all.rows.reduce((s, r) => s + (r.value as number), 0);
  assert.ok(blocked >= 0.25 && blocked < 5, `${blocked} s`);
  const none = await offcpuOfReader(["--min-block-time", "2000000"]);
  assert.deepEqual(none.rows, []);
});

Deno.test("declared bashreadline --shared: readline in any process, not only bash", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-declared-bash-" });
  try {
    // bash by another name: the same binary (so the uretprobe fires), comm "mysh".
    await Deno.symlink("/usr/bin/bash", join(dir, "mysh"));
    const lines = async (shell: string, marker: string) => {
      // script(1) gives the shell a terminal, so it is interactive and reads with readline.
      const r = await runCmd(
        "script",
        ["-qec", `${shell} --norc --noprofile -i`, "/dev/null"],
        { stdin: `echo ${marker}\nexit\n` },
      );
      assert.ok(r.stdout.includes(marker), r.stdout);
    };
    const marker = (what: string) =>
      `bpfpm_${what}_${Math.random().toString(36).slice(2, 10)}`;
    for (const shared of [false, true]) {
      await using p = declared("bashreadline", shared ? ["--shared"] : []);
      await p.attached();
      const renamed = marker("mysh");
      const bash = marker("bash");
      await lines(join(dir, "mysh"), renamed);
      await lines("bash", bash);
      const row = await p.row<Rec>((r) => r.str === `echo ${bash}`);
      assert.match(row.ts as string, RFC3339);
      assert.equal(row.comm, "bash");
      const other = p.rows<Rec>().find((r) => r.str === `echo ${renamed}`);
      if (shared) assert.equal(other?.comm, "mysh");
      else assert.equal(other, undefined, "--shared is off: mysh left out");
      assert.equal((await p.stop()).code, 0, p.stderr);
      await p.assertUnloaded();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
