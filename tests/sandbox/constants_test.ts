/**
 * `BPF.load({ constants })` from a package run by `bpfpm run`: the values cross the sandbox's
 * channel (bigints too) and are set in the program's `.rodata` on the trusted side, so a
 * `const volatile` target filters there; a wrong type is refused with its message.
 */
import assert from "node:assert/strict";
import {
  hostilePackage,
  programsNamed,
  runPackageDir,
  tag,
  world,
} from "./_helpers.ts";

/** The C of tests/runtime/constants_test.ts, its program named `name`. */
const FILTER = (name: string) =>
  Deno.readTextFileSync(
    new URL("../runtime/fixtures/target_pid.bpf.c", import.meta.url),
  ).replace("PROG_NAME", name);

// Waits until the target has 50 calls counted, then prints every pid the map holds.
const MOD = `import { BPF } from "bpf";
const target = Number(Deno.args[0]);
using b = await BPF.load({
  file: new URL("./probe.bpf.c", import.meta.url),
  constants: { target_pid: target, step: 1n },
});
const counts = b.map("counts");
for (let i = 0; i < 200; i++) {
  if ((counts.get(target) ?? 0n) >= 50n) break;
  await new Promise((r) => setTimeout(r, 50));
}
console.log(JSON.stringify({ pids: [...counts.keys()], target: String(counts.get(target)) }));
`;

/** A process calling getppid every millisecond until killed. */
function pinger(): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: [
      "-c",
      "import os, time\nwhile True:\n  os.getppid()\n  time.sleep(0.001)",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("bpfpm run: a package's constants reach the trusted side's load and filter there", async () => {
  await using w = await world();
  const name = `k${tag()}`;
  const dir = await hostilePackage(w.root, "constants-pkg", MOD, {}, {
    "probe.bpf.c": FILTER(name),
  });
  const target = pinger();
  const other = pinger();
  try {
    const out = await runPackageDir(w, dir, [String(target.pid)]);
    assert.equal(out.code, 0, out.stderr);
    const line = out.stdout.trim().split("\n").pop()!;
    const { pids, target: count } = JSON.parse(line);
    assert.deepEqual(pids, [target.pid], line);
    assert.ok(Number(count) >= 50, line);

    const bad = await runPackageDir(w, dir, ["-1"]);
    assert.notEqual(bad.code, 0);
    assert.match(
      bad.stderr,
      /constant target_pid \(u32, 4 bytes\) must be an integer from 0 to 4294967295 \(number or bigint\), got the number -1/,
    );
  } finally {
    for (const child of [target, other]) {
      child.kill();
      await child.status;
    }
  }
  assert.deepEqual(await programsNamed(name), []);
});
