/**
 * `checkGrants`: refuse, before anything is loaded, what a compiled object does that its
 * grant set does not allow.
 *
 * What is checked, per program of the object (`inspectObject`):
 * - its kind (from the section name or BCC name) needs an `attach` grant of that kind, and a
 *   target the name carries must match the grant's target glob; a target given only at attach
 *   time is checked then, with {@link checkAttachTarget};
 * - every `call` of a risky helper, including calls made from its subprograms and callbacks,
 *   needs the helper class ({@link RISKY_HELPER_IDS}); an `fmod_ret` program needs
 *   `override_return`, since it rewrites a kernel function's return value;
 * - `packet_drop`: programs of the packet kinds (XDP, TC, cgroup skb, sk_skb, sk_msg, lwt,
 *   netfilter) need it when they can return a drop verdict (`XDP_DROP`/`XDP_ABORTED`,
 *   `TC_ACT_SHOT`/`STOLEN`/`TRAP`, 0 for cgroup skb, `SK_DROP`, `BPF_DROP`, `NF_DROP`). The
 *   possible return values are found by constant propagation over the program's instructions;
 *   a value that cannot be known (returned by a helper or loaded from a map) counts as a drop.
 *   `XDP_TX` and `XDP_REDIRECT`/`TC_ACT_REDIRECT`/`BPF_REDIRECT` verdicts need
 *   `packet_redirect`. So a counting program that always passes needs neither.
 * - the summed `memoryBytes` of all maps must fit `mapMemory`.
 *
 * - `packet_rewrite` also covers stores into packet data through direct packet access (XDP, TC,
 *   lwt, sk_skb): pointers loaded from the context's `data`/`data_meta` are followed through
 *   registers, arithmetic and stack spills. This is a best effort (a pointer hidden another
 *   way is missed), where the helper check is exact.
 *
 * Not checked: a socket filter's verdict (it only affects its own socket).
 *
 * @module
 */

import type { ObjectSpec, ProgramSpec } from "../spec/object.ts";
import { helperId, helperName } from "../spec/helpers.ts";
import {
  formatBytes,
  globMatch,
  type Grants,
  mapMemoryBytes,
  type RiskyHelper,
} from "./grants.ts";
import { packetStore, returnValues } from "./_verdicts.ts";
import { BpfError } from "../errors.ts";

/** One thing a grant set does not allow. */
export interface Denial {
  /** The program, or `undefined` for object-wide denials (map memory). */
  program?: string;
  /** What the denial is about: an attach kind, a risky helper class, or map memory. */
  what: "attach" | "target" | "helper" | "kfunc" | "verdict" | "mapMemory";
  /** The attach kind involved, when one is. */
  kind?: string;
  /** The attach target involved, when one is. */
  target?: string;
  /** The helper's name (`bpf_send_signal`), for helper denials. */
  helper?: string;
  /** The helper's id, for helper denials. */
  helperId?: number;
  /** The grant to add, written as in `bpf.grants`, e.g. `helpers: ["send_signal"]`. */
  missingGrant: string;
  /** One sentence saying all of it. */
  message: string;
}

/**
 * Thrown when a grant set does not allow what an object (or a script's grants) asks for.
 *
 * @example The grant to add
 * ```ts
 * import { BPF, PermissionDeniedError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c", grants: { attach: [] } });
 * } catch (e) {
 *   if (e instanceof PermissionDeniedError) console.error(e.program, e.missingGrant);
 * }
 * ```
 */
export class PermissionDeniedError extends BpfError {
  /** The program refused, when the refusal is about one. */
  readonly program?: string;
  /** The attach kind involved, when one is. */
  readonly kind?: string;
  /** The attach target involved, when one is. */
  readonly target?: string;
  /** The risky helper's name, e.g. `bpf_send_signal`, for helper refusals. */
  readonly helper?: string;
  /** The risky helper's id, for helper refusals. */
  readonly helperId?: number;
  /** The grant to add, e.g. `helpers: ["send_signal"]`. */
  readonly missingGrant: string;
  /** Every refusal found, the first one being this error's. */
  readonly denials: Denial[];
  /**
   * Creates the error with its fields.
   *
   * @param message the full message
   * @param options the first denial's fields, all denials, and a cause
   */
  constructor(
    message: string,
    options: Omit<Denial, "message" | "what"> & {
      denials?: Denial[];
      cause?: unknown;
    },
  ) {
    super(message, { cause: options.cause });
    this.name = "PermissionDeniedError";
    this.program = options.program;
    this.kind = options.kind;
    this.target = options.target;
    this.helper = options.helper;
    this.helperId = options.helperId;
    this.missingGrant = options.missingGrant;
    this.denials = options.denials ?? [];
  }
}

