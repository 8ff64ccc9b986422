/**
 * Imports a module only when a path that needs it runs. Deno reads, parses and resolves
 * (npm packages included) the graph of every `import("literal")` it can see before the
 * first line of a program runs; a computed specifier keeps that work for the call that
 * needs it. The `bpfpm` CLI's start loads only its command's modules this way, and
 * `bpfpm run` starts the sandboxed child before the trusted side's runtime loads.
 *
 * @module
 */

/**
 * Imports `url` now (the type names the module: `typeof import("./x.ts")`, which Deno
 * does not load).
 *
 * @param url the module's URL, e.g. `new URL("./run.ts", import.meta.url)`
 * @returns the module's namespace
 *
 * @example Import a command's module when the command runs
 * ```ts
 * import { importLater } from "./_import_later.ts";
 * const { features } = await importLater<typeof import("./features.ts")>(
 *   new URL("./features.ts", import.meta.url),
 * );
 * console.log(features().attach);
 * ```
 */
export function importLater<M>(url: URL): Promise<M> {
  return import(url.href);
}
