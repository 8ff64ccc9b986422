/**
 * Which kernel-header shims exist decides the rewrite (an include without a shim becomes
 * `<bcc/compat.h>`), so the warm start's rewrite memo depends on the runtime/include
 * directories where the C's kernel headers have (or would have) their shims, as on the
 * rewriter's modules: a shim added or removed there within one boot makes the memo stale.
 */
import assert from "node:assert/strict";
import { rewritten } from "../../runtime/_warm.ts";
import { INCLUDE_DIR } from "../../runtime/compile/_include_dir.ts";

type Dep = [string, number, number, number];

Deno.test("the rewrite memo depends on the include directories of the C's kernel headers, and is not used once one changed", async () => {
  const cache = await Deno.makeTempDir({ prefix: "bpfpm_bcc_memo_" });
  const saved = Deno.env.get("BPFPM_CACHE_DIR");
  Deno.env.set("BPFPM_CACHE_DIR", cache);
  const memoOf = async (source: string) => {
    let before = new Set<string>();
    try {
      before = new Set(
        [...Deno.readDirSync(`${cache}/obj`)].map((e) => e.name),
      );
    } catch { /* no memo yet */ }
    const text = await rewritten(source);
    const [name] = [...Deno.readDirSync(`${cache}/obj`)]
      .map((e) => e.name)
      .filter((n) => n.endsWith(".src") && !before.has(n));
    const path = `${cache}/obj/${name}`;
    return { text, path, memo: JSON.parse(await Deno.readTextFile(path)) };
  };
  const headerDirs = (deps: Dep[]) =>
    deps.map((d) => d[0]).filter((p) => p.startsWith(INCLUDE_DIR)).sort();
  try {
    const source = `#include <linux/bpfpm_no_such_header_${Date.now()}.h>
      #include <trace/events/bpfpm_no_such_events.h>
      TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }`;
    const { text, path, memo } = await memoOf(source);
    assert.match(
      text,
      /#include <bcc\/compat.h> \/\* for <linux\/bpfpm_no_such/,
    );
    // Where each header's shim would be: include/linux, and for trace/events (no such
    // directory) include itself, whose mtime a new trace/ would change.
    assert.deepEqual(
      headerDirs(memo.deps),
      [INCLUDE_DIR, `${INCLUDE_DIR}/linux`].sort(),
    );
    // A valid memo is used ...
    await Deno.writeTextFile(path, JSON.stringify({ ...memo, text: "memo" }));
    assert.equal(await rewritten(source), "memo");
    // ... but not once include/linux is not as recorded (a shim was added there).
    const at = (memo.deps as Dep[]).findIndex((d) =>
      d[0] === `${INCLUDE_DIR}/linux`
    );
    memo.deps[at][2] -= 1000;
    await Deno.writeTextFile(path, JSON.stringify({ ...memo, text: "memo" }));
    assert.equal(await rewritten(source), text);

    // A program that includes no kernel header depends on no header directory.
    const plain = await memoOf(
      `TRACEPOINT_PROBE(syscalls, sys_enter_getpid) { return 0; }`,
    );
    assert.deepEqual(headerDirs(plain.memo.deps), []);
  } finally {
    if (saved === undefined) Deno.env.delete("BPFPM_CACHE_DIR");
    else Deno.env.set("BPFPM_CACHE_DIR", saved);
    await Deno.remove(cache, { recursive: true });
  }
});