const names = (list: string[]) =>
  list.map((n) => {
    const id = helperId(n);
    if (id === undefined) {
      throw new Error(`Unknown helper ${n} in the risky helper table`);
    }
    return id;
  });

/**
 * Helper ids by risky class. Sources: `enum bpf_func_id` and each helper's documentation in
 * the kernel UAPI (`include/uapi/linux/bpf.h`).
 */
export const RISKY_HELPER_IDS: Readonly<
  Record<Exclude<RiskyHelper, "packet_drop">, readonly number[]>
> = {
  probe_write_user: names(["probe_write_user"]),
  send_signal: names(["send_signal", "send_signal_thread"]),
  override_return: names(["override_return"]),
  packet_rewrite: names([
    "skb_store_bytes",
    "l3_csum_replace",
    "l4_csum_replace",
    "skb_vlan_push",
    "skb_vlan_pop",
    "skb_set_tunnel_key",
    "skb_set_tunnel_opt",
    "skb_change_proto",
    "skb_change_type",
    "skb_change_tail",
    "skb_change_head",
    "skb_adjust_room",
    "skb_ecn_set_ce",
    "xdp_adjust_head",
    "xdp_adjust_meta",
    "xdp_adjust_tail",
    "xdp_store_bytes",
    "msg_push_data",
    "msg_pop_data",
    "lwt_push_encap",
    "lwt_seg6_store_bytes",
    "lwt_seg6_adjust_srh",
    "lwt_seg6_action",
    "store_hdr_opt",
  ]),
  packet_redirect: names([
    "clone_redirect",
    "redirect",
    "redirect_map",
    "sk_redirect_map",
    "sk_redirect_hash",
    "msg_redirect_map",
    "msg_redirect_hash",
    "redirect_neigh",
    "redirect_peer",
    "sk_assign",
    "sk_select_reuseport",
  ]),
};

/**
 * Kernel functions (kfuncs) that act on the system rather than observe it: each needs a
 * grant by name (`kfuncs: ["bpf_send_signal_task"]`). Sources: the kernel's kfunc sets
 * (`BTF_ID_FLAGS(func, ...)`, those marked `KF_DESTRUCTIVE`, and the ones that signal tasks,
 * destroy sockets, change conntrack or NAT state, write file attributes, read other
 * processes' memory or take over scheduling).
 */
export const RISKY_KFUNCS: ReadonlySet<string> = new Set([
  "bpf_send_signal_task",
  "crash_kexec",
  "bpf_sock_destroy",
  "bpf_xdp_ct_alloc",
  "bpf_skb_ct_alloc",
  "bpf_ct_insert_entry",
  "bpf_ct_set_nat_info",
  "bpf_ct_set_timeout",
  "bpf_ct_change_timeout",
  "bpf_ct_set_status",
  "bpf_ct_change_status",
  "bpf_skb_set_fou_encap",
  "bpf_set_dentry_xattr",
  "bpf_remove_dentry_xattr",
  "bpf_set_dentry_xattr_locked",
  "bpf_remove_dentry_xattr_locked",
  "bpf_copy_from_user_task_str",
  "bpf_copy_from_user_task",
  "bpf_access_process_vm",
]);

/** Whether calling kfunc `name` needs a grant: the list above, and sched_ext's kfuncs. */
export function isRiskyKfunc(name: string): boolean {
  return RISKY_KFUNCS.has(name) || name.startsWith("scx_bpf_");
}

