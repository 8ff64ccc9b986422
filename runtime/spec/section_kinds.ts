/**
 * Program kinds and attach targets from ELF section names (libbpf's `SEC()` conventions) and
 * from BCC's function-name prefixes.
 *
 * @module
 */

/**
 * A program kind: what a program is, from its section (or BCC) name, and what an `attach`
 * grant names. The first seventeen are the attach kinds ({@linkcode AttachKind}); the rest
 * are program types that attach in other ways.
 *
 * @example Name a program kind in a grant
 * ```ts
 * import type { Grants, ProgramKind } from "bpf";
 * const kind: ProgramKind = "sockops";
 * const grants: Grants = { attach: [{ kind }] };
 * ```
 */
export type ProgramKind =
  | "tracepoint"
  | "raw_tp"
  | "tp_btf"
  | "kprobe"
  | "kretprobe"
  | "fentry"
  | "fexit"
  | "uprobe"
  | "uretprobe"
  | "usdt"
  | "perf_event"
  | "xdp"
  | "tc"
  | "socket_filter"
  | "cgroup"
  | "lsm"
  | "iter"
  | "fmod_ret"
  | "freplace"
  | "sockops"
  | "sk_skb"
  | "sk_msg"
  | "sk_lookup"
  | "sk_reuseport"
  | "flow_dissector"
  | "lirc_mode2"
  | "lwt"
  | "netfilter"
  | "struct_ops"
  | "syscall"
  | "unknown";

/**
 * The attach kinds: the kinds of program a `Link` holds (`Link.kind`), that `features()`
 * answers for, and that a manifest's `grants.attach[].kind` may name, in the manifest's order.
 */
export const ATTACH_KINDS = [
  "tracepoint",
  "raw_tp",
  "tp_btf",
  "kprobe",
  "kretprobe",
  "fentry",
  "fexit",
  "uprobe",
  "uretprobe",
  "usdt",
  "perf_event",
  "xdp",
  "tc",
  "socket_filter",
  "cgroup",
  "lsm",
  "iter",
] as const satisfies readonly ProgramKind[];

/**
 * One of the {@linkcode ATTACH_KINDS}.
 *
 * @example Branch on a link's kind
 * ```ts
 * import type { AttachKind, Link } from "bpf";
 * declare const link: Link;
 * const kind: AttachKind = link.kind;
 * if (kind === "uprobe" || kind === "uretprobe") console.log("user space:", link.target);
 * ```
 */
export type AttachKind = typeof ATTACH_KINDS[number];

/** Every program kind this module can report, attach kinds first. */
export const PROGRAM_KINDS: readonly ProgramKind[] = [
  ...ATTACH_KINDS,
  "fmod_ret",
  "freplace",
  "sockops",
  "sk_skb",
  "sk_msg",
  "sk_lookup",
  "sk_reuseport",
  "flow_dissector",
  "lirc_mode2",
  "lwt",
  "netfilter",
  "struct_ops",
  "syscall",
];

/**
 * The kernel's program types (`enum bpf_prog_type`), indexed by number: what libbpf loads a
 * section's program as, and what `features()` probes.
 */
export const PROGRAM_TYPES = [
  "unspec",
  "socket_filter",
  "kprobe",
  "sched_cls",
  "sched_act",
  "tracepoint",
  "xdp",
  "perf_event",
  "cgroup_skb",
  "cgroup_sock",
  "lwt_in",
  "lwt_out",
  "lwt_xmit",
  "sock_ops",
  "sk_skb",
  "cgroup_device",
  "sk_msg",
  "raw_tracepoint",
  "cgroup_sock_addr",
  "lwt_seg6local",
  "lirc_mode2",
  "sk_reuseport",
  "flow_dissector",
  "cgroup_sysctl",
  "raw_tracepoint_writable",
  "cgroup_sockopt",
  "tracing",
  "struct_ops",
  "ext",
  "lsm",
  "sk_lookup",
  "syscall",
] as const;

/**
 * The number of a program type.
 *
 * @param name a name from {@linkcode PROGRAM_TYPES}, e.g. `"kprobe"`
 * @returns its `enum bpf_prog_type` value
 *
 * @example
 * ```ts
 * import { programTypeNumber } from "./section_kinds.ts";
 * programTypeNumber("raw_tracepoint"); // 17
 * ```
 */
