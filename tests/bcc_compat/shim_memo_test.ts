/**
 * Which kernel-header shims exist decides the rewrite (an include without a shim becomes
 * `<bcc/compat.h>`), so the warm start's rewrite memo depends on runtime/include's
 * directories as on the rewriter's modules: a shim added or removed within one boot makes the
 * memo stale.
 */
import assert from "node:assert/strict";
import { rewritten } from "../../runtime/_warm.ts";
import { INCLUDE_DIR } from "../../runtime/compile/_include_dir.ts";

Deno.test("the rewrite memo depends on runtime/include's directories, and is not used once one changed", async () => {
  const cache = await Deno.makeTempDir({ prefix: "bpfpm_bcc_memo_" });
  const saved = Deno.env.get("BPFPM_CACHE_DIR");
  Deno.env.set("BPFPM_CACHE_DIR", cache);
  try {
    const source = `#include <linux/bpfpm_no_such_header_${Date.now()}.h>
      TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }`;
    const text = await rewritten(source);
    assert.match(
      text,
      /#include <bcc\/compat.h> \/\* for <linux\/bpfpm_no_such/,
    );
    const [name] = [...Deno.readDirSync(`${cache}/obj`)]
      .filter((e) => e.name.endsWith(".src")).map((e) => e.name);
    const path = `${cache}/obj/${name}`;
    const memo = JSON.parse(await Deno.readTextFile(path));
    const paths = (memo.deps as [string, number, number, number][]).map((d) =>
      d[0]
    );
    for (
      const dir of [
        INCLUDE_DIR,
        `${INCLUDE_DIR}/linux`,
        `${INCLUDE_DIR}/uapi/linux`,
      ]
    ) {
      assert.ok(paths.includes(dir), `${dir} in ${paths.join(" ")}`);
    }
    // A valid memo is used ...
    await Deno.writeTextFile(path, JSON.stringify({ ...memo, text: "memo" }));
    assert.equal(await rewritten(source), "memo");
    // ... but not once include/linux is not as recorded (a shim was added there).
    const at = paths.indexOf(`${INCLUDE_DIR}/linux`);
    memo.deps[at][2] -= 1000;
    await Deno.writeTextFile(path, JSON.stringify({ ...memo, text: "memo" }));
    assert.equal(await rewritten(source), text);
  } finally {
    if (saved === undefined) Deno.env.delete("BPFPM_CACHE_DIR");
    else Deno.env.set("BPFPM_CACHE_DIR", saved);
    await Deno.remove(cache, { recursive: true });
  }
});
