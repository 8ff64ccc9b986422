/**
 * The container filters (probes/_shared/container.ts, runtime/include/bpfpm/container.h) of
 * execsnoop, opensnoop, tcpconnect and profile, under `bpfpm run` as users run them: a cgroup
 * v2 and a mount namespace made by the test, a hash map pinned by the test (bpftool) holding
 * the id of one of them, a process inside and one outside; only the inside one is reported.
 * Then the boundary: a pin the user did not name is refused to a package, a pin the user
 * named is not readable by the package's own code, and a pin that is not a hash map with
 * 8-byte keys is refused with one line before anything starts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BPF, BpfError } from "bpf";
import {
  directArgv,
  reap,
  runCmd,
  RunningProbe,
  sleep,
  startProbe,
} from "./_helpers.ts";
import {
  hostilePackage,
  programsLeft,
  runPackageDir,
  tag,
  world,
} from "../sandbox/_helpers.ts";

/** Where the cgroup v2 hierarchy is mounted (hybrid machines keep it under unified/). */
function cgroup2Root(): string {
  for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2") return dir;
  }
  throw new Error("no cgroup2 mount: mount -t cgroup2 none /sys/fs/cgroup");
}

/** The 8 bytes of a u64 key as bpftool takes them (little-endian, decimal). */
function keyBytes(v: bigint): string[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return [...b].map(String);
}

async function bpftool(args: string[]): Promise<void> {
  const r = await runCmd("bpftool", args);
  assert.equal(r.code, 0, `bpftool ${args.join(" ")}: ${r.stderr}`);
}

/** A temp cgroup, a temp pin and the processes of one test; all removed on dispose. */
async function fixture(): Promise<
  {
    cgroup: string;
    cgroupId: bigint;
    pin: (opts?: { type?: string; key?: number; value?: number }) => Promise<
      string
    >;
    add: (pin: string, key: bigint, valueSize?: number) => Promise<void>;
    spawn: (cmd: string, args: string[]) => Deno.ChildProcess;
  } & AsyncDisposable
> {
  const t = tag();
  const cgroup = join(cgroup2Root(), `bpfpm-ct-${Deno.pid}-${t}`);
  await Deno.mkdir(cgroup);
  const pinDir = `/sys/fs/bpf/bpfpm-ct-${Deno.pid}-${t}`;
  await Deno.mkdir(pinDir);
  const children: Deno.ChildProcess[] = [];
  let n = 0;
  return {
    cgroup,
    cgroupId: BigInt(Deno.statSync(cgroup).ino!),
    async pin(opts = {}) {
      const path = `${pinDir}/m${n++}`;
      await bpftool([
        "map",
        "create",
        path,
        "type",
        opts.type ?? "hash",
        "key",
        String(opts.key ?? 8),
        "value",
        String(opts.value ?? 8),
        "entries",
        "16",
        "name",
        "ctset",
      ]);
      return path;
    },
    async add(pin, key, valueSize = 8) {
      const value = Array(valueSize).fill("0");
      value[0] = "1";
      await bpftool([
        "map",
        "update",
        "pinned",
        pin,
        "key",
        ...keyBytes(key),
        "value",
        ...value,
      ]);
    },
    spawn(cmd, args) {
      const c = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      children.push(c);
      return c;
    },
    async [Symbol.asyncDispose]() {
      await reap(children);
      await Deno.remove(pinDir, { recursive: true }).catch(() => {});
      // The cgroup empties once its processes are reaped.
      for (let i = 0; i < 50; i++) {
        try {
          await Deno.remove(cgroup);
          break;
        } catch {
          await sleep(100);
        }
      }
    },
  };
}

/** Runs `cmd args` as a process that first joins `cgroup` (a shell that then execs). */
function inCgroup(cgroup: string, cmd: string): Promise<{ pid: number }> {
  return runCmd("/bin/sh", [
    "-c",
    `echo $$ > ${cgroup}/cgroup.procs && exec ${cmd}`,
  ]);
}

