/**
 * What this kernel offers: program types, map types and attach kinds, found by loading tiny
 * programs (libbpf's feature probes) and by checking kernel files (the kprobe and uprobe
 * PMUs, tracefs, cgroup2, the active LSMs). Answers are computed once per process.
 *
 * Tests skip with `features().attach[kind].reason` only when the kernel lacks a kind, and
 * fail when a kind that should exist says no.
 *
 * @module
 */
import { Errno } from "./errors.ts";
import { cstr, lastError, lib } from "./_ffi.ts";
import { kernelPathExists, readKernelFile } from "./_kernel_files.ts";
import { MAP_TYPES } from "./spec/map_types.ts";
import {
  type AttachKind,
  PROGRAM_TYPES,
  sectionDef,
} from "./spec/section_kinds.ts";

/**
 * Whether a kind works here, and why not when it does not.
 *
 * @example Skip a kind this kernel lacks
 * ```ts
 * import { features, type Support } from "bpf";
 * const kprobe: Support = features().attach.kprobe;
 * if (!kprobe.supported) console.log("no kprobes:", kprobe.reason);
 * ```
 */
export interface Support {
  /** True when this kernel can load and attach it. */
  supported: boolean;
  /** Why not (the missing kernel feature and what provides it); absent when supported. */
  reason?: string;
}

/**
 * The answers of {@link features}.
 *
 * @example What this kernel has
 * ```ts
 * import { features } from "bpf";
 * const f = features();
 * console.log(f.kernel, f.tcx, f.mapTypes.ringbuf, f.programTypes.xdp);
 * ```
 */
export interface Features {
  /** Kernel release (`uname -r`). */
  kernel: string;
  /** Program types by name (`kprobe`, `xdp`, ...). */
  programTypes: Record<string, boolean>;
  /** Map types by name (`hash`, `ringbuf`, ...). */
  mapTypes: Record<string, boolean>;
  /** Attach kinds, with the reason for each missing one. */
  attach: Record<AttachKind, Support>;
  /** tcx links (6.6+): TC attaches as a link instead of a clsact filter. */
  tcx: boolean;
}

const BPF_TRACE_FENTRY = 24;
const BPF_TRACE_FEXIT = 25;
const BPF_TRACE_ITER = 28;
const BPF_LSM_MAC = 27;
const BPF_TRACE_RAW_TP = 23;

// Kernel files are read natively: Deno grants /sys and /proc only with --allow-all, while
// --allow-ffi for libbpfpm.so (which BPF needs anyway) covers these reads.
function exists(path: string): boolean {
  return kernelPathExists(path);
}

function readText(path: string): string {
  try {
    return readKernelFile(path) ?? "";
  } catch {
    return "";
  }
}

function cgroup2Mounted(): boolean {
  return readText("/proc/self/mounts").split("\n").some((l) =>
    l.split(" ")[2] === "cgroup2"
  );
}

let cached: Features | undefined;

/**
 * Probes (once) and returns what this kernel offers.
 *
 * @returns program types, map types and attach kinds, each with a reason when missing
 *
 * @example Skip a test where kprobes are missing
 * ```ts
 * import { features } from "bpf";
 * const kprobe = features().attach.kprobe;
 * if (!kprobe.supported) console.log(`skipped: ${kprobe.reason}`);
 * ```
 */
