/**
 * The modules a program evaluates when it imports some roots, from the graph `deno info
 * --json` reports: that graph also holds type-only imports and every `import("literal")`,
 * which evaluation does not load (or loads later), so only static value imports are
 * followed, and dynamic ones where the caller says. The sandbox's bundle lists the files it
 * holds with it; the start-up tests check what a start loads with it.
 *
 * @module
 */

/** One module of `deno info --json`. */
interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** How {@linkcode evaluatedModules} runs `deno info` and which dynamic imports it follows. */
export interface GraphOptions {
  /**
   * Called for each `import("literal")` of an evaluated module: true follows it (as if it
   * ran). Default: not followed.
   */
  dynamic?: (specifier: string, from: string) => boolean;
  /** Extra `deno info` flags (e.g. `--no-config`). */
  flags?: string[];
  /** Where `deno info` runs (which deno.json it finds). */
  cwd?: string;
}

/**
 * Every module evaluated by importing `roots`, each with the module that first imports it
 * (a root's importer is `""`); undefined when `deno info` fails.
 *
 * @param roots module URLs (or absolute paths)
 * @param options dynamic imports to follow, `deno info` flags and directory
 * @returns specifier → importer
 *
 * @example
 * ```ts ignore
 * import { evaluatedModules } from "./_module_graph.ts";
 * const graph = evaluatedModules([new URL("../mod.ts", import.meta.url).href]);
 * console.log([...graph!.keys()].filter((s) => s.startsWith("node:")));
 * ```
 */
export function evaluatedModules(
  roots: readonly string[],
  options: GraphOptions = {},
): Map<string, string> | undefined {
  const importer = new Map<string, string>();
  for (const root of roots) {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", ...(options.flags ?? []), root],
      cwd: options.cwd,
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    if (!out.success) return undefined;
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      roots: string[];
      modules: InfoModule[];
    };
    const bySpecifier = new Map(info.modules.map((m) => [m.specifier, m]));
    for (const r of info.roots) if (!importer.has(r)) importer.set(r, "");
    const todo = [...info.roots];
    while (todo.length) {
      const from = todo.pop()!;
      for (const d of bySpecifier.get(from)?.dependencies ?? []) {
        const to = d.code?.specifier;
        if (!to || importer.has(to)) continue;
        if (d.isDynamic && !options.dynamic?.(to, from)) continue;
        importer.set(to, from);
        todo.push(to);
      }
    }
  }
  return importer;
}
