/**
 * The event probes, run for real: each is started as a child with `--json`, its event is
 * triggered, its row is checked field by field, and after SIGINT its programs are gone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCmd, startProbe } from "./_helpers.ts";

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
  const echo = await p.row<Row>((r) => r.pid === ok.pid && r.ret === 0);
  assert.deepEqual(
    { ...echo, time: undefined, ts: undefined },
    {
      time: undefined,
      ts: undefined,
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
  p.assertUnloaded();
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
    p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