const HELPER_CLASS = new Map<number, RiskyHelper>();
for (const [cls, ids] of Object.entries(RISKY_HELPER_IDS)) {
  for (const id of ids) HELPER_CLASS.set(id, cls as RiskyHelper);
}

/** Verdicts per packet kind: which return values drop, which redirect, and their names. */
interface VerdictRule {
  drop: (v: number) => boolean;
  redirect: (v: number) => boolean;
  name: (v: number) => string;
}

const named = (table: Record<number, string>) => (v: number) =>
  table[v] ? `${table[v]} (${v})` : `${v}`;

const XDP: VerdictRule = {
  drop: (v) => v === 0 || v === 1,
  redirect: (v) => v === 3 || v === 4,
  name: named({
    0: "XDP_ABORTED",
    1: "XDP_DROP",
    2: "XDP_PASS",
    3: "XDP_TX",
    4: "XDP_REDIRECT",
  }),
};
const TC: VerdictRule = {
  drop: (v) => v === 2 || v === 4 || v === 8,
  redirect: (v) => v === 7,
  name: named({
    2: "TC_ACT_SHOT",
    4: "TC_ACT_STOLEN",
    7: "TC_ACT_REDIRECT",
    8: "TC_ACT_TRAP",
  }),
};
const CGROUP_SKB: VerdictRule = {
  drop: (v) => (v & 1) === 0,
  redirect: () => false,
  name: (v) => `${v} (drop)`,
};
const SK_VERDICT: VerdictRule = {
  drop: (v) => v === 0,
  redirect: () => false,
  name: named({ 0: "SK_DROP" }),
};
const LWT: VerdictRule = {
  drop: (v) => v === 2,
  redirect: (v) => v === 7,
  name: named({ 2: "BPF_DROP", 7: "BPF_REDIRECT" }),
};
const NETFILTER: VerdictRule = {
  drop: (v) => v === 0,
  redirect: () => false,
  name: named({ 0: "NF_DROP" }),
};

function verdictRule(p: ProgramSpec): VerdictRule | undefined {
  switch (p.kind) {
    case "xdp":
      return XDP;
    case "tc":
      return p.variant === "action" ? undefined : TC;
    case "cgroup":
      return p.target.startsWith("skb") ? CGROUP_SKB : undefined;
    case "sk_skb":
      return p.variant === "stream_parser" ? undefined : SK_VERDICT;
    case "sk_msg":
      return SK_VERDICT;
    case "lwt":
      return LWT;
    case "netfilter":
      return NETFILTER;
    default:
      return undefined;
  }
}

function attachGrantText(kind: string, target: string): string {
  return `attach: [{ kind: "${kind}"${
    target ? `, target: "${target}"` : ""
  } }]`;
}

function checkAttach(p: ProgramSpec, grants: Grants, out: Denial[]): void {
  // A program typed at attach time (BCC's `void *ctx`) has its kind checked then.
  if (!grants.attach || p.kind === "unknown") return;
  const ofKind = grants.attach.filter((a) => a.kind === p.kind);
  const where = p.target ? ` ${p.target}` : "";
  if (ofKind.length === 0) {
    const missingGrant = attachGrantText(p.kind, p.target);
    out.push({
      program: p.name,
      what: "attach",
      kind: p.kind,
      target: p.target || undefined,
      missingGrant,
      message:
        `program "${p.name}" attaches as ${p.kind}${where}, which needs the grant ${missingGrant}`,
    });
    return;
  }
  if (!p.target || ofKind.some((a) => a.target === undefined)) return;
  if (ofKind.some((a) => globMatch(a.target!, p.target))) return;
  const missingGrant = attachGrantText(p.kind, p.target);
  out.push({
    program: p.name,
    what: "target",
    kind: p.kind,
    target: p.target,
    missingGrant,
    message:
      `program "${p.name}" attaches to ${p.kind} ${p.target}, outside the granted targets (${
        ofKind.map((a) => a.target).join(", ")
      }): it needs the grant ${missingGrant}`,
  });
}

