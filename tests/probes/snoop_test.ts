/**
 * The event probes, run for real: each is started as a child with `--json`, its event is
 * triggered, its row is checked field by field, and after SIGINT its programs are gone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertEventTime, runCmd, startProbe } from "./_helpers.ts";

Deno.test("execsnoop: a successful and a failed exec, with pid, ppid, comm, ret and args", async () => {
  await using p = startProbe("execsnoop", ["--json", "-x"]);
  await p.attached();
  const ok = await runCmd("/bin/echo", ["alpha", "beta"]);
  const failed = await runCmd("/bin/sh", [
    "-c",
    "exec /nonexistent-bpfpm-probe-test 2>/dev/null",
  ]);
  assert.notEqual(failed.code, 0);
  interface Row {
    pid: number;
    ppid: number;
    comm: string;
    ret: number;
    args: string[];
    uid: number;
  }
  const echo = await p.row<Row & { cpu: number; pcomm: string }>((r) =>
    r.pid === ok.pid && r.ret === 0
  );
  assert.ok(echo.cpu >= 0 && echo.cpu < navigator.hardwareConcurrency);
  assert.equal(typeof echo.pcomm, "string");
  assert.deepEqual(
    { ...echo, time: undefined, ts: undefined, cpu: 0, pcomm: "" },
    {
      time: undefined,
      ts: undefined,
      cpu: 0,
      pcomm: "",
      pid: ok.pid,
      ppid: Deno.pid,
      uid: 0,
      comm: "echo",
      ret: 0,
      args: ["/bin/echo", "alpha", "beta"],
    },
  );
  const bad = await p.row<Row>((r) =>
    r.pid === failed.pid && r.args[0] === "/nonexistent-bpfpm-probe-test"
  );
  assert.equal(bad.ret, -2);
  assert.equal(bad.comm, "sh");
  assert.equal(bad.ppid, Deno.pid);
  const status = await p.stop();
  assert.equal(status.code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("opensnoop: an open that succeeds and one that fails, with fd and errno", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-probe-open-" });
  try {
    const file = join(dir, "present");
    await Deno.writeTextFile(file, "x");
    await using p = startProbe("opensnoop", ["--json"]);
    await p.attached();
    const hit = await runCmd("cat", [file]);
    const miss = await runCmd("cat", [join(dir, "absent")]);
    interface Row {
      pid: number;
      comm: string;
      fd: number;
      err: number;
      path: string;
    }
    const good = await p.row<Row>((r) => r.pid === hit.pid && r.path === file);
    assert.equal(good.comm, "cat");
    assert.equal(good.err, 0);
    assert.ok(good.fd >= 3, `fd ${good.fd}`);
    const bad = await p.row<Row>((r) =>
      r.pid === miss.pid && r.path === join(dir, "absent")
    );
    assert.deepEqual([bad.fd, bad.err, bad.comm], [-1, 2, "cat"]);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exitsnoop: an exit code and a fatal signal, with ppid and age", async () => {
  await using p = startProbe("exitsnoop", ["--json"]);
  await p.attached();
  const three = await runCmd("/bin/sh", ["-c", "exit 3"]);
  assert.equal(three.code, 3);
  const killed = new Deno.Command("sleep", { args: ["30"] }).spawn();
  await new Promise((r) => setTimeout(r, 300));
  killed.kill("SIGKILL");
  await killed.status;
  interface Row {
    time: string;
    pid: number;
    ppid: number;
    tid: number;
    comm: string;
    exit_code: number;
    signal: string | null;
    core_dumped: boolean;
    exit: string;
    age_s: number;
  }
  const a = await p.row<Row>((r) => r.pid === three.pid);
  assertEventTime(a);
  assert.deepEqual(Object.keys(a), [
    "time",
    "comm",
    "pid",
    "ppid",
    "tid",
    "age_s",
    "exit",
    "exit_code",
    "signal",
    "core_dumped",
  ]);
  assert.deepEqual(
    [a.comm, a.ppid, a.tid, a.exit_code, a.signal, a.core_dumped, a.exit],
    ["sh", Deno.pid, three.pid, 3, null, false, "code 3"],
  );
  assert.ok(a.age_s >= 0 && a.age_s < 10, `age ${a.age_s}`);
  const k = await p.row<Row>((r) => r.pid === killed.pid);
  assert.deepEqual([k.comm, k.signal, k.exit_code, k.exit], [
    "sleep",
    "SIGKILL",
    0,
    "signal 9 (SIGKILL)",
  ]);
  assert.ok(k.age_s >= 0.2, `age ${k.age_s}`);
  // The exit's time is the kernel's: after the kill was sent, before it was reaped.
  assert.ok(new Date(k.time) >= new Date(a.time), `${k.time} < ${a.time}`);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("statsnoop: stat of a present and of a missing file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-probe-stat-" });
  try {
    const file = join(dir, "present");
    await Deno.writeTextFile(file, "x");
    await using p = startProbe("statsnoop", ["--json", "-p", String(Deno.pid)]);
    await p.attached();
    Deno.statSync(file);
    assert.throws(() => Deno.statSync(join(dir, "absent")));
    interface Row {
      time: string;
      pid: number;
      ret: number;
      err: number;
      path: string;
      call: string;
    }
    const ok = await p.row<Row>((r) => r.path === file);
    assertEventTime(ok);
    // No -t: no ts_s; the syscall by name, from the record.
    assert.deepEqual(Object.keys(ok), [
      "time",
      "pid",
      "comm",
      "ret",
      "err",
      "path",
      "call",
    ]);
    assert.match(ok.call, /^(stat|lstat|fstatat|statx)$/);
    assert.deepEqual([ok.pid, ok.ret, ok.err], [Deno.pid, 0, 0]);
    const bad = await p.row<Row>((r) => r.path === join(dir, "absent"));
    assert.deepEqual([bad.pid, bad.ret, bad.err], [Deno.pid, -1, 2]);
    assert.ok(p.rows<Row>().every((r) => r.pid === Deno.pid));
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killsnoop: a SIGTERM to a sleeping child and a kill that fails", async () => {
  await using p = startProbe("killsnoop", ["--json", "-p", String(Deno.pid)]);
  await p.attached();
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  await new Promise((r) => setTimeout(r, 200));
  Deno.kill(child.pid, "SIGTERM");
  assert.equal((await child.status).signal, "SIGTERM");
  // No process has this pid (pid_max is at most 2^22).
  assert.throws(() => Deno.kill(4_194_305, "SIGUSR1"));
  interface Row {
    time: string;
    pid: number;
    comm: string;
    sig: number;
    tpid: number;
    result: number;
    call: string;
  }
  const term = await p.row<Row>((r) => r.tpid === child.pid);
  assertEventTime(term);
  assert.deepEqual(Object.keys(term), [
    "time",
    "pid",
    "comm",
    "sig",
    "tpid",
    "result",
    "call",
  ]);
  assert.deepEqual([term.pid, term.sig, term.result, term.call], [
    Deno.pid,
    15,
    0,
    "kill",
  ]);
  const failed = await p.row<Row>((r) => r.tpid === 4_194_305);
  assert.deepEqual([failed.sig, failed.result], [10, -3]);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("mountsnoop: mount and umount of a tmpfs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-probe-mnt-" });
  let mounted = false;
  try {
    await using p = startProbe("mountsnoop", ["--json"]);
    await p.attached();
    const m = await runCmd("mount", [
      "-t",
      "tmpfs",
      "-o",
      "size=1m",
      "bpfpmprobetest",
      dir,
    ]);
    assert.equal(m.code, 0, m.stderr);
    mounted = true;
    const u = await runCmd("umount", [dir]);
    assert.equal(u.code, 0, u.stderr);
    mounted = false;
    interface Row {
      pid: number;
      comm: string;
      op: string;
      source: string;
      target: string;
      fstype: string;
      data: string;
      ret: number;
      call: string;
    }
    const mr = await p.row<Row>((r) => r.op === "mount" && r.target === dir);
    assertEventTime(mr);
    assert.deepEqual(
      [mr.pid, mr.comm, mr.source, mr.fstype, mr.data, mr.ret],
      [m.pid, "mount", "bpfpmprobetest", "tmpfs", "size=1m", 0],
    );
    const ur = await p.row<Row>((r) => r.op === "umount" && r.target === dir);
    assert.deepEqual([ur.pid, ur.comm, ur.ret], [u.pid, "umount", 0]);
    assert.equal(ur.call, `umount(${JSON.stringify(dir)}, 0x0) = 0`);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    if (mounted) await runCmd("umount", ["-l", dir]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("execsnoop -T -U: BCC's columns in table mode", async () => {
  await using p = startProbe("execsnoop", ["-T", "-U"]);
  await p.attached();
  const ran = await runCmd("/bin/echo", ["table", "test"]);
  await p.until(
    () => p.stdout.includes(`/bin/echo table test`),
    15_000,
    "the echo line",
  );
  const lines = p.stdout.split("\n");
  assert.equal(
    lines[0],
    "TIME     UID    PCOMM            PID     PPID    RET ARGS",
  );
  const line = lines.find((l) => l.endsWith("/bin/echo table test"))!;
  assert.match(
    line,
    new RegExp(
      `^\\d\\d:\\d\\d:\\d\\d 0      echo {13}${ran.pid} +${Deno.pid} +0 /bin/echo table test$`,
    ),
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("mountsnoop: the new mount API (fsopen, fsconfig, fsmount, move_mount)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-probe-newmnt-" });
  const libc = Deno.dlopen("libc.so.6", {
    syscall: {
      parameters: ["i64", "i64", "i64", "i64", "i64", "i64"],
      result: "i64",
    },
  });
  let mounted = false;
  const fds: bigint[] = [];
  try {
    await using p = startProbe("mountsnoop", [
      "--json",
      "-p",
      String(Deno.pid),
    ]);
    await p.attached();
    const bufs: Uint8Array<ArrayBuffer>[] = [];
    const str = (s: string) => {
      const b = new TextEncoder().encode(s + "\0");
      bufs.push(b);
      return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
    };
    const sys = (...a: bigint[]) =>
      libc.symbols.syscall(
        ...(a.concat([0n, 0n, 0n, 0n, 0n]).slice(0, 6) as [
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
          bigint,
        ]),
      ) as bigint;
    // x86_64: move_mount 429, fsopen 430, fsconfig 431, fsmount 432.
    const fd = sys(430n, str("tmpfs"), 0n);
    assert.ok(fd >= 0n, `fsopen ${fd}`);
    fds.push(fd);
    assert.equal(sys(431n, fd, 1n, str("size"), str("1m"), 0n), 0n);
    assert.equal(sys(431n, fd, 6n), 0n);
    const mfd = sys(432n, fd, 0n, 0n);
    assert.ok(mfd >= 0n, `fsmount ${mfd}`);
    fds.push(mfd);
    assert.equal(sys(429n, mfd, str(""), -100n, str(dir), 4n), 0n);
    mounted = true;
    interface Row {
      pid: number;
      op: string;
      call: string;
      ret: number;
    }
    const move = await p.row<Row>((r) => r.op === "move_mount");
    assert.equal(
      move.call,
      `move_mount(${mfd}, "", AT_FDCWD, ${JSON.stringify(dir)}, 0x4) = 0`,
    );
    const calls = p.rows<Row>().map((r) => r.call);
    assert.deepEqual(calls.slice(0, 4), [
      `fsopen("tmpfs", 0x0) = ${fd}`,
      `fsconfig(${fd}, FSCONFIG_SET_STRING, "size", "1m", 0) = 0`,
      `fsconfig(${fd}, FSCONFIG_CMD_CREATE, "", NULL, 0) = 0`,
      `fsmount(${fd}, 0x0, 0x0) = ${mfd}`,
    ]);
    assert.ok(p.rows<Row>().every((r) => r.pid === Deno.pid));
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    // The fs context and mount fds hold the mount: close them (syscall 3) first.
    for (const fd of fds) libc.symbols.syscall(3n, fd, 0n, 0n, 0n, 0n);
    libc.close();
    if (mounted) await runCmd("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
});
