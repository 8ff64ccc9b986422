/**
 * Hostile packages against the sandbox, each run through the real `bpfpm run`: every
 * attempt is refused with a clear message, and nothing is loaded, written, started or
 * reached. The package code below is what an attacker would publish.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { compile } from "../../runtime/compile/compile.ts";
import { createTarball } from "../../registry/pack/mod.ts";
import { loadConfig } from "../../registry/client/config.ts";
import { install } from "../../registry/client/install.ts";
import { Ui } from "../../registry/client/ui.ts";
import { fakeRegistry } from "../client/_fake_registry.ts";
import { startBpfpm } from "../probes/_helpers.ts";
import {
  bpfpm,
  forgetOnDispose,
  hostilePackage,
  lastJson,
  programsLeft,
  runPackageDir,
  tag,
  world,
} from "./_helpers.ts";

const REPO = new URL("../../", import.meta.url).pathname;

/** Package code that tries `attempt` and prints what happened as JSON. */
const tries = (attempts: Record<string, string>) => `
const out = {};
for (const [name, f] of Object.entries({ ${
  Object.entries(attempts).map(([k, v]) =>
    `${JSON.stringify(k)}: async () => { ${v} }`
  )
    .join(",\n")
} })) {
  try { out[name] = ["allowed", String(await f())]; }
  catch (e) { out[name] = [e.name, e.message]; }
}
console.log(JSON.stringify(out));
`;

