/**
 * What a probe package may do, as lines a person reads before saying yes: BPF grants
 * (attach kinds and targets, risky helpers, map memory) and Deno flags; and what changed
 * since the locked version.
 *
 * @module
 */
import type { LockedBpf } from "./lockfile.ts";

/**
 * Flattens a package's declared permissions into one readable line each.
 *
 * @example
 * ```ts
 * import { grantLines } from "./grants.ts";
 * grantLines({ grants: { attach: [{ kind: "tracepoint", target: "sched:*" }] }, deno: ["--allow-ffi"] });
 * // ["attach tracepoint sched:*", "deno --allow-ffi"]
 * ```
 */
export function grantLines(bpf: LockedBpf | undefined): string[] {
  if (!bpf) return [];
  const out: string[] = [];
  for (const a of bpf.grants?.attach ?? []) {
    out.push(`attach ${a.kind}${a.target ? " " + a.target : ""}`);
  }
  for (const h of bpf.grants?.helpers ?? []) out.push(`helper ${h}`);
  for (const k of bpf.grants?.kfuncs ?? []) out.push(`kfunc ${k}`);
  if (bpf.grants?.mapMemory !== undefined) {
    out.push(`map memory ${bpf.grants.mapMemory}`);
  }
  for (const f of bpf.deno ?? []) out.push(`deno ${f}`);
  return out;
}

/** Lines added and removed between two versions' permissions. */
export interface GrantDiff {
  /** Permissions the new version declares and the old did not. */
  added: string[];
  /** Permissions the old version declared and the new does not. */
  removed: string[];
}

/**
 * Compares two versions' permissions.
 *
 * @example
 * ```ts
 * import { diffGrants } from "./grants.ts";
 * diffGrants({ deno: ["--allow-ffi"] }, { deno: ["--allow-ffi", "--allow-net"] });
 * // { added: ["deno --allow-net"], removed: [] }
 * ```
 */
export function diffGrants(
  before: LockedBpf | undefined,
  after: LockedBpf | undefined,
): GrantDiff {
  const a = new Set(grantLines(before));
  const b = new Set(grantLines(after));
  return {
    added: [...b].filter((x) => !a.has(x)),
    removed: [...a].filter((x) => !b.has(x)),
  };
}
