/**
 * More of BCC's flags, run for real through `bpfpm run`: killsnoop -T (one target PID),
 * statsnoop -s (the syscall column), and -u taking a user name as well as a UID.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCmd, startProbe } from "./_helpers.ts";

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
      tpid: number;
      sig: number;
      result: number;
    }
    const row = await p.row<Row>((r) => r.tpid === a.pid);
    assert.deepEqual([row.sig, row.result], [15, 0]);
    const tpids = new Set(p.rows<Row>().map((r) => r.tpid));
    assert.deepEqual(
      [...tpids],
      [a.pid],
      `rows for other targets: ${[...tpids]}`,
    );
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    for (const c of [a, b]) {
      try {
        c.kill("SIGKILL");
      } catch { /* already gone */ }
      await c.status;
    }
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