function checkKfuncs(
  p: ProgramSpec,
  granted: readonly string[],
  out: Denial[],
): void {
  for (const k of p.kfuncs ?? []) {
    if (!isRiskyKfunc(k) || granted.includes(k)) continue;
    const missingGrant = `kfuncs: ["${k}"]`;
    out.push({
      program: p.name,
      what: "kfunc",
      helper: k,
      missingGrant,
      message:
        `program "${p.name}" calls the kernel function ${k} (a kfunc that acts on the system), which needs the grant ${missingGrant}`,
    });
  }
}

function checkHelpers(
  p: ProgramSpec,
  allowed: Set<string>,
  out: Denial[],
): void {
  const seen = new Set<string>();
  for (const id of p.helpers) {
    const cls = HELPER_CLASS.get(id);
    if (!cls || allowed.has(cls) || seen.has(cls)) continue;
    seen.add(cls);
    const missingGrant = `helpers: ["${cls}"]`;
    out.push({
      program: p.name,
      what: "helper",
      helper: helperName(id),
      helperId: id,
      missingGrant,
      message: `program "${p.name}" calls ${
        helperName(id)
      } (helper ${id}), which needs the grant ${missingGrant}`,
    });
  }
  if (
    p.kind === "fmod_ret" && !allowed.has("override_return") &&
    !seen.has("override_return")
  ) {
    const missingGrant = `helpers: ["override_return"]`;
    out.push({
      program: p.name,
      what: "helper",
      kind: p.kind,
      missingGrant,
      message: `program "${p.name}" is fmod_ret (it replaces ${
        p.target || "a function"
      }'s return value), which needs the grant ${missingGrant}`,
    });
  }
}

function checkVerdicts(
  p: ProgramSpec,
  allowed: Set<string>,
  out: Denial[],
): void {
  const rule = verdictRule(p);
  if (!rule) return;
  const needDrop = !allowed.has("packet_drop");
  const needRedirect = !allowed.has("packet_redirect");
  if (!needDrop && !needRedirect) return;
  const values = returnValues(p.instructions);
  const list = values
    ? [...values].map((v) => Number(v & 0xffff_ffffn))
    : undefined;
  const push = (cls: RiskyHelper, why: string) => {
    const missingGrant = `helpers: ["${cls}"]`;
    out.push({
      program: p.name,
      what: "verdict",
      kind: p.kind,
      missingGrant,
      message:
        `program "${p.name}" (${p.kind}) ${why}, which needs the grant ${missingGrant}`,
    });
  };
  if (needDrop) {
    if (!list) {
      push(
        "packet_drop",
        "returns a value it computes at run time, so it may drop packets",
      );
    } else {
      const drop = list.find(rule.drop);
      if (drop !== undefined) {
        push("packet_drop", `can return ${rule.name(drop)}`);
      }
    }
  }
  if (needRedirect && list) {
    const redirect = list.find(rule.redirect);
    if (redirect !== undefined) {
      push("packet_redirect", `can return ${rule.name(redirect)}`);
    }
  }
}

// Offsets of the packet pointers in the context: xdp_md.data/data_meta, __sk_buff.data/data_meta.
const XDP_DATA = [0, 8];
const SKB_DATA = [76, 140];

function checkPacketWrites(
  p: ProgramSpec,
  allowed: Set<string>,
  out: Denial[],
): void {
  if (allowed.has("packet_rewrite")) return;
  const offsets = p.kind === "xdp"
    ? XDP_DATA
    : p.kind === "tc" || p.kind === "lwt" || p.kind === "sk_skb"
    ? SKB_DATA
    : undefined;
  if (!offsets) return;
  const at = packetStore(p.instructions, offsets);
  if (at === undefined) return;
  const missingGrant = `helpers: ["packet_rewrite"]`;
  out.push({
    program: p.name,
    what: "verdict",
    kind: p.kind,
    missingGrant,
    message:
      `program "${p.name}" (${p.kind}) writes packet data directly (instruction ${at}), which needs the grant ${missingGrant}`,
  });
}