export function programTypeNumber(name: typeof PROGRAM_TYPES[number]): number {
  return PROGRAM_TYPES.indexOf(name);
}

/** What a section name (or BCC function name) says about a program. */
export interface SectionInfo {
  /** The program kind. */
  kind: ProgramKind;
  /**
   * The attach target the name carries, if any: `cat:event` for tracepoints, the function for
   * kprobes/fentry/raw_tp/lsm/iter, `binary:function[+off]` for uprobes, `binary:provider:name`
   * for USDT, `ingress`/`egress` for tc, the attach point such as `skb/ingress` or `connect4`
   * for cgroup programs. Empty when the name carries none (then it is given at attach time).
   */
  target: string;
  /** Sleepable variant (`.s` suffix: `fentry.s/`, `uprobe.s/`, `lsm.s/`, `iter.s/`). */
  sleepable: boolean;
  /** Variant details libbpf distinguishes: `multi`, `syscall`, `frags`, `devmap`, ... */
  variant?: string;
  /** How the kind was recognized. */
  from: "section" | "bcc-name";
}

/**
 * How `BPF.load` attaches a program of a section by itself (runtime/attach/auto.ts holds the
 * function for each name). Sections without one are attached by hand (`b.attachXdp`, ...).
 */
export type AutoAttachName =
  | "tracepoint"
  | "raw_tp"
  | "tp_btf"
  | "kprobe"
  | "kretprobe"
  | "ksyscall"
  | "kretsyscall"
  | "uprobe"
  | "uretprobe"
  | "usdt"
  | "fentry"
  | "fexit"
  | "lsm"
  | "kprobe_multi"
  | "kretprobe_multi"
  | "kprobe_session"
  | "uprobe_multi"
  | "uretprobe_multi"
  | "uprobe_session";

/**
 * One section definition, as libbpf's `section_defs[]`: a prefix and what a program under
 * it is. The prefix matches the whole section name or the part before a `/`.
 */
export interface SectionDef {
  /** The section prefix, e.g. `uprobe.s`. */
  prefix: string;
  /**
   * The program kind, which is also the kind an `attach` grant must name for it (the
   * policy refuses a program whose kind is not granted).
   */
  kind: ProgramKind;
  /** Sleepable variant (`.s`). */
  sleepable?: boolean;
  /** A variant libbpf distinguishes (`multi`, `syscall`, `frags`, ...). */
  variant?: string;
  /** The attach target the rest of the name carries, when it is not the rest itself. */
  target?: (rest: string) => string;
  /** How `BPF.load` auto-attaches it, when it does. */
  autoAttach?: AutoAttachName;
  /**
   * The kernel BTF name libbpf resolves the target to at load, for BTF-typed programs (a
   * load that fails with ESRCH names a target the kernel's BTF does not have).
   */
  kernelBtf?: (target: string) => string;
  /**
   * A BCC program typed at attach time (runtime/late.ts): `typed` for a function whose kind
   * the C does not say (loaded as whatever it is attached as), `sys_enter`/`sys_exit` for the
   * syscall tracepoint twin of a `struct pt_regs *` function. Its kind is `unknown`: checked
   * when it is attached.
   */
  late?: "typed" | "sys_enter" | "sys_exit";
}

/**
 * The sections of BCC's programs typed at attach time: the rewriter writes them (with
 * libbpf's `?`, which keeps them out of the object's own load), the object inspector
 * classifies them, `BPF` loads them when they are attached.
 */
export const LATE_SECTIONS = {
  /** A function taking `void *ctx`: loaded as whatever kind it is attached as. */
  typed: "bcc/late",
  /** The syscall-entry tracepoint twin of a `struct pt_regs *` function. */
  sys_enter: "bcc/sys_enter",
  /** The syscall-exit tracepoint twin of a `struct pt_regs *` function. */
  sys_exit: "bcc/sys_exit",
} as const;

const slashToColon = (rest: string) => rest.replace("/", ":");
const btfFunc = (target: string) => target;
const btfTrace = (target: string) => `btf_trace_${target}`;
const btfLsm = (target: string) => `bpf_lsm_${target}`;
const btfIter = (target: string) => `bpf_iter_${target}`;

/** A definition and its sleepable `.s` twin (libbpf's `SEC_SLEEPABLE`), the twin first. */
function withSleepable(def: SectionDef): SectionDef[] {
  return [{ ...def, prefix: `${def.prefix}.s`, sleepable: true }, def];
}

