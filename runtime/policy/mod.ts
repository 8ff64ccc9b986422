/**
 * Permissions: BPF grants checked on the compiled object before anything is loaded, the
 * outer grant set from `bpfpm run` that a script can only narrow, and the Deno flags the
 * runtime needs.
 *
 * @example Check an object against a package's grants
 * ```ts
 * import { inspectObject } from "../spec/object.ts";
 * import { checkGrants, effectiveGrants } from "./mod.ts";
 * const spec = inspectObject(await Deno.readFile("probe.bpf.o"));
 * checkGrants(spec, effectiveGrants({ attach: [{ kind: "tracepoint", target: "sched:*" }] }));
 * ```
 *
 * @module
 */

export * from "./grants.ts";
export * from "./check.ts";
export * from "./effective.ts";
export * from "./deno_permissions.ts";
