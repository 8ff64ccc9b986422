/**
 * BCC's flags, run for real: the filters (-x, -e, -p), the other output modes (-c, -f, -F)
 * and their effect on the rows.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertEventTime,
  directWrites,
  histCount,
  type JsonHist,
  runCmd,
  sleep,
  startProbe,
} from "./_helpers.ts";

Deno.test("execsnoop without -x leaves failed exec()s out", async () => {
  await using p = startProbe("execsnoop", ["--json"]);
  await p.attached();
  const failed = await runCmd("/bin/sh", [
    "-c",
    "exec /nonexistent-bpfpm-flags 2>/dev/null",
  ]);
  const ok = await runCmd("/bin/true", []);
  interface Row {
    pid: number;
    ret: number;
    args: string[];
  }
  await p.row<Row>((r) => r.pid === ok.pid);
  assert.ok(!p.rows<Row>().some((r) => r.ret !== 0));
  assert.ok(
    !p.rows<Row>().some((r) =>
      r.pid === failed.pid && r.args[0] === "/nonexistent-bpfpm-flags"
    ),
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("opensnoop -x -p: only this process's failed opens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-probe-flags-" });
  try {
    const file = join(dir, "present");
    await Deno.writeTextFile(file, "x");
    await using p = startProbe("opensnoop", [
      "--json",
      "-x",
      "-p",
      String(Deno.pid),
    ]);
    await p.attached();
    Deno.readTextFileSync(file);
    assert.throws(() => Deno.readTextFileSync(join(dir, "absent")));
    interface Row {
      pid: number;
      err: number;
      path: string;
    }
    await p.row<Row>((r) => r.path === join(dir, "absent"));
    const rows = p.rows<Row>();
    assert.ok(rows.every((r) => r.pid === Deno.pid && r.err !== 0));
    assert.ok(!rows.some((r) => r.path === file));
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exitsnoop -x: an exit(0) is left out, an exit(5) is shown", async () => {
  await using p = startProbe("exitsnoop", ["--json", "-x"]);
  await p.attached();
  const zero = await runCmd("/bin/sh", ["-c", "exit 0"]);
  const five = await runCmd("/bin/sh", ["-c", "exit 5"]);
  interface Row {
    pid: number;
    exit_code: number;
  }
  const row = await p.row<Row>((r) => r.pid === five.pid);
  assert.equal(row.exit_code, 5);
  assert.ok(!p.rows<Row>().some((r) => r.pid === zero.pid));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("syscount -x -e ENOENT: only the calls that failed with ENOENT", async () => {
  await using p = startProbe("syscount", [
    "--json",
    "-x",
    "-e",
    "ENOENT",
    "-p",
    String(Deno.pid),
  ]);
  await p.attached();
  for (let i = 0; i < 50; i++) {
    assert.throws(() => Deno.statSync(`/nonexistent-bpfpm-${i}`));
  }
  for (let i = 0; i < 50; i++) Deno.statSync("/");
  assert.equal((await p.stop()).code, 0, p.stderr);
  interface Row {
    syscall: string;
    count: number;
  }
  const statx = p.rows<Row>().find((r) => r.syscall === "statx");
  assert.ok(statx, JSON.stringify(p.rows()));
  // The 50 successful statx calls are not counted.
  assert.ok(statx.count >= 50 && statx.count < 100, `${statx.count}`);
  await p.assertUnloaded();
});

Deno.test("tcpconnect -c: connects counted by address and port", async () => {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  await using p = startProbe("tcpconnect", [
    "--json",
    "-c",
    "-P",
    String(port),
  ]);
  await p.attached();
  for (let i = 0; i < 3; i++) {
    const accepted = l.accept();
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    (await accepted).close();
    c.close();
  }
  await sleep(200);
  assert.equal((await p.stop()).code, 0, p.stderr);
  const rows = p.rows();
  for (const r of rows) assertEventTime(r);
  assert.deepEqual(rows.map((r) => ({ ...r, time: undefined })), [
    {
      time: undefined,
      saddr: "127.0.0.1",
      daddr: "127.0.0.1",
      dport: port,
      connects: 3,
    },
  ]);
  await p.assertUnloaded();
});

Deno.test("offcputime -f: folded stacks, comm first and the value last", async () => {
  await using p = startProbe("offcputime", ["-f", "-m", "200000"]);
  await p.attached();
  await runCmd("sleep", ["0.4"]);
  assert.equal((await p.stop()).code, 0, p.stderr);
  const lines = p.stdout.trim().split("\n").filter((l) =>
    l.startsWith("sleep;")
  );
  const slept = lines.find((l) => l.includes(";do_nanosleep;"));
  assert.ok(slept, p.stdout.slice(-2000));
  // comm;user frames (outermost first);kernel frames (outermost first) microseconds
  assert.match(
    slept,
    /^sleep;.*entry_SYSCALL_64[^;]*;.*;do_nanosleep;.*schedule \d+$/,
  );
  const us = Number(slept.split(" ").pop());
  assert.ok(us >= 300_000 && us < 5_000_000, `${us}`);
  await p.assertUnloaded();
});

Deno.test("biolatency -F: direct synchronous writes are Sync-Write I/O", async () => {
  await using p = startProbe("biolatency", ["--json", "-F"]);
  await p.attached();
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "bpfpm-bio-" });
  try {
    await directWrites(dir, "4k", 50, true);
    assert.equal((await p.stop()).code, 0, p.stderr);
    const hists = p.rows<JsonHist>();
    const writes = hists.filter((h) => /Write$/.test(h.flags!));
    const n = writes.reduce((t, h) => t + histCount(h), 0);
    assert.ok(n >= 50, JSON.stringify(hists.map((h) => h.flags)));
    assert.ok(writes.some((h) => h.flags!.includes("Sync")));
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
