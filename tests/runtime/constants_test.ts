/**
 * BPF.load's `constants`: a program's `const volatile` values set between open and load. A
 * `target_pid` filter sees only its target's getppid events; a value the verifier would reject
 * behind a false constant is pruned as dead code; a wrong name or type is a TypeError.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { uniqueName, waitGone } from "./_helpers.ts";

/** tests/runtime/fixtures/target_pid.bpf.c, its program named `name`. */
const FILTER = (name: string) =>
  Deno.readTextFileSync(new URL("./fixtures/target_pid.bpf.c", import.meta.url))
    .replace("PROG_NAME", name);

/** A scalar dereferenced behind `strict`: the verifier rejects it unless strict is false. */
const PRUNED = (name: string) => `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
const volatile bool strict = false;
const volatile s64 unused = -1;
SEC("tracepoint/syscalls/sys_enter_getppid")
int ${name}(void *ctx) {
  if (strict) {
    u64 *p = (u64 *)(long)bpf_get_current_pid_tgid();
    return *p;
  }
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

/** A process that waits for a line on stdin, then calls getppid 50 times. */
function waiting(): Deno.ChildProcess {
  return new Deno.Command("python3", {
    args: [
      "-c",
      "import os, sys\nsys.stdin.readline()\nfor _ in range(50): os.getppid()",
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
}

async function release(child: Deno.ChildProcess): Promise<void> {
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  assert.ok((await child.status).success);
}

Deno.test("constants: a const volatile target_pid set before load filters to its process", async () => {
  const name = uniqueName();
  const target = waiting();
  const other = waiting();
  const ids: number[] = [];
  try {
    using filtered = await BPF.load({
      text: FILTER(name),
      constants: { target_pid: target.pid, step: 3n },
    });
    using all = await BPF.load({ text: FILTER(name) });
    ids.push(
      filtered.programs.get(name)!.id,
      all.programs.get(name)!.id,
    );
    await release(target);
    await release(other);
    const seen = new Map(filtered.map<number, bigint>("counts").entries());
    assert.deepEqual([...seen.keys()], [target.pid]);
    // Each call adds step (3): both values landed at their own offsets.
    const n = seen.get(target.pid)!;
    assert.ok(n >= 150n && n % 3n === 0n, String(n));
    // Without constants, target_pid stays 0: both processes are counted.
    const both = all.map<number, bigint>("counts");
    assert.ok((both.get(target.pid) ?? 0n) >= 50n);
    assert.ok((both.get(other.pid) ?? 0n) >= 50n);
  } finally {
    for (const child of [target, other]) {
      try {
        child.kill();
      } catch { /* it has exited */ }
      await child.status;
    }
  }
  assert.deepEqual(await waitGone(ids), []);
});

Deno.test("constants: the verifier sees them as constants (a false branch is dead code)", async () => {
  const name = uniqueName();
  // strict = true keeps the scalar dereference: the verifier rejects it.
  await assert.rejects(
    () =>
      BPF.load({
        text: PRUNED(name),
        constants: { strict: true },
        autoAttach: false,
      }),
    (e: unknown) => {
      assert.match((e as Error).message, /invalid mem access|scalar/i);
      return true;
    },
  );
  // Explicitly false (or left at its default): the branch is pruned and the load succeeds.
  using b = await BPF.load({
    text: PRUNED(name),
    constants: { strict: false, unused: -(2n ** 63n) },
    autoAttach: false,
  });
  assert.ok(b.programs.get(name)!.id > 0);
});

Deno.test("constants: an unknown name or a wrong type is a TypeError naming it", async () => {
  const name = uniqueName();
  const text = FILTER(name);
  const refused = async (
    constants: Record<string, number | bigint | boolean>,
    pattern: RegExp,
  ) => {
    await assert.rejects(
      () => BPF.load({ text, constants, autoAttach: false }),
      (e: unknown) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.match(e.message, pattern);
        return true;
      },
    );
  };
  await refused(
    { target_pdi: 1 },
    /constants names target_pdi, which the program does not declare; its const volatile values are step, target_pid$/,
  );
  await refused(
    { target_pid: true },
    /constant target_pid \(u32, 4 bytes\) must be an integer from 0 to 4294967295 \(number or bigint\), got the boolean true/,
  );
  await refused(
    { target_pid: -1 },
    /constant target_pid \(u32, 4 bytes\) must be an integer .* got the number -1/,
  );
  await refused({ target_pid: 2 ** 32 }, /got the number 4294967296/);
  await assert.rejects(
    () =>
      BPF.load({
        text: PRUNED(name),
        constants: { strict: 1 },
        autoAttach: false,
      }),
    /constant strict \(bool, 1 byte\) must be true or false, got the number 1/,
  );
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => BPF.load({ text, constants: { target_pid: "42" } as any }),
    /BPF\.load: option constants must be an object of the program's const volatile values/,
  );
});
