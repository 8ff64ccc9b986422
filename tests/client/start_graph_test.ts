/**
 * `bpfpm run` evaluates no `node:*` or `npm:` module on the trusted side before the sandbox
 * takes over: the first one starts Deno's Node compatibility layer (15–25 ms of every start,
 * an npm package more). Checked on the module graph `deno info` reports, from the CLI and
 * from every module the run command imports when it runs (those are imported by computed
 * URLs, which `deno info` cannot follow, so they are named here).
 */
import * as assert from "node:assert/strict";
import { evaluatedModules } from "../../runtime/_module_graph.ts";

const REPO = new URL("../../", import.meta.url);

/** The modules `bpfpm run` imports after start, relative to the repo. */
const RUN_PATH = [
  // The CLI, and the modules its run command imports.
  "registry/client/cli.ts",
  "registry/client/global.ts",
  "registry/client/kernel_check.ts",
  "registry/client/run.ts",
  // run.ts's, for an installed package (its cached tarball).
  "registry/client/cache.ts",
  "registry/client/_tar_files.ts",
  // kernel_check.ts's, for a package naming BTF types or a kind often missing.
  "runtime/btf/btf.ts",
  "runtime/features.ts",
  // run.ts's, for a run naming a pinned map.
  "runtime/_pinned_maps.ts",
  "runtime/spec/map_types.ts",
  "runtime/maps/_native.ts",
];

/** The sandbox's own modules, which end the client's part of the run. */
const SANDBOX = new URL("runtime/sandbox/", REPO).href;

/**
 * Every module evaluated by importing `roots`: static value imports, and dynamic imports of
 * a literal, outside the sandbox, with the module that imports each.
 */
function evaluated(roots: string[]): Map<string, string> {
  const graph = evaluatedModules(roots.map((r) => new URL(r, REPO).href), {
    cwd: REPO.pathname,
    dynamic: (to) => !to.startsWith(SANDBOX),
  });
  assert.ok(graph, "deno info failed");
  return graph;
}

Deno.test("bpfpm run's modules import no node:* or npm: module, directly or through others", () => {
  const graph = evaluated(RUN_PATH);
  const local = [...graph.keys()].filter((s) => s.startsWith(REPO.href));
  // The graph is real: the grant rules and the lockfile reader are in it.
  for (const m of ["runtime/policy/grants.ts", "registry/client/lockfile.ts"]) {
    assert.ok(
      local.includes(new URL(m, REPO).href),
      `${m} missing from the graph`,
    );
  }
  const node = [...graph].filter(([s]) => /^(node|npm):/.test(s))
    .map(([s, from]) => `${s} (imported by ${from.replace(REPO.href, "")})`);
  assert.equal(
    node.length,
    0,
    `node:/npm: modules on bpfpm run's path:\n${node.join("\n")}`,
  );
});