/** A `sleep` in a new mount namespace, and that namespace's inode. */
async function mountNamespace(
  f: { spawn: (cmd: string, args: string[]) => Deno.ChildProcess },
): Promise<{ holder: number; inode: bigint }> {
  const own = Deno.statSync("/proc/self/ns/mnt").ino!;
  const holder = f.spawn("unshare", ["-m", "sleep", "120"]);
  for (let i = 0; i < 100; i++) {
    try {
      const ino = Deno.statSync(`/proc/${holder.pid}/ns/mnt`).ino!;
      const comm = Deno.readTextFileSync(`/proc/${holder.pid}/comm`).trim();
      if (ino !== own && comm === "sleep") {
        return { holder: holder.pid, inode: BigInt(ino) };
      }
    } catch { /* not there yet */ }
    await sleep(20);
  }
  throw new Error("unshare -m did not make a mount namespace");
}

/**
 * Waits for the row of process `pid`, gives rows of others the same time to show up, and
 * asserts that every row is `pid`'s; then stops the probe and checks its programs are gone.
 */
async function onlyRowsOf<R extends { pid: number }>(
  p: RunningProbe,
  pid: number,
  what: string,
): Promise<R> {
  const row = await p.row<R>((r) => r.pid === pid);
  await sleep(300);
  assert.deepEqual(
    [...new Set(p.rows<R>().map((r) => r.pid))],
    [pid],
    `${what}:\n${p.stdout}`,
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
  return row;
}

interface ExecRow {
  pid: number;
  comm: string;
  args: string[];
}

Deno.test("execsnoop --cgroupmap: only execs in the cgroups the pinned map holds", async () => {
  await using f = await fixture();
  const pin = await f.pin();
  await f.add(pin, f.cgroupId);
  await using p = startProbe("execsnoop", ["--json", "--cgroupmap", pin]);
  await p.attached();
  const outside = await runCmd("/bin/echo", ["ct-outside"]);
  const inside = await inCgroup(f.cgroup, "/bin/echo ct-inside");
  const row = await onlyRowsOf<ExecRow>(p, inside.pid, `not ${outside.pid}`);
  assert.deepEqual(row.args, ["/bin/echo", "ct-inside"]);
});

Deno.test("execsnoop --mntnsmap: only execs in the mount namespaces the pinned map holds", async () => {
  await using f = await fixture();
  const pin = await f.pin({ value: 4 });
  const ns = await mountNamespace(f);
  await f.add(pin, ns.inode, 4);
  await using p = startProbe("execsnoop", ["--json", "--mntnsmap", pin]);
  await p.attached();
  const outside = await runCmd("/bin/echo", ["ct-outside"]);
  const inside = await runCmd("nsenter", [
    "-t",
    String(ns.holder),
    "-m",
    "/bin/echo",
    "ct-inside",
  ]);
  assert.equal(inside.code, 0, inside.stderr);
  const row = await onlyRowsOf<ExecRow>(p, inside.pid, `not ${outside.pid}`);
  assert.deepEqual(row.args, ["/bin/echo", "ct-inside"]);
});

interface OpenRow {
  pid: number;
  path: string;
}

Deno.test("opensnoop --cgroupmap, --cgroup ID and --cgroup DIR: only opens in that cgroup", async () => {
  await using f = await fixture();
  const pin = await f.pin();
  await f.add(pin, f.cgroupId);
  const marker = `/tmp/bpfpm-ct-open-${tag()}`;
  // --cgroup DIR: bpfpm run resolves the directory (the package may not look under /sys).
  for (
    const args of [
      ["--cgroupmap", pin],
      ["--cgroup", String(f.cgroupId)],
      ["--cgroup", f.cgroup],
    ]
  ) {
    await using p = startProbe("opensnoop", ["--json", ...args]);
    await p.attached();
    await runCmd("/bin/cat", [`${marker}-outside`]);
    const inside = await inCgroup(f.cgroup, `/bin/cat ${marker}-inside`);
    const row = await p.row<OpenRow>((r) => r.path === `${marker}-inside`);
    assert.equal(row.pid, inside.pid);
    await onlyRowsOf<OpenRow>(p, inside.pid, args.join(" "));
    assert.ok(
      !p.rows<OpenRow>().some((r) => r.path.startsWith(`${marker}-outside`)),
    );
  }
});

interface ConnectRow {
  pid: number;
  dport: number;
}

Deno.test("tcpconnect --mntnsmap: only connects from the mount namespaces the pinned map holds", async () => {
  await using f = await fixture();
  const pin = await f.pin({ value: 4 });
  const ns = await mountNamespace(f);
  await f.add(pin, ns.inode, 4);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepting = (async () => {
    for await (const c of listener) c.close();
  })();
  try {
    await using p = startProbe("tcpconnect", ["--json", "--mntnsmap", pin]);
    await p.attached();
    const connect = `exec 3<>/dev/tcp/127.0.0.1/${port}`;
    const outside = await runCmd("/bin/bash", ["-c", connect]);
    assert.equal(outside.code, 0, outside.stderr);
    const inside = await runCmd("nsenter", [
      "-t",
      String(ns.holder),
      "-m",
      "/bin/bash",
      "-c",
      connect,
    ]);
    assert.equal(inside.code, 0, inside.stderr);
    const row = await onlyRowsOf<ConnectRow>(
      p,
      inside.pid,
      `not ${outside.pid}`,
    );
    assert.equal(row.dport, port);
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
});

interface StackRow {
  pid: number;
  samples: number;
}

Deno.test("profile --cgroupmap and --cgroup ID: only samples of the busy process in that cgroup", async () => {
  await using f = await fixture();
  const pin = await f.pin();
  await f.add(pin, f.cgroupId);
  const busy = "dd if=/dev/zero of=/dev/null bs=1";
  const inside = f.spawn("/bin/sh", [
    "-c",
    `echo $$ > ${f.cgroup}/cgroup.procs && exec ${busy}`,
  ]);
  const outside = f.spawn("/bin/sh", ["-c", `exec ${busy}`]);
  for (
    const args of [["--cgroupmap", pin], ["--cgroup", String(f.cgroupId)]]
  ) {
    await using p = startProbe("profile", [
      "--json",
      "-F",
      "199",
      ...args,
      "2",
    ]);
    assert.equal((await p.exited(120_000)).code, 0, p.stderr);
    const rows = p.rows<StackRow>();
    const pids = new Set(rows.map((r) => r.pid));
    assert.ok(pids.has(inside.pid), `${args.join(" ")}:\n${p.stdout}`);
    assert.ok(!pids.has(outside.pid), `${args.join(" ")}:\n${p.stdout}`);
    assert.deepEqual([...pids], [inside.pid], args.join(" "));
    assert.ok(rows.every((r) => r.samples > 0));
  }
});

Deno.test("bpfpm run: a pin the user did not name is refused to the package, one the user named is not readable by its code, and nothing stays loaded", async () => {
  await using w = await world();
  await using f = await fixture();
  const named = await f.pin();
  const secret = await f.pin();
  await f.add(secret, 4242n);
  const prog = `ct${tag()}`;
  const C = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, u64);
  __type(value, u64);
} filter SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int ${prog}(void *ctx) {
  u64 k = 1;
  return bpf_map_lookup_elem(&filter, &k) ? 1 : 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
  // The package loads with the pin the *second* argument names, whatever the first says.
  const MOD = `import { BPF } from "bpf";
const [, path, read] = Deno.args;
try {
  using b = await BPF.load({
    file: new URL("./probe.bpf.c", import.meta.url),
    reuseMaps: { filter: path },
  });
  console.log("loaded");
  if (read) console.log(JSON.stringify([...b.map("filter").keys()].map(String)));
} catch (e) {
  console.log(\`\${(e as Error).name}: \${(e as Error).message}\`);
  Deno.exit(3);
}
`;
  const dir = await hostilePackage(w.root, "pin-thief", MOD, {}, {
    "probe.bpf.c": C,
  });
  // The user names one pin; the package asks for another.
  const stolen = await runPackageDir(w, dir, [`--cgroupmap=${named}`, secret]);
  assert.equal(stolen.code, 3, stolen.stderr);
  assert.match(
    stolen.stdout,
    new RegExp(
      `PermissionDeniedError: Permission denied: map filter would use the pinned map ${secret}, which the user did not name on the command line`,
    ),
  );
  assert.doesNotMatch(stolen.stdout, /loaded/);
  // The user's own pin loads, but the package's code cannot read the user's map.
  const read = await runPackageDir(w, dir, [
    `--cgroupmap=${named}`,
    named,
    "read",
  ]);
  assert.equal(read.code, 3, read.stderr);
  assert.match(read.stdout, /^loaded$/m);
  assert.match(
    read.stdout,
    /BpfError: Cannot walk map "filter": fd \d+ is not one of this package's maps/,
  );
  assert.doesNotMatch(read.stdout, /4242/);
  assert.deepEqual(await programsLeft(prog), []);
});

Deno.test("bpfpm run --cgroupmap/--mntnsmap: anything but a pinned hash map with 8-byte keys is refused in one line, before the probe starts", async () => {
  await using f = await fixture();
  const array = await f.pin({ type: "array", key: 4 });
  const key4 = await f.pin({ key: 4 });
  for (
    const [args, cause] of [
      [["--cgroupmap", "/sys/fs/bpf/bpfpm-ct-none"], /no such pin/],
      [["--mntnsmap", "/etc/passwd"], /is not a pinned BPF map/],
      [["--cgroupmap", array], /is an array map with 4-byte keys/],
      [["--mntnsmap", key4], /is a hash map with 4-byte keys/],
    ] as const
  ) {
    await using p = startProbe("execsnoop", [...args]);
    const status = await p.exited();
    assert.equal(status.code, 2, `${args.join(" ")}: ${p.stderr}`);
    const lines = p.stderr.trim().split("\n");
    assert.equal(lines.length, 1, p.stderr);
    assert.match(lines[0], new RegExp(`${args[0]} ${args[1]}: `));
    assert.match(lines[0], cause);
    assert.match(
      lines[0],
      /needs a hash map with 8-byte keys|bpftool map create/,
    );
    assert.doesNotMatch(p.stderr, /Tracing/);
  }
});

Deno.test("deno run -A probes/execsnoop/mod.ts --cgroupmap: a script the user runs takes any pin", async () => {
  await using f = await fixture();
  const pin = await f.pin();
  await f.add(pin, f.cgroupId);
  await using p = new RunningProbe(
    new Deno.Command(Deno.execPath(), {
      args: directArgv("execsnoop", ["--json", "--cgroupmap", pin]),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn(),
  );
  await p.attached();
  const outside = await runCmd("/bin/echo", ["ct-outside"]);
  const inside = await inCgroup(f.cgroup, "/bin/echo ct-inside");
  await onlyRowsOf<ExecRow>(p, inside.pid, `not ${outside.pid}`);
});

Deno.test("BPF.load reuseMaps: the object's map is the pin (its id, its declared name); another key size or an undeclared map is refused", async () => {
  await using f = await fixture();
  const pin = await f.pin({ value: 4 });
  await f.add(pin, 7n, 4);
  const text = `
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, u64);
  __type(value, u64);
} cgroup_set SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getppid")
int ct_reuse(void *ctx) {
  u64 k = 1;
  return bpf_map_lookup_elem(&cgroup_set, &k) ? 1 : 0;
}
char LICENSE[] SEC("license") = "GPL";
`;
  const pinned = JSON.parse(
    (await runCmd("bpftool", ["-j", "map", "show", "pinned", pin])).stdout,
  ) as { id: number; max_entries: number };
  {
    using b = await BPF.load({
      text,
      autoAttach: false,
      reuseMaps: { cgroup_set: pin },
    });
    const m = b.maps.get("cgroup_set")!;
    assert.equal(m.id, pinned.id);
    // The pin's own value size and capacity, not the declaration's.
    assert.equal(m.valueSize, 4);
    assert.equal(m.maxEntries, pinned.max_entries);
  }
  const key4 = await f.pin({ key: 4 });
  await assert.rejects(
    BPF.load({ text, autoAttach: false, reuseMaps: { cgroup_set: key4 } }),
    (e: Error) =>
      e instanceof BpfError &&
      e.message ===
        `${key4} is a hash map with 4-byte keys: map cgroup_set needs a hash map with 8-byte keys pinned in bpffs`,
  );
  await assert.rejects(
    BPF.load({ text, autoAttach: false, reuseMaps: { nope: pin } }),
    /BPF\.load's reuseMaps names the map nope, which the object does not declare \(its maps: cgroup_set\)/,
  );
  await assert.rejects(
    BPF.load({
      text,
      autoAttach: false,
      reuseMaps: { cgroup_set: 42 as never },
    }),
    TypeError,
  );
});