Deno.test("a package cannot use FFI, run programs, read or write outside its directory, connect, or set BPFPM_GRANTS", async () => {
  await using w = await world();
  const t = tag();
  const secret = join(w.root, `secret-${t}`);
  await Deno.writeTextFile(secret, "the secret");
  await Deno.chmod(secret, 0o600);
  const written = `/tmp/bpfpm-hostile-${t}`;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let connections = 0;
  const accepting = (async () => {
    for await (const c of listener) {
      connections++;
      c.close();
    }
  })();
  try {
    const dir = await hostilePackage(
      w.root,
      `hostile-${t}`,
      tries({
        ffi:
          `Deno.dlopen("libc.so.6", { getuid: { parameters: [], result: "u32" } })`,
        run: `return new Deno.Command("/usr/bin/id").outputSync().code`,
        readSecret: `return Deno.readTextFileSync(${JSON.stringify(secret)})`,
        readShadow: `return Deno.readTextFileSync("/etc/shadow")`,
        write: `Deno.writeTextFileSync(${JSON.stringify(written)}, "x")`,
        connect: `const c = await Deno.connect({ hostname: "127.0.0.1", port: ${
          (listener.addr as Deno.NetAddr).port
        } }); c.close()`,
        setGrants:
          `Deno.env.set("BPFPM_GRANTS", '{"helpers":["send_signal"]}')`,
        readEnv: `return Deno.env.get("HOME")`,
        internals: `const f = await import(${
          JSON.stringify(`file://${REPO}runtime/_ffi.ts`)
        }); return f.lib()`,
        inProcessBpf: `const m = await import(${
          JSON.stringify(`file://${REPO}runtime/bpf.ts`)
        }); return (await m.BPF.load({ text: "SEC(\\"raw_tp/sys_enter\\") int hx_${t}(void *c) { return 0; }" })).programs.size`,
      }),
      // Even a declared read of the secret does not get past the file's mode.
      { deno: [`--allow-read=${secret}`] },
    );
    const r = await runPackageDir(w, dir);
    assert.equal(r.code, 0, r.stderr);
    const out = lastJson(r.stdout) as Record<string, [string, string]>;
    assert.equal(out.ffi[0], "NotCapable", out.ffi[1]);
    assert.match(out.ffi[1], /Requires ffi access/);
    assert.equal(out.run[0], "NotCapable");
    assert.equal(out.readSecret[0], "PermissionDenied", out.readSecret[1]);
    assert.equal(out.readShadow[0], "NotCapable");
    assert.equal(out.write[0], "NotCapable");
    assert.equal(out.connect[0], "NotCapable");
    assert.equal(out.setGrants[0], "NotCapable");
    assert.equal(out.readEnv[0], "NotCapable");
    assert.ok(
      ["NotCapable", "DenoPermissionError"].includes(out.internals[0]),
      out.internals.join(": "),
    );
    assert.match(out.internals[1], /ffi/);
    assert.notEqual(out.inProcessBpf[0], "allowed", out.inProcessBpf[1]);
    assert.equal(existsSync(written), false);
    assert.equal(connections, 0);
    assert.deepEqual(await programsLeft(`hx_${t}`), []);
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
});

Deno.test("an ungranted helper, kfunc or attach target is refused before anything is loaded", async () => {
  await using w = await world();
  const t = tag();
  const dir = await hostilePackage(
    w.root,
    `grants-${t}`,
    tries({
      helper: `const { BPF } = await import("bpf");
        await BPF.load({ text: \`SEC("tracepoint/syscalls/sys_enter_getppid") int hs_${t}(void *ctx) { bpf_send_signal(28); return 0; }\` });`,
      kfunc: `const { BPF } = await import("bpf");
        await BPF.load({ text: \`extern int bpf_send_signal_task(struct task_struct *task, int sig, enum pid_type type, u64 value) __ksym;
          SEC("tp_btf/sched_switch") int BPF_PROG(hk_${t}, bool preempt, struct task_struct *prev, struct task_struct *next) {
            bpf_send_signal_task(next, 28, PIDTYPE_PID, 0); return 0; }\` });`,
      target: `const { BPF } = await import("bpf");
        using b = await BPF.load({ autoAttach: false, text: \`SEC("tracepoint/syscalls/sys_enter_getppid") int ht_${t}(void *ctx) { return 0; }\` });
        b.attachTracepoint("ht_${t}", "syscalls:sys_enter_openat");`,
      widen: `const { BPF } = await import("bpf");
        await BPF.load({ grants: { helpers: ["send_signal"] }, text: \`SEC("tracepoint/syscalls/sys_enter_getppid") int hw_${t}(void *ctx) { return 0; }\` });`,
      include: `const { BPF } = await import("bpf");
        await BPF.load({ text: '#include "/etc/shadow"\\nSEC("tracepoint/syscalls/sys_enter_getppid") int hi_${t}(void *ctx) { return 0; }' });`,
      pinned: `const { BPF } = await import("bpf");
        await BPF.load({ text: \`BPF_TABLE_PINNED("hash", u32, u64, pn_${t}, 16, "/sys/fs/bpf/pn_${t}");
          TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { u32 k = 0; u64 *v = pn_${t}.lookup(&k); return v ? 1 : 0; }\` });`,
      cflag: `const { BPF } = await import("bpf");
        await BPF.load({ cflags: ["-include", "/etc/shadow"], text: 'SEC("tracepoint/syscalls/sys_enter_getppid") int hc_${t}(void *ctx) { return 0; }' });`,
    }),
    {
      grants: {
        attach: [
          { kind: "tracepoint", target: "syscalls:sys_enter_getppid" },
          { kind: "tp_btf", target: "sched_switch" },
        ],
        helpers: [],
      },
    },
  );
  const r = await runPackageDir(w, dir);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout) as Record<string, [string, string]>;
  for (
    const k of [
      "helper",
      "kfunc",
      "target",
      "widen",
      "include",
      "cflag",
      "pinned",
    ]
  ) {
    assert.equal(out[k][0], "PermissionDeniedError", `${k}: ${out[k][1]}`);
  }
  assert.match(out.helper[1], /bpf_send_signal .*helpers: \["send_signal"\]/);
  assert.match(
    out.kfunc[1],
    /bpf_send_signal_task.*kfuncs: \["bpf_send_signal_task"\]/,
  );
  assert.match(out.target[1], /syscalls:sys_enter_openat/);
  assert.match(out.include[1], /#include "\/etc\/shadow"/);
  assert.match(out.cflag[1], /"-include"/);
  assert.match(out.pinned[1], /pinned by name/);
  assert.equal(existsSync(`/sys/fs/bpf/pn_${t}`), false);
  assert.doesNotMatch(r.stdout + r.stderr, /root:/);
  for (const p of ["hs_", "hk_", "ht_", "hw_", "hi_", "hc_"]) {
    assert.deepEqual(await programsLeft(`${p}${t}`), [], p);
  }
});

/** Package code that writes raw frames to the channel (no help from the runtime). */
const FORGE = `
const dir = Deno.env.get("BPFPM_SANDBOX");
const req = Deno.openSync(dir + "/req", { write: true });
const enc = new TextEncoder();
export function frame(head, body = new Uint8Array(0)) {
  const j = enc.encode(JSON.stringify(body.length ? { ...head, lens: [body.length] } : head));
  const out = new Uint8Array(8 + j.length + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 4 + j.length + body.length, true);
  v.setUint32(4, j.length, true);
  out.set(j, 8);
  out.set(body, 8 + j.length);
  return out;
}
export function send(bytes) { let at = 0; while (at < bytes.length) at += req.writeSync(bytes.subarray(at)); }
export function reply(which) {
  const f = Deno.openSync(dir + "/" + which, { read: true });
  const exact = (n) => { const b = new Uint8Array(n); let at = 0; while (at < n) at += f.readSync(b.subarray(at)); return b; };
  const rest = new DataView(exact(4).buffer).getUint32(0, true);
  const body = exact(rest);
  const jl = new DataView(body.buffer).getUint32(0, true);
  return JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + jl)));
}
`;

Deno.test("forged messages: a raw object with an ungranted helper, other maps' fds, a malformed frame, a 1 GB length prefix", async () => {
  await using w = await world();
  const t = tag();
  const { object } = await compile(
    `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getppid") int hf_${t}(void *ctx) { bpf_send_signal(28); return 0; }
char LICENSE[] SEC("license") = "GPL";`,
  );
  const b64 = btoa(String.fromCharCode(...object));
  const raw = await hostilePackage(
    w.root,
    `forge-obj-${t}`,
    `import { frame, send, reply } from "./forge.js";
const obj = Uint8Array.from(atob(${
      JSON.stringify(b64)
    }), (c) => c.charCodeAt(0));
send(frame({ id: 7, op: "load", sync: false }, obj));
console.log(JSON.stringify(reply("async")));`,
    {},
    { "forge.js": FORGE },
  );
  const r1 = await runPackageDir(w, raw);
  assert.equal(r1.code, 0, r1.stderr);
  const rep = lastJson(r1.stdout) as {
    id: number;
    error: { name: string; message: string };
  };
  assert.equal(rep.id, 7);
  assert.equal(rep.error.name, "PermissionDeniedError", rep.error.message);
  assert.match(rep.error.message, /bpf_send_signal/);
  assert.deepEqual(await programsLeft(`hf_${t}`), []);

  const maps = await hostilePackage(
    w.root,
    `forge-maps-${t}`,
    `import { frame, send, reply } from "./forge.js";
import { BPF } from "bpf";
const text = (n) => \`BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { u32 k = 0; counts.increment(k); return 0; }\`;
const a = await BPF.load({ text: text(1), autoAttach: false });
const b = await BPF.load({ text: text(2), autoAttach: false });
const aFd = a.maps.get("counts").fd;
const progFd = [...b.programs.values()][0].fd;
a.close();
const rcs = {};
let id = 1000;
for (const [name, fd] of Object.entries({ closedObject: aFd, program: progFd, stdin: 0, huge: 1 << 30 })) {
  send(frame({ id: ++id, op: "map", sync: true, fn: "lookup", fd, flags: "0" }, new Uint8Array(4)));
  const r = reply("sync");
  rcs[name] = [r.value?.rc, r.value?.message];
}
send(frame({ id: ++id, op: "map", sync: true, fn: "lookup", fd: b.maps.get("counts").fd, flags: "0" }, new Uint8Array(4000)));
rcs.wrongKeySize = [reply("sync").error?.name];
// The in-process drain's test hook (stall the drain thread) is no request of the channel.
send(frame({ id: ++id, op: "ev.stall", sync: true, src: 1, ms: 10000 }));
rcs.stall = [reply("sync").error?.message];
b.close();
console.log(JSON.stringify(rcs));`,
    {},
    { "forge.js": FORGE },
  );
  const r2 = await runPackageDir(w, maps);
  assert.equal(r2.code, 0, r2.stderr);
  const rcs = lastJson(r2.stdout) as Record<string, [number, string]>;
  for (const k of ["closedObject", "program", "stdin", "huge"]) {
    assert.equal(rcs[k][0], -9, `${k}: ${rcs[k]}`);
    assert.match(rcs[k][1], /is not one of this package's maps/);
  }
  assert.deepEqual(rcs.wrongKeySize, ["RangeError"]);
  assert.match(String(rcs.stall[0]), /Unknown request "ev\.stall"/);

  for (
    const [label, bytes, why] of [
      [
        "malformed",
        "new Uint8Array([12,0,0,0, 255,0,0,0, 1,2,3,4,5,6,7,8])",
        /a header of 255 bytes/,
      ],
      [
        "1 GB prefix",
        "new Uint8Array([0,0,0,64])",
        /a frame of 1073741824 bytes/,
      ],
      [
        "not JSON",
        "frame({}).map((b, i) => i > 7 ? 0x7b : b)",
        /not JSON|not a JSON object|numeric id/,
      ],
    ] as const
  ) {
    const dir = await hostilePackage(
      w.root,
      `forge-${label.replaceAll(" ", "-")}-${t}`,
      `import { frame, send } from "./forge.js";
import { BPF } from "bpf";
using b = await BPF.load({ text: \`TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }\` });
send(${bytes});
await new Promise((r) => setTimeout(r, 60_000));
console.log("still running");`,
      {},
      { "forge.js": FORGE },
    );
    const r = await runPackageDir(w, dir);
    assert.equal(r.code, 70, `${label}: ${r.stderr}`);
    assert.match(r.stderr, /broke the sandbox protocol/, label);
    assert.match(r.stderr, why, label);
    assert.doesNotMatch(r.stdout, /still running/, label);
  }
});

Deno.test("an installed manifest or cached file edited after install is refused; the lockfile's grants are the ones in force", async () => {
  await using w = await world();
  const t = tag();
  const name = `edited-${t}`;
  forgetOnDispose(w.root, name);
  const manifest = {
    name,
    version: "1.0.0",
    bpf: {
      entry: "mod.ts",
      grants: { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
      deno: [] as string[],
    },
  };
  const tgz = await createTarball({
    "package.json": JSON.stringify(manifest),
    "mod.ts":
      `console.log(JSON.stringify({ ran: true, at: import.meta.url, main: import.meta.main }));`,
  });
  await using reg = await fakeRegistry([{
    name,
    version: "1.0.0",
    tarball: tgz,
  }]);
  const env = { ...w.env, BPFPM_REGISTRY: reg.url };
  const project = join(w.root, "project");
  const config = loadConfig({ cwd: project, env });
  await install(config, {
    add: [name],
    yes: true,
    ui: new Ui({ quiet: true, tty: false }),
  });
  const run = () => bpfpm(["run", name, "--yes"], { cwd: project, env });
  const ok = await run();
  assert.equal(ok.code, 0, ok.stderr);
  const first = lastJson(ok.stdout) as {
    ran: boolean;
    at: string;
    main: boolean;
  };
  assert.equal(first.ran, true);
  assert.equal(first.main, true);
  // It ran from the copy of its verified tarball's files that only root writes, kept for its
  // next runs, not from the installed directory.
  const keptAt = `file:///var/cache/bpfpm-sandbox/files-${name}/`;
  assert.ok(first.at.startsWith(keptAt), first.at);
  assert.match(first.at, /\/[0-9a-f]{16}\/mod\.ts$/);
  const kept = decodeURIComponent(new URL(first.at).pathname);
  const st = await Deno.stat(kept);
  assert.equal(st.uid, 0);
  assert.equal((st.mode ?? 0) & 0o777, 0o644);
  // A kept copy that no longer holds the verified bytes is written again before a run.
  const verified = await Deno.readTextFile(kept);
  await Deno.writeTextFile(
    kept,
    `console.log(JSON.stringify({ ran: "stale" }));`,
  );
  // Other versions' copies: beyond the three most recently used, one unused for over an
  // hour goes at the next run, and one unused for over 30 days goes whatever the count.
  const keptParent = decodeURIComponent(new URL(keptAt).pathname);
  const others = new Map<string, number>([
    ["1".repeat(16), 2],
    ["2".repeat(16), 3],
    ["3".repeat(16), 4],
    ["0".repeat(16), 31 * 24],
  ]);
  for (const [n, hours] of others) {
    await Deno.mkdir(join(keptParent, n));
    const then = new Date(Date.now() - hours * 3600_000);
    await Deno.utime(join(keptParent, n), then, then);
  }
  const again = await run();
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    [...Deno.readDirSync(keptParent)].map((e) => e.name).sort(),
    ["1".repeat(16), "2".repeat(16), kept.split("/").at(-2)!].sort(),
  );
  assert.equal((lastJson(again.stdout) as { ran: unknown }).ran, true);
  assert.equal(await Deno.readTextFile(kept), verified);

  // The installed manifest widened by hand: refused, and nothing of it runs.
  const installed = join(project, "bpf_modules", name, "package.json");
  const original = await Deno.readTextFile(installed);
  const widened = structuredClone(manifest);
  widened.bpf.deno = ["--allow-read=/etc"];
  await Deno.remove(installed);
  await Deno.writeTextFile(installed, JSON.stringify(widened));
  const edited = await run();
  assert.equal(edited.code, 1);
  assert.match(
    edited.stderr,
    new RegExp(
      `${name}@1\\.0\\.0's installed package\\.json differs from its locked tarball`,
    ),
  );
  assert.doesNotMatch(edited.stdout, /ran/);
  await Deno.remove(installed);
  await Deno.writeTextFile(installed, original);
  assert.equal((await run()).code, 0);

  // The cached tarball edited: its sha512 no longer matches the lockfile.
  const content = join(w.env.BPFPM_CACHE_DIR, "content", "sha512");
  for await (const sub of Deno.readDir(content)) {
    for await (const f of Deno.readDir(join(content, sub.name))) {
      const path = join(content, sub.name, f.name);
      const bytes = await Deno.readFile(path);
      bytes[bytes.length - 1] ^= 0xff;
      await Deno.writeFile(path, bytes);
    }
  }
  const corrupt = await run();
  assert.equal(corrupt.code, 1);
  assert.match(corrupt.stderr, /fails its locked sha512 integrity/);
  assert.doesNotMatch(corrupt.stdout, /ran/);
});

Deno.test("SIGKILL of the package or of bpfpm run, at random points, 20 times: none of its programs stays loaded", async () => {
  await using w = await world();
  const t = tag();
  const dir = await hostilePackage(
    w.root,
    `killed-${t}`,
    `import { BPF } from "bpf";
using a = await BPF.load({ text: \`TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }
int kx_${t}(void *ctx) { return 0; }\`, autoAttach: false });
a.attachTracepoint("kx_${t}", "syscalls:sys_enter_getppid");
using b = await BPF.load({ text: \`BPF_HASH(m, u32, u64); TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { u32 k = 1; m.increment(k); return 0; }\` });
console.log("loaded");
await new Promise(() => {});`,
  );
  for (let i = 0; i < 20; i++) {
    const p = startBpfpm(["run", dir, "--yes"], {
      cwd: join(w.root, "project"),
      env: { ...w.env, NO_COLOR: "1" },
    });
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 1300));
    const children = (await Deno.readTextFile(
      `/proc/${p.pid}/task/${p.pid}/children`,
    ).catch(() => "")).trim().split(/\s+/).filter(Boolean).map(Number);
    Deno.kill(i % 2 === 0 || !children.length ? p.pid : children[0], "SIGKILL");
    await p[Symbol.asyncDispose]();
    assert.deepEqual(await programsLeft(`kx_${t}`), [], `round ${i}`);
  }
});

