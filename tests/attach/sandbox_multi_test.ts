/**
 * A sandboxed package attaches a uprobe.multi through the trusted side, which checks every
 * function the glob resolves to against the package's grants.
 */
import assert from "node:assert/strict";
import { findLibrary } from "../../mod.ts";
import {
  hostilePackage,
  lastJson,
  programsLeft,
  runPackageDir,
  tag,
  world,
} from "../sandbox/_helpers.ts";

Deno.test("a sandboxed attachUprobeMulti is checked place by place against the package's grants", async () => {
  await using w = await world();
  const t = tag();
  const libc = findLibrary("c")!;
  const dir = await hostilePackage(
    w.root,
    `multi-${t}`,
    `const { BPF } = await import("bpf");
using b = await BPF.load({ autoAttach: false, text: \`SEC("uprobe.multi") int um_${t}(void *ctx) { return 0; }\` });
const out = {};
try {
  b.attachUprobeMulti("um_${t}", { binary: ${
      JSON.stringify(libc)
    }, symbols: "getp*" });
  out.wide = ["attached"];
} catch (e) { out.wide = [e.name, e.message]; }
const link = b.attachUprobeMulti("um_${t}", { binary: ${
      JSON.stringify(libc)
    }, symbols: ["getpid", "getppid"], cookies: [1n, 2n] });
out.granted = [link.kind, link.target, link.id > 0];
console.log(JSON.stringify(out));`,
    {
      grants: {
        attach: [
          { kind: "uprobe", target: `${libc}:getpid` },
          { kind: "uprobe", target: `${libc}:getppid` },
        ],
        helpers: [],
      },
    },
  );
  const r = await runPackageDir(w, dir);
  assert.equal(r.code, 0, r.stderr);
  const out = lastJson(r.stdout) as Record<string, unknown[]>;
  assert.equal(out.wide[0], "PermissionDeniedError", String(out.wide[1]));
  assert.match(String(out.wide[1]), /getp/);
  assert.deepEqual(out.granted, ["uprobe", `${libc}:getpid,getppid`, true]);
  assert.deepEqual(await programsLeft(`um_${t}`), []);
});
