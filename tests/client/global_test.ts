/**
 * Probes as commands, as a user meets them: the bpfpm CLI installed by
 * scripts/install_bpfpm.sh from a checkout that is then moved away; `install -g` putting a
 * command on PATH that runs under any HOME and with none; `uninstall -g`; `bpfpm x`;
 * `bpfpm run` from a project's subdirectory; grants accepted at install not asked again.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { onPty, publishRaw, REPO, run } from "./_helpers.ts";

const PATH = "/usr/local/bin:/usr/bin:/bin";

function probe(version: string, helpers: string[] = []) {
  return {
    name: "hello-probe",
    version,
    bpf: {
      entry: "mod.ts",
      grants: {
        attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_execve" }],
        helpers,
      },
      deno: [],
    },
  };
}
const ENTRY = 'console.log(`hello-probe ${Deno.args.join(",")} done`);\n';

function sh(
  cmd: string[],
  opts: { cwd?: string; env: Record<string, string> },
) {
  return run(cmd, { ...opts, clearEnv: true });
}

Deno.test("the installed bpfpm outlives its checkout; install -g makes a command for any HOME; x and run from a subdirectory", async () => {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-global-" });
  const reg = await startRegistry({ db: join(root, "registry.db") });
  try {
    // A checkout (a copy of this one), installed, then moved away and deleted.
    const checkout = join(root, "checkout");
    await Deno.mkdir(join(checkout, "native", "build"), { recursive: true });
    await Deno.mkdir(join(checkout, "scripts"));
    const copy = await sh([
      "cp",
      "-a",
      ...["mod.ts", "deno.json", "deno.lock", "runtime", "registry"].map((f) =>
        join(REPO, f)
      ),
      ...(existsSync(join(REPO, "node_modules"))
        ? [join(REPO, "node_modules")]
        : []),
      checkout,
    ], { env: { PATH } });
    assert.equal(copy.code, 0, copy.stderr);
    for (const f of ["bpfpm.ts", "install_bpfpm.sh"]) {
      await Deno.copyFile(
        join(REPO, "scripts", f),
        join(checkout, "scripts", f),
      );
    }
    for (
      const lib of ["libbpfpm.so", "libbpfpm_compiler.so", "libbpfpm_clang.so"]
    ) {
      await Deno.copyFile(
        join(REPO, "native", "build", lib),
        join(checkout, "native", "build", lib),
      );
    }
    const prefix = join(root, "prefix");
    const installed = await sh(
      ["bash", join(checkout, "scripts", "install_bpfpm.sh")],
      { env: { PATH, HOME: root, BPFPM_PREFIX: prefix } },
    );
    assert.equal(installed.code, 0, installed.stderr);
    await Deno.rename(checkout, join(root, "moved"));
    await Deno.remove(join(root, "moved"), { recursive: true });
    const bpfpmBin = join(prefix, "bin", "bpfpm");
    assert.doesNotMatch(
      await Deno.readTextFile(bpfpmBin),
      /\/checkout\/(?!.*by)/,
    );

    const home = join(root, "home");
    await Deno.mkdir(home);
    const cache = join(root, "cache");
    const base = { PATH: `${prefix}/bin:${PATH}`, NO_COLOR: "1" };
    const asUser = { ...base, HOME: home, BPFPM_CACHE_DIR: cache };
    let r = await sh([bpfpmBin, "--version"], { env: asUser, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+/);

    // gen-types outside any checkout: types for a probe's C in a directory of its own.
    const work = join(root, "work");
    await Deno.mkdir(work);
    await Deno.writeTextFile(
      join(work, "probe.bpf.c"),
      `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct event { __u32 pid; __u64 ts; char comm[16]; };
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16);
  __type(key, __u32);
  __type(value, struct event);
} seen SEC(".maps");
char LICENSE[] SEC("license") = "GPL";
`,
    );
    r = await sh([bpfpmBin, "gen-types", "probe.bpf.c", "--out", "types.ts"], {
      env: asUser,
      cwd: work,
    });
    assert.equal(r.code, 0, r.stderr);
    const types = await Deno.readTextFile(join(work, "types.ts"));
    assert.match(
      types,
      /export interface Event \{[^}]*pid: number;[^}]*ts: bigint;[^}]*comm: string;/,
    );
    assert.match(types, /seen: \{ key: number; value: Event \}/);
    r = await sh([bpfpmBin, "gen-types"], { env: asUser, cwd: work });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^usage: bpfpm gen-types </);

    const url = `${reg.url}/`;
    const installG = (pkg: string, at: string) =>
      sh([
        bpfpmBin,
        "install",
        "-g",
        pkg,
        "--prefix",
        at,
        "--registry",
        url,
        "--yes",
      ], { env: asUser, cwd: root });

    // Publish a package, with the moved CLI.
    r = await sh([
      bpfpmBin,
      "adduser",
      "--user",
      "gal",
      "--password",
      "gal-secret-pw",
      "--registry",
      url,
    ], { env: asUser, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const token = (await Deno.readTextFile(
      join(home, ".config", "bpfpm", "bpfpmrc"),
    )).match(/:_authToken=(.+)/)![1];
    await publishRaw(url, token, probe("1.0.0"), { "mod.ts": ENTRY });

    // install -g: the command lands in <prefix>/bin.
    r = await installG("hello-probe", prefix);
    assert.equal(r.code, 0, r.stderr);
    const launcher = join(prefix, "bin", "hello-probe");
    assert.match(r.stderr, new RegExp(`${launcher} runs hello-probe`));
    assert.doesNotMatch(r.stderr, /not on PATH/);
    assert.ok(existsSync(join(prefix, "lib", "bpfpm", "global", "bpfpm.lock")));

    // The bare command: under another HOME, with HOME unset, from any directory.
    for (
      const env of <Record<string, string>[]> [
        { ...base, HOME: home },
        { ...base, HOME: join(root, "nobody-home") },
        { ...base },
      ]
    ) {
      r = await sh(["hello-probe", "-x", "--flag", "42"], { env, cwd: "/" });
      assert.equal(r.code, 0, `HOME=${env.HOME ?? "(unset)"}: ${r.stderr}`);
      assert.match(r.stdout, /^hello-probe -x,--flag,42 done$/m);
    }
    r = await sh(
      [bpfpmBin, "list", "-g", "--prefix", prefix, "--json"],
      { env: { ...base }, cwd: "/" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).map((p: { name: string }) => p.name),
      ["hello-probe"],
    );

    // A file in the bin dir that is not ours is never replaced.
    await Deno.writeTextFile(join(prefix, "bin", "mine"), "#!/bin/sh\n");
    await publishRaw(url, token, { ...probe("1.0.0"), name: "mine" }, {
      "mod.ts": ENTRY,
    });
    r = await installG("mine", prefix);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /mine exists and is not a bpfpm launcher/);
    assert.equal(
      await Deno.readTextFile(join(prefix, "bin", "mine")),
      "#!/bin/sh\n",
    );
    assert.doesNotMatch(
      await Deno.readTextFile(
        join(prefix, "lib", "bpfpm", "global", "package.json"),
      ),
      /"mine"/,
    );

    r = await sh([
      bpfpmBin,
      "uninstall",
      "-g",
      "hello-probe",
      "--prefix",
      prefix,
      "--registry",
      url,
    ], { env: asUser, cwd: root });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(launcher));
    r = await sh(["sh", "-c", "command -v hello-probe"], {
      env: { ...base, HOME: home },
      cwd: "/",
    });
    assert.equal(r.code, 127, `still on PATH: ${r.stdout}`);

    // Another prefix, not on PATH: said so; its launcher runs by path.
    const prefix2 = join(root, "prefix2");
    r = await installG("hello-probe", prefix2);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`warning: ${prefix2}/bin is not on PATH: add it`),
    );
    r = await sh([join(prefix2, "bin", "hello-probe"), "z"], {
      env: { ...base },
      cwd: "/",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello-probe z done$/m);

    // bpfpm x: no project, fetched, verified, run; args after the name are the package's.
    const nowhere = join(root, "nowhere");
    await Deno.mkdir(nowhere);
    r = await sh([
      bpfpmBin,
      "x",
      "--registry",
      url,
      "--yes",
      "hello-probe@1",
      "-p",
      "7",
    ], { env: asUser, cwd: nowhere });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^hello-probe -p,7 done$/m);
    assert.deepEqual([...Deno.readDirSync(nowhere)], []);
    r = await sh([bpfpmBin, "x", "--registry", url, "hello-probe@1", "b"], {
      env: asUser,
      cwd: nowhere,
    });
    assert.equal(r.code, 0, `x again (approved before): ${r.stderr}`);
    assert.match(r.stdout, /^hello-probe b done$/m);
    r = await sh([bpfpmBin, "x", "--registry", url, "no-such-probe"], {
      env: asUser,
      cwd: nowhere,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no-such-probe/);

    // A project: run from a subdirectory; grants accepted at install are not asked again.
    const project = join(root, "project");
    await Deno.mkdir(join(project, "src", "deep"), { recursive: true });
    const tty = (args: string[], answers: [string, string][], cwd: string) =>
      onPty([bpfpmBin, ...args], answers, cwd, asUser);
    let t = await tty(
      ["install", "hello-probe@1.0.0", "--registry", url],
      [["Grant these permissions?", "y"]],
      project,
    );
    assert.equal(t.code, 0, t.screen);
    assert.match(t.screen, /Grant these permissions\?/);
    t = await tty(
      ["run", "hello-probe", "--", "a"],
      [],
      join(project, "src", "deep"),
    );
    assert.equal(t.code, 0, t.screen);
    assert.doesNotMatch(t.screen, /Run with these permissions\?/);
    assert.match(t.screen, /hello-probe a done/);

    // Without the record, run asks; new grants are asked for at install, then not at run.
    await publishRaw(url, token, probe("1.1.0", ["send_signal"]), {
      "mod.ts": ENTRY,
    });
    t = await tty(
      ["install", "hello-probe@1.1.0", "--registry", url],
      [["Grant these permissions?", "n"]],
      join(project, "src"),
    );
    assert.notEqual(t.code, 0, t.screen);
    assert.match(t.screen, /\+ helper send_signal/);
    await Deno.remove(join(project, ".bpfpm", "approved.json"));
    t = await tty(
      ["run", "hello-probe"],
      [["Run with these permissions?", "n"]],
      join(project, "src"),
    );
    assert.match(t.screen, /Run with these permissions\?/);
    assert.doesNotMatch(t.screen, /hello-probe {2}done/);
    t = await tty(
      ["install", "hello-probe@1.1.0", "--registry", url],
      [["Grant these permissions?", "y"]],
      project,
    );
    assert.equal(t.code, 0, t.screen);
    assert.match(t.screen, /helper send_signal/);
    t = await tty(["run", "hello-probe", "--", "b"], [], project);
    assert.equal(t.code, 0, t.screen);
    assert.doesNotMatch(t.screen, /Run with these permissions\?/);
    assert.match(t.screen, /hello-probe b done/);
  } finally {
    await reg.close();
    await Deno.remove(root, { recursive: true });
  }
});
