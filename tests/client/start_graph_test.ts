/**
 * `bpfpm run` evaluates no `node:*` or `npm:` module on the trusted side before the sandbox
 * takes over: the first one starts Deno's Node compatibility layer (15–25 ms of every start,
 * an npm package more). Checked on the module graph `deno info` reports, from the CLI and
 * from every module the run command imports when it runs (those are imported by computed
 * URLs, which `deno info` cannot follow, so they are named here).
 */
import * as assert from "node:assert/strict";

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

interface Module {
  specifier: string;
  dependencies?: {
    code?: { specifier: string };
    isDynamic?: boolean;
  }[];
}

/**
 * Every module evaluated by importing `roots`: static value imports, and dynamic imports of
 * a literal, outside the sandbox, with the module that imports each.
 */
async function evaluated(roots: string[]): Promise<Map<string, string>> {
  const importer = new Map<string, string>();
  for (const root of roots) {
    const url = new URL(root, REPO).href;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", url],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const { modules } = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      modules: Module[];
    };
    const bySpecifier = new Map(modules.map((m) => [m.specifier, m]));
    const todo = [url];
    importer.set(url, "(root)");
    while (todo.length) {
      const from = todo.pop()!;
      for (const d of bySpecifier.get(from)?.dependencies ?? []) {
        const to = d.code?.specifier;
        if (!to || importer.has(to)) continue;
        if (d.isDynamic && to.startsWith(SANDBOX)) continue;
        importer.set(to, from);
        todo.push(to);
      }
    }
  }
  return importer;
}

Deno.test("bpfpm run's modules import no node:* or npm: module, directly or through others", async () => {
  const graph = await evaluated(RUN_PATH);
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
