/**
 * What a package names must exist: a publish with a misspelled tracepoint (or kernel
 * function) is refused before anything is uploaded, naming the nearest real name; a
 * package needing a newer kernel is warned about at install and refused at run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import {
  bpfpm,
  type Output,
  publishRaw,
  type Sandbox,
  sandbox,
} from "./_helpers.ts";

function manifest(name: string, attach: { kind: string; target: string }[]) {
  return {
    name,
    version: "1.0.0",
    type: "module",
    files: ["mod.ts"],
    bpf: {
      entry: "mod.ts",
      kernel: { btf: true, tracepoints: ["syscalls:sys_enter_execve"] },
      grants: { attach },
      deno: [],
    },
  };
}

/** A registry, a sandboxed project and a signed-up publisher, all gone when `body` ends. */
async function withPublisher(
  user: string,
  body: (
    ctx: {
      url: string;
      s: Sandbox;
      cli: (args: string[]) => Promise<Output>;
    },
  ) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-kcheck-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    const url = `${reg.url}/`;
    await using s = await sandbox(url);
    const cli = (args: string[]) => bpfpm(args, { cwd: s.project, env: s.env });
    const r = await cli([
      "adduser",
      "--user",
      user,
      "--password",
      `${user}-secret-pw`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    await body({ url, s, cli });
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("publish refuses names this kernel lacks; minVersion is checked at install and run", async () => {
  await withPublisher("kc", async ({ url, s, cli }) => {
    let r: Output;
    const status = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      await res.body?.cancel();
      return res.status;
    };

    const pkg = join(s.root, "typo");
    await Deno.mkdir(pkg);
    await Deno.writeTextFile(join(pkg, "mod.ts"), "console.log('typo');\n");
    const write = (attach: { kind: string; target: string }[]) =>
      Deno.writeTextFile(
        join(pkg, "package.json"),
        JSON.stringify(manifest("typo-probe", attach)),
      );

    await write([{ kind: "tracepoint", target: "syscalls:sys_enter_exceve" }]);
    r = await cli(["publish", pkg]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split("\n").filter((l) =>
      !/^(compiling|bundling) /.test(l)
    );
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /grants\.attach\[0\]: tracepoint syscalls:sys_enter_exceve does not exist on this kernel \(did you mean syscalls:sys_enter_execve\?\)/,
    );
    assert.equal(await status("typo-probe"), 404);

    await write([
      { kind: "tracepoint", target: "syscalls:sys_enter_execve" },
      { kind: "fentry", target: "tcp_v4_conect" },
    ]);
    r = await cli(["publish", pkg]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /grants\.attach\[1\]: kernel function tcp_v4_conect does not exist .*did you mean tcp_v4_connect\?/,
    );
    assert.equal(await status("typo-probe"), 404);

    // Globs need at least one match; the right names publish.
    await write([{ kind: "tracepoint", target: "syscalls:sys_enter_exec*" }]);
    r = await cli(["publish", pkg]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await status("typo-probe"), 200);

    // A package for a kernel newer than this one.
    const token = (await Deno.readTextFile(join(s.config, "bpfpmrc")))
      .match(/:_authToken=(.+)/)![1];
    const future = manifest("future-probe", [
      { kind: "tracepoint", target: "syscalls:sys_enter_execve" },
    ]);
    (future.bpf.kernel as Record<string, unknown>).minVersion = "99.0";
    await publishRaw(url, token, future, { "mod.ts": "console.log('ran');\n" });
    r = await cli(["install", "future-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: future-probe@1\.0\.0 needs Linux 99\.0 or newer; this kernel is \S+: run it on a newer kernel/,
    );
    r = await cli(["run", "future-probe", "--yes"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      `bpfpm run: future-probe@1.0.0 needs Linux 99.0 or newer; this kernel is ${Deno.osRelease()}: run it on a newer kernel`,
    );
    assert.doesNotMatch(r.stdout, /ran/);

    // A tracepoint this kernel lacks (published past the publish check, as by another
    // kernel's publisher): warned at install, refused at run.
    const elsewhere = manifest("elsewhere-probe", [
      { kind: "tracepoint", target: "syscalls:sys_enter_execve" },
    ]);
    elsewhere.bpf.kernel.tracepoints = ["nosuchcat:nosuch_event"];
    await publishRaw(url, token, elsewhere, {
      "mod.ts": "console.log('ran');\n",
    });
    r = await cli(["install", "elsewhere-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: elsewhere-probe@1\.0\.0 needs the tracepoint nosuchcat:nosuch_event, which this kernel lacks/,
    );
    // Run as a package and rendered from its declaration (--output): the same check.
    for (const extra of [[], ["--output", "ndjson"]]) {
      r = await cli(["run", "elsewhere-probe", ...extra, "--yes"]);
      assert.equal(r.code, 1, extra.join(" "));
      assert.match(
        r.stderr.trim(),
        /^bpfpm run: elsewhere-probe@1\.0\.0 needs the tracepoint nosuchcat:nosuch_event, which this kernel lacks: run it on a kernel that has it$/,
      );
    }

    // An attach kind this kernel lacks (features() says which and why): said at install
    // and run, not fatal (a syscall kprobe falls back to its tracepoint).
    const { features } = await import("../../runtime/features.ts");
    const kprobe = features().attach.kprobe;
    await publishRaw(
      url,
      token,
      manifest("kprobe-probe", [{ kind: "kprobe", target: "tcp_v4_connect" }]),
      { "mod.ts": "console.log('ran');\n" },
    );
    // This kernel has no kprobes (docs/attach.md); one that has them says nothing.
    const said = (stderr: string) =>
      assert.equal(
        stderr.includes(
          `warning: kprobe-probe@1.0.0 attaches kprobe programs, which this kernel cannot: ${kprobe.reason}\n`,
        ),
        !kprobe.supported,
        stderr,
      );
    r = await cli(["install", "kprobe-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    said(r.stderr);
    r = await cli(["run", "kprobe-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran\n");
    said(r.stderr);
  });
});

Deno.test("a target marked optional publishes, and install and run name it as missing here", async () => {
  await withPublisher("ko", async ({ s, cli }) => {
    let r: Output;
    const pkg = join(s.root, "maybe");
    await Deno.mkdir(pkg);
    // A package that runs without its optional tracepoint: it attaches by hand and skips
    // the one this kernel lacks.
    await Deno.writeTextFile(
      join(pkg, "maybe.bpf.c"),
      `SEC("tracepoint/syscalls/sys_enter_exceve") int on_exceve(void *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_enter_getppid") int on_getppid(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
`,
    );
    await Deno.writeTextFile(
      join(pkg, "mod.ts"),
      `import { BPF, TracepointNotFoundError } from "bpf";
using b = await BPF.load({
  file: new URL("./maybe.bpf.c", import.meta.url),
  autoAttach: false,
});
for (const [program, target] of [
  ["on_getppid", "syscalls:sys_enter_getppid"],
  ["on_exceve", "syscalls:sys_enter_exceve"],
]) {
  try {
    const link = b.attachTracepoint(program, target);
    console.log("attached", link.target);
  } catch (e) {
    if (!(e instanceof TracepointNotFoundError)) throw e;
    console.log("skipped", target);
  }
}
`,
    );
    const write = (
      bpf: { kernel: Record<string, unknown>; grants: unknown },
    ) =>
      Deno.writeTextFile(
        join(pkg, "package.json"),
        JSON.stringify({
          name: "maybe-probe",
          version: "1.0.0",
          type: "module",
          files: ["mod.ts", "maybe.bpf.c"],
          bpf: { entry: "mod.ts", sources: ["maybe.bpf.c"], deno: [], ...bpf },
        }),
      );
    const refused = async (line: RegExp) => {
      r = await cli(["publish", pkg]);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n").filter((l) =>
        !/^(compiling|bundling) /.test(l)
      );
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], line);
      assert.match(
        lines[0],
        /: fix the name in package\.json, or mark it "optional": true if the package runs without it$/,
      );
    };
    const getppid = {
      kind: "tracepoint",
      target: "syscalls:sys_enter_getppid",
    };

    // Needed names a typo broke, in each list: refused, naming the list entry.
    await write({
      kernel: { functions: ["tcp_v4_conect"] },
      grants: { attach: [getppid] },
    });
    await refused(
      /^bpfpm publish: kernel\.functions\[0\]: kernel function tcp_v4_conect does not exist on this kernel \(did you mean tcp_v4_connect\?\)/,
    );
    await write({
      kernel: { btfTypes: ["struct task_strct"] },
      grants: { attach: [getppid] },
    });
    await refused(
      /kernel\.btfTypes\[0\]: BTF type struct task_strct does not exist on this kernel/,
    );
    await write({
      kernel: { tracepoints: [{ name: "sched:sched_swtich" }] },
      grants: { attach: [getppid] },
    });
    await refused(
      /kernel\.tracepoints\[0\]: tracepoint sched:sched_swtich does not exist on this kernel \(did you mean sched:sched_switch\?\)/,
    );

    // The same names marked optional: published, each named as missing here.
    await write({
      kernel: {
        tracepoints: [{ name: "sched:sched_swtich", optional: true }],
        functions: ["tcp_v4_connect", {
          name: "tcp_v4_conect",
          optional: true,
        }],
        btfTypes: ["struct task_struct", {
          name: "struct task_strct",
          optional: true,
        }],
      },
      grants: {
        attach: [getppid, {
          kind: "tracepoint",
          target: "syscalls:sys_enter_exceve",
          optional: true,
        }],
      },
    });
    r = await cli(["publish", pkg]);
    assert.equal(r.code, 0, r.stderr);
    for (
      const line of [
        "grants.attach[1]: optional tracepoint syscalls:sys_enter_exceve does not exist on this kernel (did you mean syscalls:sys_enter_execve?)",
        "kernel.tracepoints[0]: optional tracepoint sched:sched_swtich does not exist on this kernel (did you mean sched:sched_switch?)",
        "kernel.functions[1]: optional kernel function tcp_v4_conect does not exist on this kernel (did you mean tcp_v4_connect?)",
        "kernel.btfTypes[1]: optional BTF type struct task_strct does not exist on this kernel",
      ]
    ) assert.ok(r.stderr.includes(line), `${line}\nnot in:\n${r.stderr}`);

    const note =
      "maybe-probe@1.0.0 runs without the tracepoint syscalls:sys_enter_exceve, the tracepoint sched:sched_swtich, the kernel function tcp_v4_conect, the BTF type struct task_strct (optional), which this kernel lacks";
    r = await cli(["install", "maybe-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stderr.includes(`warning: ${note}\n`), r.stderr);
    r = await cli(["run", "maybe-probe", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      "attached syscalls:sys_enter_getppid\nskipped syscalls:sys_enter_exceve\n",
    );
    assert.ok(r.stderr.includes(`warning: ${note}\n`), r.stderr);
  });
});

Deno.test("a literal tracepoint is found by its tracefs directory; a name that is a path is not", async () => {
  const { missingKernelTargets } = await import(
    "../../registry/client/kernel_check.ts"
  );
  const check = (target: string) =>
    missingKernelTargets(
      {
        grants: { attach: [{ kind: "tracepoint", target }] },
      } as Parameters<typeof missingKernelTargets>[0],
    );
  assert.deepEqual(await check("syscalls:sys_enter_openat"), []);
  assert.deepEqual(await check("syscalls:sys_enter_open*"), []);
  for (const target of ["syscalls:..", "syscalls:.", "syscalls:nosuch_event"]) {
    const missing = await check(target);
    assert.equal(missing.length, 1, target);
    assert.equal(missing[0].what, "tracepoint");
  }
});