export function features(): Features {
  if (cached) return cached;
  const s = lib();
  const programTypes: Record<string, boolean> = {};
  PROGRAM_TYPES.forEach((name, i) => {
    if (i > 0) programTypes[name] = s.bpfpm_probe__prog_type(i) === 1;
  });
  const mapTypes: Record<string, boolean> = {};
  MAP_TYPES.forEach((name, i) => {
    if (i > 0) mapTypes[name] = s.bpfpm_probe__map_type(i) === 1;
  });
  const prog = (type: string): Support =>
    programTypes[type] ? { supported: true } : {
      supported: false,
      reason: `this kernel cannot load ${type} programs`,
    };
  const both = (a: Support, b: Support): Support => (a.supported ? b : a);
  const tracing = (
    attachType: number,
    func: string,
    attach: boolean,
    what: string,
  ): Support => {
    if (s.bpfpm_probe__tracing(attachType, cstr(func), attach ? 1 : 0) === 1) {
      return { supported: true };
    }
    const { errno, message } = lastError();
    const denied = errno === Errno.EPERM || errno === Errno.ENOTSUPP ||
      errno === Errno.EOPNOTSUPP;
    return {
      supported: false,
      reason: denied && attachType !== BPF_TRACE_ITER
        ? `this kernel denies ftrace function ops, so ${what} cannot attach (CONFIG_FUNCTION_TRACER and CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS): ${message}`
        : `${what} unavailable: ${message}`,
    };
  };
  const kprobes: Support = s.bpfpm_probe__kprobes() === 1
    ? { supported: true }
    : {
      supported: false,
      reason: "this kernel has no kprobes (CONFIG_KPROBES is not set)",
    };
  const uprobes: Support = exists("/sys/bus/event_source/devices/uprobe/type")
    ? { supported: true }
    : {
      supported: false,
      reason: "this kernel has no uprobe PMU (CONFIG_UPROBE_EVENTS is not set)",
    };
  const tracefs: Support = exists("/sys/kernel/tracing/events") ||
      exists("/sys/kernel/debug/tracing/events") ||
      exists("/sys/kernel/tracing") // mountable: the runtime mounts it on first use
    ? { supported: true }
    : {
      supported: false,
      reason: "this kernel has no tracefs (CONFIG_TRACING)",
    };
  const btf: Support = exists("/sys/kernel/btf/vmlinux")
    ? { supported: true }
    : {
      supported: false,
      reason: "this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)",
    };
  // "" when securityfs is not mounted: then the probe decides.
  const lsmList = readText("/sys/kernel/security/lsm").trim();
  const fentry = both(
    btf,
    tracing(BPF_TRACE_FENTRY, "bpf_fentry_test1", true, "fentry"),
  );
  const fexit = both(
    btf,
    tracing(BPF_TRACE_FEXIT, "bpf_fentry_test1", true, "fexit"),
  );
  const tpBtf = both(
    btf,
    tracing(BPF_TRACE_RAW_TP, "sched_switch", true, "tp_btf"),
  );
  const iter = both(
    btf,
    tracing(BPF_TRACE_ITER, "bpf_iter_task", false, "iter"),
  );
  const attach: Record<AttachKind, Support> = {
    tracepoint: both(prog("tracepoint"), tracefs),
    raw_tp: prog("raw_tracepoint"),
    tp_btf: tpBtf,
    kprobe: both(prog("kprobe"), kprobes),
    kretprobe: both(prog("kprobe"), kprobes),
    fentry,
    fexit,
    uprobe: both(prog("kprobe"), uprobes),
    uretprobe: both(prog("kprobe"), uprobes),
    usdt: both(prog("kprobe"), uprobes),
    perf_event: prog("perf_event"),
    xdp: prog("xdp"),
    tc: prog("sched_cls"),
    socket_filter: prog("socket_filter"),
    cgroup: both(
      prog("cgroup_skb"),
      cgroup2Mounted()
        ? { supported: true }
        : { supported: false, reason: "no cgroup2 filesystem is mounted" },
    ),
    lsm: lsmList === "" || lsmList.split(",").includes("bpf")
      ? tracing(BPF_LSM_MAC, "bpf_lsm_file_open", true, "lsm")
      : {
        supported: false,
        reason:
          `the BPF LSM is not active (the active LSMs are ${lsmList}; boot a kernel with CONFIG_BPF_LSM=y and lsm=...,bpf)`,
      },
    iter,
  };
  // libbpf's probe of the tracing type loads an fentry program, which a kernel that denies
  // ftrace refuses although tp_btf and iterators (also tracing programs) work.
  if (tpBtf.supported || iter.supported) programTypes.tracing = true;
  cached = {
    kernel: readText("/proc/sys/kernel/osrelease").trim(),
    programTypes,
    mapTypes,
    attach,
    tcx: s.bpfpm_probe__tcx() === 1,
  };
  return cached;
}

/**
 * Why a program of this section could not load on this kernel, when a probe knows it (an
 * fentry program where ftrace function ops are denied, an LSM program without the BPF LSM).
 *
 * @param section the program's ELF section, e.g. `fentry/do_unlinkat`
 * @returns the missing feature, or `undefined`
 */
export function missingFeatureFor(section: string): string | undefined {
  const def = sectionDef(section)?.def;
  if (!def || def.variant) return undefined;
  const f = features().attach;
  const s = def.kind === "fmod_ret"
    ? f.fentry
    : ["fentry", "fexit", "lsm", "iter"].includes(def.kind)
    ? f[def.kind as AttachKind]
    : undefined;
  return s?.supported === false ? s.reason : undefined;
}
