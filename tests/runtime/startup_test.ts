/**
 * Warm-start module graph: what `import { BPF } from "bpf"` evaluates before a script runs.
 * Deno spends a fraction of a millisecond per module it loads, so the modules only a cache
 * miss, a map, an event reader or a failed load needs stay behind dynamic imports.
 */
import assert from "node:assert/strict";
import { REPO } from "./_helpers.ts";
import { evaluatedModules } from "../../runtime/_module_graph.ts";

/** The local modules `mod.ts` evaluates at startup, relative to the repo. */
function staticGraph(): string[] {
  const root = new URL("mod.ts", new URL(REPO, "file://")).href;
  const graph = evaluatedModules([root]);
  assert.ok(graph, "deno info failed");
  const prefix = new URL(REPO, "file://").href;
  return [...graph.keys()].filter((s) => s.startsWith(prefix))
    .map((s) => s.slice(prefix.length)).sort();
}

Deno.test("startup: mod.ts evaluates none of the modules a warm tracepoint start does not use", () => {
  const graph = staticGraph();
  // The graph is real: the load path and the tracepoint attach are in it.
  for (const m of ["runtime/bpf.ts", "runtime/attach/tracepoint.ts"]) {
    assert.ok(graph.includes(m), `${m} missing from ${graph.join(", ")}`);
  }
  const lazy = graph.filter((m) =>
    /^runtime\/(source|maps|events|btf)\//.test(m) ||
    [
      "runtime/spec/object.ts",
      "runtime/compile/permissions.ts",
      "runtime/compile/_prune.ts",
      "runtime/verifier.ts",
      "runtime/_load_error.ts",
      "runtime/attach/tp_btf.ts",
      // Barrels: mod.ts re-exports from the defining modules.
      "runtime/output/mod.ts",
      "runtime/trace/mod.ts",
    ].includes(m)
  );
  assert.deepEqual(lazy, [], "modules a warm start should not load");
});

Deno.test("startup: the lazily loaded parts' values come from their stable modules, bpf/maps and bpf/events", async () => {
  const maps = await import("bpf/maps");
  const events = await import("bpf/events");
  assert.equal(typeof maps.BpfMap.create, "function");
  assert.equal(typeof maps.PerCpu, "function");
  assert.equal(typeof events.EventReader, "function");
});