/**
 * The section definitions, read by the grants check (through {@linkcode kindFromSection}),
 * the load-failure explanation and auto-attach (through {@linkcode sectionDef}). Longest
 * prefixes first within a family so that `kprobe.multi` wins over `kprobe`.
 */
export const SECTION_DEFS: readonly SectionDef[] = [
  ...(["typed", "sys_enter", "sys_exit"] as const).map((late) => ({
    prefix: LATE_SECTIONS[late],
    kind: "unknown" as const,
    late,
  })),
  { prefix: "socket", kind: "socket_filter" },
  { prefix: "sk_reuseport/migrate", kind: "sk_reuseport", variant: "migrate" },
  { prefix: "sk_reuseport", kind: "sk_reuseport" },
  {
    prefix: "kprobe.multi",
    kind: "kprobe",
    variant: "multi",
    autoAttach: "kprobe_multi",
  },
  {
    prefix: "kretprobe.multi",
    kind: "kretprobe",
    variant: "multi",
    autoAttach: "kretprobe_multi",
  },
  {
    prefix: "kprobe.session",
    kind: "kprobe",
    variant: "session",
    autoAttach: "kprobe_session",
  },
  { prefix: "kprobe", kind: "kprobe", autoAttach: "kprobe" },
  { prefix: "kretprobe", kind: "kretprobe", autoAttach: "kretprobe" },
  {
    prefix: "ksyscall",
    kind: "kprobe",
    variant: "syscall",
    autoAttach: "ksyscall",
  },
  {
    prefix: "kretsyscall",
    kind: "kretprobe",
    variant: "syscall",
    autoAttach: "kretsyscall",
  },
  ...withSleepable({
    prefix: "uprobe.multi",
    kind: "uprobe",
    variant: "multi",
    autoAttach: "uprobe_multi",
  }),
  ...withSleepable({
    prefix: "uretprobe.multi",
    kind: "uretprobe",
    variant: "multi",
    autoAttach: "uretprobe_multi",
  }),
  ...withSleepable({
    prefix: "uprobe.session",
    kind: "uprobe",
    variant: "session",
    autoAttach: "uprobe_session",
  }),
  ...withSleepable({ prefix: "uprobe", kind: "uprobe", autoAttach: "uprobe" }),
  ...withSleepable({
    prefix: "uretprobe",
    kind: "uretprobe",
    autoAttach: "uretprobe",
  }),
  ...withSleepable({ prefix: "usdt", kind: "usdt", autoAttach: "usdt" }),
  {
    prefix: "tcx/ingress",
    kind: "tc",
    variant: "tcx",
    target: () => "ingress",
  },
  { prefix: "tcx/egress", kind: "tc", variant: "tcx", target: () => "egress" },
  { prefix: "tc/ingress", kind: "tc", target: () => "ingress" },
  { prefix: "tc/egress", kind: "tc", target: () => "egress" },
  {
    prefix: "netkit/primary",
    kind: "tc",
    variant: "netkit",
    target: () => "primary",
  },
  {
    prefix: "netkit/peer",
    kind: "tc",
    variant: "netkit",
    target: () => "peer",
  },
  { prefix: "tc", kind: "tc" },
  { prefix: "classifier", kind: "tc" },
  { prefix: "action", kind: "tc", variant: "action" },
  {
    prefix: "tracepoint",
    kind: "tracepoint",
    target: slashToColon,
    autoAttach: "tracepoint",
  },
  {
    prefix: "tp",
    kind: "tracepoint",
    target: slashToColon,
    autoAttach: "tracepoint",
  },
  {
    prefix: "raw_tracepoint.w",
    kind: "raw_tp",
    variant: "writable",
    autoAttach: "raw_tp",
  },
  {
    prefix: "raw_tp.w",
    kind: "raw_tp",
    variant: "writable",
    autoAttach: "raw_tp",
  },
  { prefix: "raw_tracepoint", kind: "raw_tp", autoAttach: "raw_tp" },
  { prefix: "raw_tp", kind: "raw_tp", autoAttach: "raw_tp" },
  {
    prefix: "tp_btf",
    kind: "tp_btf",
    autoAttach: "tp_btf",
    kernelBtf: btfTrace,
  },
  ...withSleepable({
    prefix: "fentry",
    kind: "fentry",
    autoAttach: "fentry",
    kernelBtf: btfFunc,
  }),
  ...withSleepable({
    prefix: "fmod_ret",
    kind: "fmod_ret",
    kernelBtf: btfFunc,
  }),
  ...withSleepable({
    prefix: "fexit",
    kind: "fexit",
    autoAttach: "fexit",
    kernelBtf: btfFunc,
  }),
  { prefix: "freplace", kind: "freplace" },
  { prefix: "lsm_cgroup", kind: "lsm", variant: "cgroup", kernelBtf: btfLsm },
  ...withSleepable({
    prefix: "lsm",
    kind: "lsm",
    autoAttach: "lsm",
    kernelBtf: btfLsm,
  }),
  ...withSleepable({ prefix: "iter", kind: "iter", kernelBtf: btfIter }),
  { prefix: "syscall", kind: "syscall" },
  { prefix: "xdp.frags/devmap", kind: "xdp", variant: "frags-devmap" },
  { prefix: "xdp/devmap", kind: "xdp", variant: "devmap" },
  { prefix: "xdp.frags/cpumap", kind: "xdp", variant: "frags-cpumap" },
  { prefix: "xdp/cpumap", kind: "xdp", variant: "cpumap" },
  { prefix: "xdp.frags", kind: "xdp", variant: "frags" },
  { prefix: "xdp", kind: "xdp" },
  { prefix: "perf_event", kind: "perf_event" },
  { prefix: "lwt_in", kind: "lwt", variant: "in" },
  { prefix: "lwt_out", kind: "lwt", variant: "out" },
  { prefix: "lwt_xmit", kind: "lwt", variant: "xmit" },
  { prefix: "lwt_seg6local", kind: "lwt", variant: "seg6local" },
  { prefix: "sockops", kind: "sockops" },
  { prefix: "sk_skb/stream_parser", kind: "sk_skb", variant: "stream_parser" },
  {
    prefix: "sk_skb/stream_verdict",
    kind: "sk_skb",
    variant: "stream_verdict",
  },
  { prefix: "sk_skb/verdict", kind: "sk_skb", variant: "verdict" },
  { prefix: "sk_skb", kind: "sk_skb" },
  { prefix: "sk_msg", kind: "sk_msg" },
  { prefix: "lirc_mode2", kind: "lirc_mode2" },
  { prefix: "flow_dissector", kind: "flow_dissector" },
  { prefix: "cgroup_skb/ingress", kind: "cgroup", target: () => "skb/ingress" },
  { prefix: "cgroup_skb/egress", kind: "cgroup", target: () => "skb/egress" },
  { prefix: "cgroup/skb", kind: "cgroup", target: () => "skb" },
  { prefix: "cgroup", kind: "cgroup", target: (rest) => rest },
  ...withSleepable({ prefix: "struct_ops", kind: "struct_ops" }),
  { prefix: "sk_lookup", kind: "sk_lookup" },
  { prefix: "netfilter", kind: "netfilter" },
];

