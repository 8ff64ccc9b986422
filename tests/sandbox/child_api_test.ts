/**
 * A sandboxed package's "bpf" (runtime/sandbox/child_mod.ts) has mod.ts's public API, name
 * for name, and its process does not load the in-process runtime: no compiler, no BPF class
 * of its own, no attach kinds, no node:* module (each costs the package's start).
 */
import * as assert from "node:assert/strict";
import * as inProcess from "../../mod.ts";
import * as sandboxed from "../../runtime/sandbox/child_mod.ts";
import { evaluatedModules } from "../../runtime/_module_graph.ts";

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

/** The modules importing `entry` evaluates. */
function runtimeGraph(entry: string): string[] {
  const graph = evaluatedModules([entry]);
  assert.ok(graph, "deno info failed");
  return [...graph.keys()];
}

Deno.test("the sandboxed child loads neither the in-process runtime nor node:*", () => {
  const graph = runtimeGraph(
    new URL("../../runtime/sandbox/child_mod.ts", import.meta.url).href,
  );
  const heavy = graph.filter((s) =>
    s.startsWith("node:") || s.startsWith("npm:") ||
    /\/runtime\/(bpf|_warm|features)\.ts$/.test(s) ||
    /\/runtime\/(compile\/compile|source\/rewrite|attach\/auto)\.ts$/.test(s)
  );
  assert.deepEqual(heavy, []);
  // mod.ts itself does load them: the check above can fail.
  const full = runtimeGraph(
    new URL("../../mod.ts", import.meta.url).href,
  );
  assert.ok(full.some((s) => s.endsWith("/runtime/bpf.ts")));
});