Deno.test("install refuses a package declaring FFI, subprocesses, the whole disk or BPFPM_* variables, naming the flag", async () => {
  await using w = await world();
  for (
    const flag of [
      "--allow-ffi",
      "--allow-run=/bin/sh",
      "--allow-read",
      "--allow-env=BPFPM_GRANTS",
      "--allow-net=a --allow-all",
    ]
  ) {
    const name = `wide-${tag()}`;
    const tgz = await createTarball({
      "package.json": JSON.stringify({
        name,
        version: "1.0.0",
        bpf: { entry: "mod.ts", deno: [flag] },
      }),
      "mod.ts": "console.log(1);",
    });
    await using reg = await fakeRegistry([{
      name,
      version: "1.0.0",
      tarball: tgz,
    }]);
    const project = join(w.root, "project");
    const config = loadConfig({
      cwd: project,
      env: { ...w.env, BPFPM_REGISTRY: reg.url },
    });
    const err = await install(config, {
      add: [name],
      yes: true,
      ui: new Ui({ quiet: true, tty: false }),
    }).then(() => undefined, (e) => e as Error);
    assert.ok(err, flag);
    assert.ok(err.message.includes(JSON.stringify(flag)), err.message);
    assert.equal(existsSync(join(project, "bpf_modules", name)), false, flag);
  }
});

