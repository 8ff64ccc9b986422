/**
 * End to end through the CLI against two real registries on 127.0.0.1: ours (in-process
 * `startRegistry`) and Verdaccio 5 (an independent npm registry): login, publish (compile,
 * bundle, sign), install, run, verify, lockfile determinism, frozen offline reinstall,
 * grant changes on update, and the error messages.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import {
  bpfpm,
  freePort,
  sandbox,
  snapshot,
  startVerdaccio,
} from "./_helpers.ts";

const C_SOURCE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`;

// The probe tries a program calling bpf_send_signal (never reached: no execve has pid 0):
// the trusted side lets it load only when the locked grants name send_signal.
const ENTRY = `import { tag } from "./lib.ts";
import { BPF } from "bpf";
let signal;
try {
  using b = await BPF.load({ autoAttach: false, text: 'SEC("tracepoint/syscalls/sys_enter_execve") int sig(void *ctx) { if ((bpf_get_current_pid_tgid() >> 32) == 0) bpf_send_signal(28); return 0; }' });
  signal = b.programs.has("sig") ? "loaded" : "missing";
} catch (e) {
  signal = e.name;
}
console.log(JSON.stringify({
  tag,
  bpf: import.meta.resolve("bpf"),
  signal,
  env: (() => { try { return Deno.env.get("BPFPM_GRANTS") ?? "unset"; } catch (e) { return e.name; } })(),
  args: Deno.args,
  read: await Deno.readTextFile("/etc/hostname").then(() => "allowed", (e) => e.name),
}));
`;

async function writePackage(
  dir: string,
  pj: Record<string, unknown>,
  files: Record<string, string>,
) {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify(pj, null, 2),
  );
  for (const [k, v] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, k), v);
  }
}

function probeManifest(version: string, helpers: string[] = []) {
  return {
    name: "echo-probe",
    version,
    description: "prints what bpfpm run gave it",
    dependencies: { "lib-a": "^1.0.0" },
    bpf: {
      entry: "mod.ts",
      sources: ["echo.bpf.c"],
      grants: {
        attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_execve" }],
        helpers,
        mapMemory: "1MiB",
      },
      deno: ["--allow-net=127.0.0.1"],
    },
  };
}

async function roundTrip(registry: string, registrySigns: boolean) {
  await using s = await sandbox(registry);
  const run = (args: string[], cwd = s.project) =>
    bpfpm(args, { cwd, env: s.env });
  const ok = async (args: string[], cwd = s.project) => {
    const r = await run(args, cwd);
    assert.equal(r.code, 0, `bpfpm ${args.join(" ")}: ${r.stderr}${r.stdout}`);
    return r;
  };

  const anon = await run(["publish", "--no-sign", join(s.root, "nothing")]);
  assert.equal(anon.code, 1);
  assert.match(anon.stderr, /has no package\.json/);

  await writePackage(
    join(s.root, "lib-a"),
    { name: "lib-a", version: "1.0.0" },
    { "index.js": "export const a = 1;\n" },
  );
  const unauth = await run(["publish", join(s.root, "lib-a")]);
  assert.equal(unauth.code, 1);
  assert.match(
    unauth.stderr,
    /needs authentication for Publish of lib-a@1\.0\.0.*run bpfpm login|refused Publish of lib-a@1\.0\.0: forbidden/,
  );

  await ok(["adduser", "--user", "pat", "--password", "pat-secret-99"]);
  assert.equal((await ok(["whoami"])).stdout.trim(), "pat");
  await ok(["publish", join(s.root, "lib-a")]);
  if (registrySigns) {
    // Ownership (the bpfpm registry enforces it; Verdaccio's default config does not):
    // another user may not publish a version of pat's package.
    await using m = await sandbox(registry);
    const mallory = (args: string[]) =>
      bpfpm(args, { cwd: m.project, env: m.env });
    assert.equal(
      (await mallory([
        "adduser",
        "--user",
        "mallory",
        "--password",
        "mallory-pw-123",
      ])).code,
      0,
    );
    await writePackage(join(m.root, "lib-a"), {
      name: "lib-a",
      version: "1.0.1",
    }, { "index.js": "evil();\n" });
    const denied = await mallory(["publish", join(m.root, "lib-a")]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /refused Publish of lib-a@1\.0\.1: forbidden/);
  }
  const probe = join(s.root, "echo-probe");
  await writePackage(probe, probeManifest("1.0.0"), {
    "mod.ts": ENTRY,
    "lib.ts": `export const tag = "v1";\n`,
    "echo.bpf.c": C_SOURCE,
  });
  const pub = await ok(["publish", probe]);
  assert.match(pub.stdout, /echo-probe@1\.0\.0/);
  assert.match(pub.stdout, /mod\.bundle\.js/);
  assert.match(pub.stdout, /attach tracepoint syscalls:sys_enter_execve/);
  assert.match(pub.stdout, /compiled: echo\.bpf\.c \((runtime|clang)\)/);
  assert.match(pub.stdout, /signed by: ed25519:/);

  const broken = join(s.root, "broken");
  await writePackage(broken, {
    ...probeManifest("1.0.0"),
    name: "broken-probe",
  }, {
    "mod.ts": ENTRY,
    "lib.ts": "export const tag = 1;",
    "echo.bpf.c": "int oops( { return 0 }\n",
  });
  const bad = await run(["publish", broken]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /echo\.bpf\.c does not compile, so it was not published/,
  );
  const missing = await run(["info", "broken-probe"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Package broken-probe was not found at/);

  // Install, run, verify.
  const noYes = await run(["install", "echo-probe"]);
  assert.equal(noYes.code, 1);
  assert.match(
    noYes.stderr,
    /echo-probe@1\.0\.0 declares:\n {4}attach tracepoint syscalls:sys_enter_execve/,
  );
  assert.match(
    noYes.stderr,
    /declare new permissions or changed publisher keys; nothing was installed/,
  );
  assert.deepEqual(Object.keys(await snapshot(s.project)), []);
  await ok(["install", "echo-probe", "--yes"]);
  const lock1 = await Deno.readTextFile(join(s.project, "bpfpm.lock"));
  assert.deepEqual(Object.keys(JSON.parse(lock1).packages), [
    "bpf_modules/echo-probe",
    "bpf_modules/lib-a",
  ]);
  const out = await ok(["run", "echo-probe", "--yes", "--", "hello", "--flag"]);
  const seen = JSON.parse(out.stdout.trim().split("\n").pop()!);
  assert.equal(seen.tag, "v1");
  // The package's "bpf" is the sandbox's forwarding API (as root, its bundle in the sandbox's
  // cache: runtime/sandbox/_bundle.ts); its grants stay on the trusted side.
  assert.match(
    seen.bpf,
    /^file:\/\/\/var\/cache\/bpfpm-sandbox\/child-[0-9a-z]+-[0-9a-z]+\/sandbox\/child_mod\.js$/,
  );
  assert.equal(seen.signal, "PermissionDeniedError");
  assert.equal(seen.env, "NotCapable");
  assert.deepEqual(seen.args, ["hello", "--flag"]);
  assert.equal(seen.read, "NotCapable");
  const ver = JSON.parse((await ok(["verify", "--json"])).stdout);
  assert.deepEqual(ver.problems, []);
  assert.equal(ver.publisherSigned, 2);
  assert.equal(ver.registrySigned, registrySigns ? 2 : 0);

  const list = JSON.parse((await ok(["list", "--json"])).stdout);
  assert.deepEqual(
    list.map((p: { name: string; direct: boolean }) => [p.name, p.direct]),
    [["echo-probe", true], [
      "lib-a",
      false,
    ]],
  );
  const info = JSON.parse((await ok(["info", "echo-probe", "--json"])).stdout);
  assert.equal(info.version, "1.0.0");
  assert.equal(info.bpf.entry, "mod.bundle.js");
  const hits = JSON.parse((await ok(["search", "echo", "--json"])).stdout);
  assert.deepEqual(
    hits.filter((h: { name: string }) => h.name === "echo-probe").map((
      h: { version: string },
    ) => h.version),
    ["1.0.0"],
  );

  // Determinism: a fresh project and cache resolve to the same bytes.
  await using s2 = await sandbox(registry);
  await Deno.writeTextFile(
    join(s2.project, "package.json"),
    JSON.stringify({ dependencies: { "echo-probe": "^1.0.0" } }),
  );
  const r2 = await bpfpm(["install", "--yes"], {
    cwd: s2.project,
    env: s2.env,
  });
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(await Deno.readTextFile(join(s2.project, "bpfpm.lock")), lock1);

  // Frozen and offline from the cache: same tree, no network needed.
  await Deno.remove(join(s.project, "bpf_modules"));
  await ok(["install", "--frozen-lockfile", "--offline"]);
  assert.equal(await Deno.readTextFile(join(s.project, "bpfpm.lock")), lock1);
  assert.equal(
    (await snapshot(s.project))["bpf_modules/lib-a/index.js"],
    "export const a = 1;\n",
  );

  // A new version asking for more: shown, refused without --yes, accepted with it.
  await writePackage(probe, probeManifest("1.1.0", ["send_signal"]), {
    "lib.ts": `export const tag = "v2";\n`,
  });
  await ok(["publish", probe]);
  const od = JSON.parse((await ok(["outdated", "--json"])).stdout);
  assert.deepEqual(
    od.map((r: { name: string; wanted: string }) => [r.name, r.wanted]),
    [["echo-probe", "1.1.0"]],
  );
  const before = await snapshot(s.project);
  const up = await run(["update"]);
  assert.equal(up.code, 1);
  assert.match(up.stderr, /echo-probe@1\.1\.0 \(was 1\.0\.0\) declares/);
  assert.match(up.stderr, /\+ helper send_signal/);
  assert.deepEqual(await snapshot(s.project), before);
  await ok(["update", "--yes"]);
  const seen2 = JSON.parse(
    (await ok(["run", "echo-probe"])).stdout.trim().split("\n").pop()!,
  );
  assert.equal(seen2.tag, "v2");
  assert.equal(seen2.signal, "loaded");

  // Errors: an unsatisfiable range, a missing package, an unreachable registry.
  const unsat = await run(["install", "lib-a@^9", "--yes"]);
  assert.equal(unsat.code, 1);
  assert.match(
    unsat.stderr,
    /No version of lib-a satisfies "\^9" \(available: 1\.0\.0\)/,
  );
  const nf = await run(["install", "no-such-pkg", "--yes"]);
  assert.match(nf.stderr, /Package no-such-pkg was not found/);
  const down = await run([
    "install",
    "lib-a",
    "--yes",
    "--registry",
    `http://127.0.0.1:${freePort()}/`,
  ]);
  assert.match(
    down.stderr,
    /Cannot reach the registry at http:\/\/127\.0\.0\.1:\d+/,
  );

  await ok(["uninstall", "echo-probe"]);
  assert.deepEqual(JSON.parse((await ok(["list", "--json"])).stdout), []);
  await ok(["logout"]);
  const who = await run(["whoami"]);
  assert.match(who.stderr, /Not logged in/);
}

Deno.test("round trips against the bpfpm registry and Verdaccio, side by side", async () => {
  // Run concurrently: each is mostly waiting on child processes.
  const reg = await startRegistry({ port: 0, db: ":memory:", quiet: true });
  try {
    await using v = await startVerdaccio();
    const label = (name: string) => (e: Error) => {
      e.message = `[${name}] ${e.message}`;
      throw e;
    };
    await Promise.all([
      roundTrip(reg.url + "/", true).catch(label("bpfpm registry")),
      roundTrip(v.url, false).catch(label("verdaccio")),
    ]);
  } finally {
    await reg.close();
  }
});
