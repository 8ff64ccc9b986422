import assert from "node:assert/strict";

const POLICY = new URL("../../runtime/policy/mod.ts", import.meta.url).href;

/** Runs a snippet in a fresh Deno process (the outer grants are read once per process). */
async function snippet(
  code: string,
  options: { env?: Record<string, string>; flags?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  // `deno eval` always has every permission, so the snippet runs from a file with `deno run`.
  const file = await Deno.makeTempFile({
    prefix: "bpfpm_policy_",
    suffix: ".ts",
  });
  try {
    await Deno.writeTextFile(file, `import * as p from "${POLICY}";\n${code}`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...(options.flags ?? ["-A"]), file],
      env: options.env ?? {},
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout).trim(),
      stderr: dec.decode(out.stderr),
    };
  } finally {
    await Deno.remove(file);
  }
}

const OUTER = JSON.stringify({
  attach: [{ kind: "tracepoint", target: "sched:*" }],
  helpers: [],
  mapMemory: "1MiB",
});

Deno.test("a script cannot widen the grants bpfpm run gives in BPFPM_GRANTS", async () => {
  const r = await snippet(
    `
console.log(JSON.stringify(p.effectiveGrants()));
console.log(JSON.stringify(p.effectiveGrants({ attach: [{ kind: "tracepoint", target: "sched:sched_switch" }] })));
Deno.env.set("BPFPM_GRANTS", "{}");
console.log(JSON.stringify(p.grantsFromEnvironment()));
for (const g of [{ helpers: ["send_signal"] }, { attach: [{ kind: "kprobe" }] }, { mapMemory: "2MiB" }]) {
  try { p.effectiveGrants(g); console.log("allowed"); }
  catch (e) { console.log(e.name + ": " + e.missingGrant + ": " + e.message); }
}`,
    { env: { BPFPM_GRANTS: OUTER } },
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.deepEqual(JSON.parse(lines[0]), JSON.parse(OUTER));
  assert.deepEqual(JSON.parse(lines[1]).attach, [{
    kind: "tracepoint",
    target: "sched:sched_switch",
  }]);
  // Setting the variable later changes nothing: it was read at import.
  assert.deepEqual(JSON.parse(lines[2]), JSON.parse(OUTER));
  assert.equal(
    lines[3],
    'PermissionDeniedError: helpers: ["send_signal"]: Permission denied: the script asks for the helper class send_signal, which the outer grant set (BPFPM_GRANTS, from bpfpm run) does not include: declare it in the package\'s bpf.grants',
  );
  assert.match(
    lines[4],
    /^PermissionDeniedError: attach: \[\{ kind: "kprobe" \}\]: .*asks for attach kprobe \(any target\)/,
  );
  assert.match(
    lines[5],
    /^PermissionDeniedError: mapMemory: "2MiB": .*mapMemory 2MiB, more than 1MiB/,
  );
});

Deno.test("with the policy preloaded, setting BPFPM_GRANTS before importing the runtime does not raise the ceiling", async () => {
  const file = await Deno.makeTempFile({
    prefix: "bpfpm_policy_",
    suffix: ".ts",
  });
  try {
    // A static import would run first; the dynamic one comes after the script's own set().
    await Deno.writeTextFile(
      file,
      `Deno.env.set("BPFPM_GRANTS", JSON.stringify({ helpers: ["send_signal"] }));
const p = await import("${POLICY}");
try { p.effectiveGrants({ helpers: ["send_signal"] }); console.log("widened"); }
catch (e) { console.log(e.name); }`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-env=BPFPM_GRANTS",
        `--preload=${
          new URL("../../runtime/policy/effective.ts", import.meta.url).pathname
        }`,
        file,
      ],
      env: { BPFPM_GRANTS: OUTER },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(out.stdout).trim(),
      "PermissionDeniedError",
      new TextDecoder().decode(out.stderr),
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("without BPFPM_GRANTS the default allows every kind and no risky helper", async () => {
  const r = await snippet(
    `console.log(JSON.stringify([p.grantsFromEnvironment() ?? null, p.effectiveGrants()]));`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [null, {}]);
});

Deno.test("an invalid BPFPM_GRANTS is reported, not ignored", async () => {
  for (
    const [value, message] of [
      ["{not json", /^BPFPM_GRANTS is not JSON \(.*\): bpfpm run sets it/],
      [
        '{"helpers":["everything"]}',
        /^BPFPM_GRANTS\.helpers\[0\] must be one of probe_write_user, .*got "everything": bpfpm run/,
      ],
    ] as const
  ) {
    const r = await snippet(
      `try { p.effectiveGrants(); console.log("accepted"); } catch (e) { console.log(e.name + ": " + e.message); }`,
      { env: { BPFPM_GRANTS: value } },
    );
    assert.equal(r.code, 0, r.stderr);
    const [name, ...rest] = r.stdout.split(": ");
    assert.equal(name, "GrantsEnvironmentError");
    assert.match(rest.join(": "), message);
  }
});

Deno.test("checkDenoPermissions names the exact flag that is missing", async () => {
  // A HOME of its own, so the flags name a cache directory this test owns and removes.
  const home = await Deno.makeTempDir({ prefix: "bpfpm_home_" });
  try {
    await checkFlags(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

async function checkFlags(home: string): Promise<void> {
  const flagsOut = await snippet(
    `console.log(JSON.stringify(p.requiredDenoFlags()));`,
    {
      env: { HOME: home },
    },
  );
  assert.equal(flagsOut.code, 0, flagsOut.stderr);
  const flags: string[] = JSON.parse(flagsOut.stdout);
  const read = flags.find((f) => f.startsWith("--allow-read="))!;
  assert.ok(read.includes("/sys/kernel/btf") && read.includes("/proc"), read);
  const check =
    `try { p.checkDenoPermissions(); console.log("ok"); } catch (e) { console.log(e.name + "|" + e.flag + "|" + e.message); }`;
  const withAll = await snippet(check, {
    flags,
    env: { HOME: home },
  });
  assert.equal(withAll.stdout, "ok", withAll.stderr);
  const noBtf = flags.map((f) =>
    f.startsWith("--allow-read=") ? f.replace("/sys/kernel/btf,", "") : f
  );
  const r = await snippet(check, {
    flags: noBtf,
    env: { HOME: home },
  });
  const [name, flag, message] = r.stdout.split("|");
  assert.equal(name, "DenoPermissionError");
  assert.equal(flag, "--allow-read=/sys/kernel/btf");
  assert.equal(
    message,
    "Deno may not read /sys/kernel/btf: run deno with --allow-read=/sys/kernel/btf (or -A)",
  );
}