Deno.test("C files compiled ahead while the package starts are checked as a load's C: an include of a FIFO is never opened", async () => {
  await using w = await world();
  const t = tag();
  const fifo = join(w.root, `trap-${t}`);
  const made = await new Deno.Command("mkfifo", { args: ["-m", "644", fifo] })
    .output();
  assert.ok(made.success);
  // Opening the FIFO for writing completes only when something opens it for reading: had
  // the trusted side's clang compiled the package's unused C file, this open would complete.
  let opened = false;
  const writer = Deno.open(fifo, { write: true }).then((f) => {
    opened = true;
    return f;
  });
  const dir = await hostilePackage(
    w.root,
    `ahead-${t}`,
    `const { BPF } = await import("bpf");
     using b = await BPF.load({ text: 'SEC("tracepoint/syscalls/sys_enter_getppid") int ok_${t}(void *ctx) { return 0; }' });
     console.log("loaded", b.programs.size);`,
    {},
    { "trap.c": `#include "${fifo}"\nint x;\n` },
  );
  const out = await runPackageDir(w, dir);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^loaded 1$/m);
  assert.equal(
    opened,
    false,
    "the trusted side opened the FIFO the C includes",
  );
  // Unblock our own pending open, and close both ends.
  const reader = await Deno.open(fifo, { read: true });
  (await writer).close();
  reader.close();
  assert.deepEqual(await programsLeft(`ok_${t}`), []);
});
