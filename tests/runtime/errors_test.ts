/**
 * Each bad input gives one clear message naming cause and fix, a non-zero exit, and leaves
 * none of the test's programs loaded. Runs child scripts (uncaught errors, as a user sees).
 */
import assert from "node:assert/strict";
import {
  assertNoneNamed,
  FIXTURE,
  REPO,
  runFixture,
  spawnFixture,
  uniqueName,
} from "./_helpers.ts";

Deno.test("verifier rejection: summary with the failing insn and reason; nothing stays loaded", async () => {
  const name = uniqueName();
  const r = await runFixture(["verifier", name]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `VerifierError: The verifier rejected program '${name}v': insn \\d+ \\(`,
    ),
  );
  assert.match(r.stderr, /off=100000/);
  const line = (await Deno.readTextFile(FIXTURE)).split("\n")
    .findIndex((l) => l.includes("ctx + 100000")) + 1;
  assert.ok(r.stderr.includes(` at ${FIXTURE}:${line}: `), r.stderr);
  await assertNoneNamed(name);
});

Deno.test("a load whose verification signals keep interrupting (EAGAIN) says so, not that the C is wrong; nothing stays loaded", async () => {
  const name = uniqueName();
  // Unsignalled, the same program loads: the C is fine.
  const quiet = await runFixture(["slow_verify", name]);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.match(quiet.stdout, /READY/);
  // A storm of SIGWINCH (which the script handles) from the moment it starts loading: the
  // verifier stops for the pending signal at every one of libbpf's attempts.
  const { child, reader: lines, out: first } = await spawnFixture(
    ["slow_verify", `${name}s`],
    "LOADING",
  );
  let out = first;
  // About a thousand signals a second, until the load has failed (its error is on stderr):
  // enough to stop every verification attempt, and no more. An unpaced storm kept on
  // while the process exits has held it in Deno's own sleeps for minutes.
  const storm = new Deno.Command("sh", {
    args: [
      "-c",
      `while kill -WINCH ${child.pid} 2>/dev/null; do sleep 0.001; done`,
    ],
  }).spawn();
  let stormOn = true;
  const stopStorm = async () => {
    if (!stormOn) return;
    stormOn = false;
    try {
      storm.kill("SIGKILL");
    } catch { /* ended with the child */ }
    await storm.status;
  };
  let err = "";
  const errors = (async () => {
    const r = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      err += value;
      if (/Error/.test(err)) await stopStorm();
    }
  })();
  try {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    const status = await child.status;
    await errors;
    assert.notEqual(status.code, 0, out);
    assert.match(
      err,
      new RegExp(
        `BpfError: The kernel stopped (verifying program '${name}s'|loading the BPF object) because a signal arrived while it ran \\(EAGAIN`,
      ),
    );
    assert.doesNotMatch(err, /VerifierError|change the C/);
  } finally {
    await stopStorm();
  }
  await assertNoneNamed(name);
});

Deno.test("a tracepoint that does not exist (SEC) is named, with where to list them; nothing loads", async () => {
  const name = uniqueName();
  const r = await runFixture(["missing_section", name]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `TracepointNotFoundError: Tracepoint syscalls:sys_enter_nope_${name} does not exist on this kernel: list the available ones with .*available_events`,
    ),
  );
  await assertNoneNamed(name);
});

Deno.test("a tracepoint that does not exist (TRACEPOINT_PROBE) is named before compiling", async () => {
  const name = uniqueName();
  const r = await runFixture(["missing_probe", name]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(`Tracepoint syscalls:sys_enter_nope_${name} does not exist`),
  );
});

Deno.test("a raw tracepoint that does not exist fails at attach and unloads every program", async () => {
  const name = uniqueName();
  const r = await runFixture(["missing_raw", name]);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(`Raw tracepoint nope_${name} does not exist on this kernel`),
  );
  await assertNoneNamed(name);
});

Deno.test("without CAP_BPF/CAP_PERFMON: says to run as root or grant them", async () => {
  const name = uniqueName();
  const r = await runFixture(["ok", name], {
    prefix: [
      "setpriv",
      "--bounding-set=-bpf,-perfmon,-sys_admin",
      "--inh-caps=-all",
    ],
  });
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /CapabilityError: Loading BPF programs needs CAP_BPF and CAP_PERFMON, which this process lacks: run as root \(sudo\) or grant CAP_BPF and CAP_PERFMON/,
  );
  await assertNoneNamed(name);
});

