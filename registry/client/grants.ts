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

const KIND_WORDS: Record<string, string> = {
  tracepoint: "observe kernel events",
  raw_tp: "observe kernel events",
  tp_btf: "observe kernel events",
  kprobe: "observe kernel function calls",
  kretprobe: "observe kernel function returns",
  fentry: "observe kernel function calls",
  fexit: "observe kernel function returns",
  uprobe: "observe calls inside programs (their arguments)",
  uretprobe: "observe returns inside programs (their values)",
  usdt: "observe programs' static probes",
  perf_event: "sample what the CPUs run",
  xdp: "see, change, drop or redirect packets",
  tc: "see, change, drop or redirect packets",
  socket_filter: "see packets",
  cgroup: "allow or deny a cgroup's traffic or access",
  lsm: "allow or deny security-checked operations",
  iter: "walk kernel objects",
};

const HELPER_WORDS: Record<string, string> = {
  probe_write_user: "write into other processes' memory",
  send_signal: "send signals to processes (it can kill them)",
  override_return: "change what kernel functions return",
  packet_rewrite: "rewrite packets",
  packet_redirect: "redirect packets",
  packet_drop: "drop packets",
};

/**
 * One of {@linkcode grantLines}' lines followed by what it allows, in plain words, as a
 * person reads it before saying yes.
 *
 * @param line a line of `grantLines`
 * @returns the line and its meaning
 *
 * @example
 * ```ts
 * import { explainGrant } from "./grants.ts";
 * explainGrant("helper send_signal"); // "helper send_signal: send signals to processes (it can kill them)"
 * ```
 */
export function explainGrant(line: string): string {
  const [what, name, target] = line.split(" ");
  let words: string | undefined;
  if (what === "attach") {
    words = KIND_WORDS[name] &&
      `${KIND_WORDS[name]}${target ? ` (${target})` : " (any)"}`;
  } else if (what === "helper") words = HELPER_WORDS[name];
  else if (what === "kfunc") {
    words = "call a kernel function that acts on the system";
  } else if (what === "map") {
    words = "hold up to this much kernel memory in maps";
  } else if (what === "deno") {
    const [flag, list] = name.split("=");
    const shown = list ? `: ${list.split(",").join(", ")}` : "";
    words = {
      "--allow-read": `read these files${shown}`,
      "--allow-write": `write these files${shown}`,
      "--allow-net": list ? `connect to${shown}` : "connect to any host",
      "--allow-env": `read environment variables${shown}`,
      "--allow-sys": `read system information${shown}`,
      "--allow-import": `load code from${shown || " any host"}`,
    }[flag];
  }
  return words ? `${line}: ${words}` : line;
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