/**
 * The definition a section name falls under, and the rest of the name after its prefix.
 * libbpf's `?` (not loaded with the object) is not part of the name.
 *
 * @param section an ELF section name
 * @returns the definition and the rest (`""` when the name is the prefix), or `undefined`
 *
 * @example
 * ```ts
 * import { sectionDef } from "./section_kinds.ts";
 * const found = sectionDef("uprobe.s//bin/bash:readline");
 * console.log(found?.def.autoAttach, found?.rest); // "uprobe" "/bin/bash:readline"
 * ```
 */
export function sectionDef(
  section: string,
): { def: SectionDef; rest: string } | undefined {
  if (section.startsWith("?")) section = section.slice(1);
  for (const def of SECTION_DEFS) {
    if (section === def.prefix) return { def, rest: "" };
    if (section.startsWith(def.prefix + "/")) {
      return { def, rest: section.slice(def.prefix.length + 1) };
    }
  }
  return undefined;
}

/**
 * The kind and target a section name declares. A prefix matches the whole name or the part
 * before a `/` (so `tpfoo` is not `tp`), following libbpf's section definitions
 * (`SEC("tracepoint/syscalls/sys_enter_openat")`, `SEC("uprobe//bin/bash:readline")`, ...).
 *
 * @param section an ELF section name
 * @returns what the name says, or `undefined` when it is not a program section libbpf knows
 *
 * @example
 * ```ts
 * import { kindFromSection } from "./section_kinds.ts";
 * kindFromSection("tp/sched/sched_switch"); // { kind: "tracepoint", target: "sched:sched_switch", ... }
 * ```
 */