Deno.test("no kernel BTF (BPFPM_BTF_PATH points nowhere): names the path and the kernel option", async () => {
  const name = uniqueName();
  const r = await runFixture(["ok", name], {
    env: { BPFPM_BTF_PATH: `/nonexistent/${name}` },
  });
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `KernelBtfError: Kernel BTF not found at /nonexistent/${name}: boot a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    ),
  );
  await assertNoneNamed(name);
});

Deno.test("tracefs absent and not mountable (BPFPM_TRACEFS points nowhere): says how to mount it", async () => {
  const name = uniqueName();
  const r = await runFixture(["ok", name], {
    env: { BPFPM_TRACEFS: `/nonexistent/${name}` },
  });
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `TracefsError: tracefs is not mounted at /nonexistent/${name} and mounting it failed \\(cannot mount tracefs at /nonexistent/${name}: No such file or directory\\): mount it as root with \`mount -t tracefs tracefs /nonexistent/${name}\``,
    ),
  );
  await assertNoneNamed(name);
});

Deno.test("missing --allow-ffi: names the exact flag", async () => {
  const name = uniqueName();
  const r = await runFixture(["ok", name], {
    flags: ["--allow-read", "--allow-env", "--allow-write"],
  });
  assert.notEqual(r.code, 0);
  const lib = `${REPO}native/build/libbpfpm.so`;
  assert.ok(
    r.stderr.includes(
      `DenoPermissionError: Deno may not load the native library ${lib}: run deno with --allow-ffi=${lib} (or -A)`,
    ),
    r.stderr,
  );
  await assertNoneNamed(name);
});

Deno.test("C that does not compile: clang's diagnostic at line:column of the .ts file", async () => {
  const name = uniqueName();
  const r = await runFixture(["compile", name]);
  assert.notEqual(r.code, 0);
  const fixture = await Deno.readTextFile(FIXTURE);
  const lines = fixture.split("\n");
  const line =
    lines.findIndex((l) => l.includes("return not_declared_anywhere;")) + 1;
  const column = lines[line - 1].indexOf("not_declared_anywhere") + 1;
  assert.ok(
    r.stderr.includes(
      `${FIXTURE}:${line}:${column}: error: use of undeclared identifier 'not_declared_anywhere'`,
    ),
    r.stderr,
  );
  assert.match(r.stderr, /CompileError/);
  await assertNoneNamed(name);
});

Deno.test("narrow Deno flags: loads and runs with --allow-ffi=<libs>, no -A (no /sys or /proc access through Deno)", async () => {
  const name = uniqueName();
  const cache = Deno.env.get("BPFPM_CACHE_DIR") ??
    `${
      Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`
    }/bpfpm`;
  const libs =
    `${REPO}native/build/libbpfpm.so,${REPO}native/build/libbpfpm_compiler.so`;
  const r = await runFixture(["ok", name], {
    flags: [
      `--allow-ffi=${libs}`,
      "--allow-read",
      `--allow-write=${cache}`,
      "--allow-env",
      "--allow-sys",
    ],
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /READY \{"pid":\d+,"ids":\[\d+\],/);
  await assertNoneNamed(name);
});

Deno.test("a tp_btf tracepoint that does not exist is named at load; nothing stays loaded", async () => {
  const name = uniqueName();
  const r = await runFixture(["missing_btf", name]);
  assert.notEqual(r.code, 0);
  assert.ok(
    r.stderr.includes(
      `TracepointNotFoundError: Program '${name}' (tp_btf/nope_${name}) names tracepoint 'nope_${name}', which this kernel does not have`,
    ),
    r.stderr,
  );
  await assertNoneNamed(name);
});

Deno.test("every error class mod.ts exports is a value that extends BpfError and keeps its cause", async () => {
  const api = await import("../../mod.ts");
  const classes = Object.entries(api).filter(([name, value]) =>
    typeof value === "function" && /Error$/.test(name)
  ) as [string, new (...args: never[]) => Error][];
  const names = classes.map(([name]) => name);
  for (
    const name of [
      "PermissionDeniedError",
      "GrantsEnvironmentError",
      "BccRewriteError",
      "ClosedError",
      "RecordSizeError",
      "CompileError",
      "ObjectFormatError",
    ]
  ) assert.ok(names.includes(name), `${name} is a value export`);
  for (const [name, cls] of classes) {
    assert.ok(
      cls === api.BpfError || cls.prototype instanceof api.BpfError,
      `${name} extends BpfError`,
    );
  }
  const cause = new Error("underneath");
  const closed = new api.ClosedError('Map "m" is closed', {
    resource: 'map "m"',
    cause,
  });
  assert.equal(closed.cause, cause);
  assert.equal(closed.errno, api.Errno.EBADF);
});