/**
 * Every refusal a grant set makes for an object, without throwing.
 *
 * @param spec from `inspectObject` (its programs and maps)
 * @param grants the effective grant set
 * @returns the denials, empty when everything is allowed
 *
 * @example
 * ```ts
 * import { inspectObject } from "../spec/object.ts";
 * import { grantDenials } from "./check.ts";
 * const spec = inspectObject(await Deno.readFile("probe.bpf.o"));
 * for (const d of grantDenials(spec, { helpers: [] })) console.log(d.message);
 * ```
 */
export function grantDenials(
  spec: Pick<ObjectSpec, "programs" | "maps">,
  grants: Grants,
): Denial[] {
  const out: Denial[] = [];
  const allowed = new Set<string>(grants.helpers ?? []);
  for (const p of spec.programs) {
    checkAttach(p, grants, out);
    checkHelpers(p, allowed, out);
    checkKfuncs(p, grants.kfuncs ?? [], out);
    checkVerdicts(p, allowed, out);
    checkPacketWrites(p, allowed, out);
  }
  if (grants.mapMemory !== undefined) {
    const cap = mapMemoryBytes(grants.mapMemory);
    const total = spec.maps.reduce((s, m) => s + m.memoryBytes, 0);
    if (total > cap) {
      const biggest = [...spec.maps].sort((a, b) =>
        b.memoryBytes - a.memoryBytes
      ).slice(0, 3)
        .map((m) => `${m.name} ${formatBytes(m.memoryBytes)}`).join(", ");
      const missingGrant = `mapMemory: "${formatBytes(total)}"`;
      out.push({
        what: "mapMemory",
        missingGrant,
        message: `the maps need about ${
          formatBytes(total)
        } (${biggest}), more than the granted mapMemory of ${
          formatBytes(cap)
        }: it needs the grant ${missingGrant}`,
      });
    }
  }
  return out;
}

/**
 * Throws a {@link PermissionDeniedError} when the object does anything the grants do not
 * allow; the message names the program, the helper or kind/target, and the grant to add.
 *
 * @param spec from `inspectObject` (its programs and maps)
 * @param grants the effective grant set (see `effectiveGrants`)
 *
 * @example
 * ```ts
 * import { inspectObject } from "../spec/object.ts";
 * import { checkGrants } from "./check.ts";
 * const spec = inspectObject(await Deno.readFile("probe.bpf.o"));
 * checkGrants(spec, { attach: [{ kind: "tracepoint", target: "syscalls:*" }] });
 * ```
 */
export function checkGrants(
  spec: Pick<ObjectSpec, "programs" | "maps">,
  grants: Grants,
): void {
  const denials = grantDenials(spec, grants);
  if (denials.length === 0) return;
  const [first] = denials;
  const more = denials.length > 1
    ? ` (and ${denials.length - 1} more: ${
      denials.slice(1).map((d) => d.missingGrant).join("; ")
    })`
    : "";
  throw new PermissionDeniedError(
    `Permission denied: ${first.message}${more}`,
    {
      program: first.program,
      kind: first.kind,
      target: first.target,
      helper: first.helper,
      helperId: first.helperId,
      missingGrant: first.missingGrant,
      denials,
    },
  );
}

/**
 * Checks an attach made at run time (a target the section name did not carry, such as the
 * interface of `attachXdp` or the binary of `attachUprobe`) against the grants.
 *
 * @param grants the effective grant set
 * @param attach the program name, its kind and the target
 *
 * @example
 * ```ts
 * import { checkAttachTarget } from "./check.ts";
 * checkAttachTarget({ attach: [{ kind: "xdp", target: "veth*" }] }, {
 *   program: "count",
 *   kind: "xdp",
 *   target: "veth0",
 * });
 * ```
 */
export function checkAttachTarget(
  grants: Grants,
  attach: { program: string; kind: string; target: string },
): void {
  const out: Denial[] = [];
  checkAttach(
    {
      name: attach.program,
      kind: attach.kind as ProgramSpec["kind"],
      target: attach.target,
    } as ProgramSpec,
    grants,
    out,
  );
  if (out.length) {
    const d = out[0];
    throw new PermissionDeniedError(`Permission denied: ${d.message}`, {
      program: d.program,
      kind: d.kind,
      target: d.target,
      missingGrant: d.missingGrant,
      denials: out,
    });
  }
}
