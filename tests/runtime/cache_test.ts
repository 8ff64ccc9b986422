/**
 * The compile cache seen from BPF.load: a second load of the same C compiles nothing and does
 * not load the compiler; a changed source compiles again.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { compilerStats } from "../../runtime/compile/mod.ts";
import {
  assertNoneNamed,
  runFixture,
  uniqueName,
  waitGone,
} from "./_helpers.ts";

Deno.test("cache: the second load of the same C is a cache hit (no compile)", async () => {
  const name = uniqueName();
  const text =
    `SEC("tracepoint/syscalls/sys_enter_getppid") int ${name}(void *ctx) { return 0; }`;
  const ids: number[] = [];
  {
    using first = await BPF.load({ text });
    assert.equal(first.cached, false, "a new source must compile");
    ids.push(first.programs.get(name)!.id);
  }
  const before = compilerStats();
  {
    using second = await BPF.load({ text });
    assert.equal(second.cached, true);
    ids.push(second.programs.get(name)!.id);
  }
  const after = compilerStats();
  assert.equal(after.compiles, before.compiles);
  assert.equal(after.cacheHits, before.cacheHits + 1);
  assert.notEqual(ids[0], ids[1], "each load loads its own program");
  assert.deepEqual(await waitGone(ids), []);
});

Deno.test("cache: a warm start (new process, cached object) never loads the compiler (LLVM)", async () => {
  const name = uniqueName();
  const ready = async () => {
    const r = await runFixture(["ok", name]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(/READY (\{.*\})/.exec(r.stdout)![1]) as {
      cached: boolean;
      llvm: boolean;
    };
  };
  const cold = await ready();
  assert.deepEqual([cold.cached, cold.llvm], [false, true]);
  const warm = await ready();
  assert.deepEqual([warm.cached, warm.llvm], [true, false]);
  await assertNoneNamed(name);
});
