/**
 * A sandboxed package's "bpf" (runtime/sandbox/child_mod.ts) has mod.ts's public API, name
 * for name, and its process does not load the in-process runtime: no compiler, no BPF class
 * of its own, no attach kinds, no node:* module (each costs the package's start).
 */
import * as assert from "node:assert/strict";
import * as inProcess from "../../mod.ts";
import * as sandboxed from "../../runtime/sandbox/child_mod.ts";

Deno.test("the sandboxed API exports every name mod.ts exports, and no other", () => {
  assert.deepEqual(
    Object.keys(sandboxed).sort(),
    Object.keys(inProcess).sort(),
  );
  // The names both take from runtime/_common_api.ts are the same values.
  assert.equal(sandboxed.BpfError, inProcess.BpfError);
  assert.equal(sandboxed.log2HistText, inProcess.log2HistText);
  // The ones that reach the kernel are the forwarding ones.
  assert.notEqual(sandboxed.BPF, inProcess.BPF);
  assert.notEqual(sandboxed.Link, inProcess.Link);
});

/** The modules a module's evaluation loads: static imports only (types and import() aside). */
async function runtimeGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "deno info failed");
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
    }[];
  };
  const deps = new Map(
    info.modules.map((m) => [m.specifier, m.dependencies ?? []]),
  );
  const seen = new Set<string>();
  const stack = [info.roots[0]];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of deps.get(s) ?? []) {
      if (d.code && !d.isDynamic) stack.push(d.code.specifier);
    }
  }
  return [...seen];
}

Deno.test("the sandboxed child loads neither the in-process runtime nor node:*", async () => {
  const graph = await runtimeGraph(
    new URL("../../runtime/sandbox/child_mod.ts", import.meta.url).href,
  );
  const heavy = graph.filter((s) =>
    s.startsWith("node:") || s.startsWith("npm:") ||
    /\/runtime\/(bpf|_warm|features)\.ts$/.test(s) ||
    /\/runtime\/(compile\/compile|source\/rewrite|attach\/auto)\.ts$/.test(s)
  );
  assert.deepEqual(heavy, []);
  // mod.ts itself does load them: the check above can fail.
  const full = await runtimeGraph(
    new URL("../../mod.ts", import.meta.url).href,
  );
  assert.ok(full.some((s) => s.endsWith("/runtime/bpf.ts")));
});
