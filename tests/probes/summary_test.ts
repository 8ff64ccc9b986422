/**
 * The summary probes (counts and histograms), run for real: a known workload is made while
 * the probe runs, then SIGINT makes it print its summary, which is checked.
 */
import assert from "node:assert/strict";
import {
  directWrites,
  histCount,
  type JsonHist,
  runCmd,
  startProbe,
} from "./_helpers.ts";

Deno.test("syscount: counts this process's statx calls, with -p and -L", async () => {
  await using p = startProbe("syscount", [
    "--json",
    "-L",
    "-p",
    String(Deno.pid),
    "-T",
    "50",
  ]);
  await p.attached();
  for (let i = 0; i < 300; i++) Deno.statSync("/");
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
  interface Row {
    syscall: string;
    count: number;
    latency_us: number;
  }
  const rows = p.rows<Row>();
  const statx = rows.find((r) => r.syscall === "statx");
  assert.ok(statx, JSON.stringify(rows));
  assert.ok(statx.count >= 300, `count ${statx.count}`);
  assert.ok(statx.latency_us > 0, `latency ${statx.latency_us}`);
  // Sorted by latency (-L), and only this process's syscalls were counted.
  const lat = rows.map((r) => r.latency_us);
  assert.deepEqual(lat, [...lat].sort((a, b) => b - a));
  assert.ok(!rows.some((r) => r.syscall === "execve"));
});

Deno.test("syscount -P: counts by process, with comm", async () => {
  await using p = startProbe("syscount", ["--json", "-P", "-T", "1000"]);
  await p.attached();
  const child = await runCmd("/bin/sh", [
    "-c",
    "for i in 1 2 3 4 5; do :; done",
  ]);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
  interface Row {
    pid: number;
    comm: string;
    count: number;
  }
  const row = p.rows<Row>().find((r) => r.pid === child.pid);
  assert.ok(row, `no row for ${child.pid}`);
  assert.ok(row.comm.length > 0);
  assert.ok(row.count > 10, `count ${row.count}`);
});

/** The disk under /var/tmp, e.g. `vda`. */
async function diskOfVarTmp(): Promise<string> {
  const src =
    (await runCmd("findmnt", ["-n", "-o", "SOURCE", "-T", "/var/tmp"]))
      .stdout.trim();
  const name = src.replace(/^\/dev\//, "");
  const pk = (await runCmd("lsblk", ["-n", "-o", "PKNAME", src])).stdout.trim();
  return pk || name;
}

Deno.test("biolatency -D: direct synchronous writes land in the disk's histogram", async () => {
  const disk = await diskOfVarTmp();
  await using p = startProbe("biolatency", ["--json", "-D"]);
  await p.attached();
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "bpfpm-bio-" });
  await directWrites(dir, "4k", 200, true);
  try {
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
    const hists = p.rows<JsonHist>();
    const h = hists.find((x) => x.disk === disk);
    assert.ok(h, `no histogram for ${disk}: ${JSON.stringify(hists)}`);
    assert.ok(histCount(h) >= 200, `${histCount(h)} I/Os`);
    assert.equal(h.buckets[0].min_us, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("biosnoop: each direct write is a 4096-byte W row of dd on the disk", async () => {
  const disk = await diskOfVarTmp();
  await using p = startProbe("biosnoop", ["--json", "-Q"]);
  await p.attached();
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "bpfpm-bio-" });
  const pid = await directWrites(dir, "4k", 20, true);
  try {
    interface Row {
      pid: number;
      comm: string;
      disk: string;
      t: string;
      bytes: number;
      sector: number;
      lat_ms: number;
      que_ms: number;
    }
    await p.until(
      () =>
        p.rows<Row>().filter((r) => r.pid === pid && r.bytes === 4096).length >=
          20,
      15_000,
      "20 rows of dd",
    );
    const rows = p.rows<Row>().filter((r) => r.pid === pid && r.bytes === 4096);
    for (const r of rows) {
      assert.deepEqual([r.comm, r.disk, r.t], ["dd", disk, "W"]);
      assert.ok(r.lat_ms > 0 && r.lat_ms < 10_000 && r.que_ms >= 0);
      assert.ok(r.sector > 0);
    }
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** MAJ:MIN of a disk, as lsblk shows it. */
async function majMin(disk: string): Promise<string> {
  const r = await runCmd("lsblk", ["-dno", "MAJ:MIN", `/dev/${disk}`]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

Deno.test("biosnoop and biolatency -d MAJ:MIN: only that disk's I/O, under bpfpm run", async () => {
  const disk = await diskOfVarTmp();
  const dev = await majMin(disk);
  // Another device number that is no disk's here: none of dd's I/O may show under it.
  const [major, minor] = dev.split(":").map(Number);
  const other = `${major}:${minor + 1000}`;
  await using on = startProbe("biosnoop", ["--json", "-d", dev]);
  await using off = startProbe("biosnoop", ["--json", "-d", other]);
  await using hist = startProbe("biolatency", ["--json", "-D", "-d", dev]);
  await Promise.all([on.attached(), off.attached(), hist.attached()]);
  const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "bpfpm-bio-" });
  try {
    const pid = await directWrites(dir, "4k", 20, true);
    const mine = (r: { pid: number }) => r.pid === pid;
    await on.until(
      () => on.rows<{ pid: number }>().filter(mine).length >= 20,
      15_000,
      "20 rows of dd",
    );
    assert.ok(on.rows<{ disk: string }>().every((r) => r.disk === disk));
    assert.equal((await off.stop()).code, 0, off.stderr);
    assert.deepEqual(off.rows<{ pid: number }>().filter(mine), []);
    assert.equal((await hist.stop()).code, 0, hist.stderr);
    const hists = hist.rows<JsonHist>();
    assert.deepEqual(hists.map((h) => h.disk), [disk]);
    assert.ok(histCount(hists[0]) >= 20, JSON.stringify(hists));
    assert.equal((await on.stop()).code, 0, on.stderr);
    for (const p of [on, off, hist]) await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  // A name needs /sys, which the sandbox may not read: one line with the fix, exit 2.
  await using named = startProbe("biosnoop", ["-d", disk]);
  assert.equal((await named.exited()).code, 2);
  assert.match(
    named.stderr,
    new RegExp(
      `-d ${disk}: this process may not read /sys.*-d \\$\\(lsblk -dno MAJ:MIN /dev/${disk}\\)`,
    ),
  );
});