export function kindFromSection(section: string): SectionInfo | undefined {
  const found = sectionDef(section);
  if (!found) return undefined;
  const { def, rest } = found;
  return {
    kind: def.kind,
    target: def.target ? def.target(rest) : rest,
    sleepable: def.sleepable ?? false,
    ...(def.variant ? { variant: def.variant } : {}),
    from: "section",
  };
}

/**
 * Whether a section holds a BCC program typed at attach time (runtime/late.ts).
 *
 * @param section an ELF section name, with or without libbpf's `?`
 * @returns whether its definition is one of the {@linkcode LATE_SECTIONS}
 *
 * @example
 * ```ts
 * import { isLateSection } from "./section_kinds.ts";
 * isLateSection("?bcc/late"); // true
 * ```
 */
export function isLateSection(section: string): boolean {
  return sectionDef(section)?.def.late !== undefined;
}

/**
 * Whether a section holds a syscall tracepoint twin (loaded in place of its function's
 * kprobe, never by name).
 *
 * @param section an ELF section name, with or without libbpf's `?`
 * @returns whether it is a twin's section
 *
 * @example
 * ```ts
 * import { isSyscallTwin } from "./section_kinds.ts";
 * isSyscallTwin("?bcc/sys_exit"); // true
 * ```
 */
export function isSyscallTwin(section: string): boolean {
  const late = sectionDef(section)?.def.late;
  return late === "sys_enter" || late === "sys_exit";
}

/**
 * The name of the syscall tracepoint twin of program `name` (`<name>__bcc_enter`,
 * `<name>__bcc_exit`).
 *
 * @param name the `struct pt_regs *` function's name
 * @param ret the exit twin (for a kretprobe) rather than the entry one
 * @returns the twin's program name
 *
 * @example
 * ```ts
 * import { syscallTwinName } from "./section_kinds.ts";
 * syscallTwinName("trace_open", true); // "trace_open__bcc_exit"
 * ```
 */
export function syscallTwinName(name: string, ret: boolean): string {
  return `${name}__bcc_${ret ? "exit" : "enter"}`;
}

const BCC_PREFIXES: {
  prefix: string;
  kind: ProgramKind;
  target: (rest: string) => string;
}[] = [
  { prefix: "kprobe__", kind: "kprobe", target: (r) => r },
  { prefix: "kretprobe__", kind: "kretprobe", target: (r) => r },
  {
    prefix: "tracepoint__",
    kind: "tracepoint",
    target: (r) => {
      const i = r.indexOf("__");
      return i < 0 ? r : `${r.slice(0, i)}:${r.slice(i + 2)}`;
    },
  },
  { prefix: "raw_tracepoint__", kind: "raw_tp", target: (r) => r },
  // BCC names KFUNC_PROBE(f) `kfunc__vmlinux__f` (older releases: `kfunc__f`).
  {
    prefix: "kfunc__",
    kind: "fentry",
    target: (r) => r.replace(/^vmlinux__/, ""),
  },
  {
    prefix: "kretfunc__",
    kind: "fexit",
    target: (r) => r.replace(/^vmlinux__/, ""),
  },
  {
    prefix: "kmod_ret__",
    kind: "fmod_ret",
    target: (r) => r.replace(/^vmlinux__/, ""),
  },
  { prefix: "lsm__", kind: "lsm", target: (r) => r },
];

/**
 * The kind and target BCC derives from a function name (`kprobe__do_sys_open`,
 * `tracepoint__sched__sched_switch`, `kfunc__vmlinux__tcp_sendmsg`, ...).
 *
 * @param functionName a C function name
 * @returns what the name says, or `undefined` when it has no BCC prefix
 *
 * @example
 * ```ts
 * import { kindFromBccName } from "./section_kinds.ts";
 * kindFromBccName("tracepoint__sched__sched_switch")?.target; // "sched:sched_switch"
 * ```
 */
export function kindFromBccName(functionName: string): SectionInfo | undefined {
  for (const p of BCC_PREFIXES) {
    if (
      !functionName.startsWith(p.prefix) ||
      functionName.length === p.prefix.length
    ) continue;
    return {
      kind: p.kind,
      target: p.target(functionName.slice(p.prefix.length)),
      sleepable: false,
      from: "bcc-name",
    };
  }
  return undefined;
}
