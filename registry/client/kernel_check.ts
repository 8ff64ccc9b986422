/**
 * Does this kernel have what a package names? Every tracepoint, kernel function and BTF type
 * its grants and `kernel` lists name (each needed, or marked `optional`) is looked up here:
 * at publish on the publisher's kernel, where a needed name that is missing (most likely a
 * typo) is refused; at install and run on this kernel, where a needed one that is missing
 * stops the run and an optional one is named. `kernel.minVersion`, `kernel.btf` and the
 * attach kinds kernels are built without are checked at install and run.
 *
 * Tracepoints come from tracefs (`available_events`), functions, LSM hooks and iterators from
 * /proc/kallsyms, BTF types from /sys/kernel/btf/vmlinux; each is read only when a name
 * needs it.
 *
 * @module
 */
import { exists } from "../../runtime/_fs.ts";
import { globMatch } from "../../runtime/policy/grants.ts";
import type { Support } from "../../runtime/features.ts";
import type { BpfManifest, KernelName } from "../manifest.ts";

/** A name the manifest gives that this kernel lacks. */
export interface MissingTarget {
  /** Where in the manifest: `grants.attach[2]`, `kernel.tracepoints[0]`. */
  where: string;
  /** The kind of thing: tracepoint, kernel function, iterator, BTF type. */
  what: string;
  /** The name as written. */
  name: string;
  /** True when the manifest marks it optional. */
  optional: boolean;
  /** The nearest name this kernel has, when one is close. */
  suggestion?: string;
}

/** The parts of a bpf manifest this checks. */
export type KernelManifest = Pick<BpfManifest, "kernel" | "grants">;

const TRACEFS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/** What this kernel has, each source read once, when first needed. */
class KernelNames {
  #tracefs?: string | null;
  #tracepoints?: string[];
  #symbols?: Set<string>;
  #btf?: import("../../runtime/btf/btf.ts").Btf;

  /** Where tracefs is mounted, or null. */
  #root(): string | null {
    if (this.#tracefs === undefined) {
      this.#tracefs = TRACEFS.find((d) => exists(`${d}/events`)) ?? null;
    }
    return this.#tracefs;
  }

  tracepoints(): string[] {
    if (this.#tracepoints) return this.#tracepoints;
    const root = this.#root();
    if (!root) {
      throw new Error(
        "tracefs is not mounted, so tracepoint names cannot be checked: mount -t tracefs tracefs /sys/kernel/tracing",
      );
    }
    try {
      // One read: the list tracefs keeps of every category:event.
      return this.#tracepoints = Deno.readTextFileSync(
        `${root}/available_events`,
      ).split("\n").filter(Boolean);
    } catch {
      const out: string[] = [];
      // Sorted, as readdir(3) order is not.
      const dirs = (path: string) =>
        [...Deno.readDirSync(path)].filter((e) => e.isDirectory)
          .map((e) => e.name).sort();
      for (const cat of dirs(`${root}/events`)) {
        for (const ev of dirs(`${root}/events/${cat}`)) {
          out.push(`${cat}:${ev}`);
        }
      }
      return this.#tracepoints = out;
    }
  }

  /**
   * Whether a literal `category:event` exists: one stat of its tracefs directory instead of
   * the list of every tracepoint (about 3 ms of each run's start). False for a glob or
   * anything that is not a plain name: the list decides those, and suggests a near name.
   */
  hasTracepoint(name: string): boolean {
    if (!/^[\w-]+:[\w-]+$/.test(name)) return false;
    const root = this.#root();
    return !!root && exists(`${root}/events/${name.replace(":", "/")}`);
  }

  symbols(): Set<string> {
    if (this.#symbols) return this.#symbols;
    const out = new Set<string>();
    for (const line of Deno.readTextFileSync("/proc/kallsyms").split("\n")) {
      const f = line.split(" ");
      if (f[1] === "T" || f[1] === "t") out.add(f[2]);
    }
    return this.#symbols = out;
  }

  async btf(): Promise<import("../../runtime/btf/btf.ts").Btf> {
    if (this.#btf) return this.#btf;
    const path = "/sys/kernel/btf/vmlinux";
    if (!exists(path)) {
      throw new Error(
        `${path} is missing, so BTF type names cannot be checked: use a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
      );
    }
    const { parseBtf } = await import("../../runtime/btf/btf.ts");
    return this.#btf = parseBtf(Deno.readFileSync(path));
  }
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const t = d[j];
      d[j] = Math.min(
        d[j] + 1,
        d[j - 1] + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = t;
    }
  }
  return d[b.length];
}

function nearest(name: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(3, Math.floor(name.length / 4)) + 1;
  for (const n of names) {
    if (Math.abs(n.length - name.length) >= bestD) continue;
    const dist = distance(name, n);
    if (dist < bestD) {
      best = n;
      bestD = dist;
    }
  }
  return best;
}

// Globs as grants mean them (runtime/policy/grants.ts).
function matches(pattern: string, names: Iterable<string>): boolean {
  for (const n of names) if (globMatch(pattern, n)) return true;
  return false;
}

function kernelName(n: KernelName): { name: string; optional: boolean } {
  return typeof n === "string"
    ? { name: n, optional: false }
    : { name: n.name, optional: n.optional === true };
}

/**
 * The names a manifest gives that this kernel lacks, needed and optional: tracepoint, raw_tp
 * and tp_btf targets; kprobe, kretprobe, fentry, fexit and lsm functions; iterators; and the
 * `kernel` lists of tracepoints, functions and BTF types. Globs must match at least one name.
 * User-space targets (uprobes, USDT) and attach points (XDP, tc, cgroup) are not kernel
 * names and are not checked.
 *
 * @example
 * ```ts
 * import { missingKernelTargets } from "./kernel_check.ts";
 * await missingKernelTargets({ grants: { attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_exceve" }] } });
 * // [{ where: "grants.attach[0]", what: "tracepoint", name: "syscalls:sys_enter_exceve", optional: false, suggestion: "syscalls:sys_enter_execve" }]
 * ```
 */
export async function missingKernelTargets(
  bpf: KernelManifest,
): Promise<MissingTarget[]> {
  const k = new KernelNames();
  const out: MissingTarget[] = [];
  type At = { where: string; name: string; optional: boolean };
  const miss = (at: At, what: string, suggestion?: string) =>
    out.push({ ...at, what, ...(suggestion ? { suggestion } : {}) });
  const tracepoint = (at: At) => {
    if (k.hasTracepoint(at.name)) return;
    const names = k.tracepoints();
    if (!matches(at.name, names)) {
      miss(at, "tracepoint", nearest(at.name, names));
    }
  };
  const event = (at: At) => {
    // raw_tp and tp_btf take the event name without its category.
    const names = k.tracepoints().map((t) => t.slice(t.indexOf(":") + 1));
    if (!matches(at.name, names)) {
      miss(at, "raw tracepoint", nearest(at.name, names));
    }
  };
  const symbol = (at: At, what: string, prefix = "") => {
    const syms = k.symbols();
    const names = prefix
      ? [...syms].filter((s) => s.startsWith(prefix)).map((s) =>
        s.slice(prefix.length)
      )
      : syms;
    if (!matches(at.name, names)) {
      miss(
        at,
        what,
        nearest(
          at.name,
          prefix ? names : [...syms].filter((s) => s[0] === at.name[0]),
        ),
      );
    }
  };
  const btfType = async (at: At) => {
    const m = /^(?:(struct|union|enum|typedef) )?(.+)$/.exec(at.name)!;
    const btf = await k.btf();
    const kinds = m[1] === "enum" ? ["enum", "enum64"] : m[1] ? [m[1]] : [];
    const found = btf.find(m[2]).some((t) =>
      !kinds.length || kinds.includes(t.kind)
    );
    if (!found) miss(at, "BTF type");
  };
  for (const [i, a] of (bpf.grants?.attach ?? []).entries()) {
    if (!a.target) continue;
    const at = {
      where: `grants.attach[${i}]`,
      name: a.target,
      optional: a.optional === true,
    };
    switch (a.kind) {
      case "tracepoint":
        tracepoint(at);
        break;
      case "raw_tp":
      case "tp_btf":
        event(at);
        break;
      case "kprobe":
      case "kretprobe":
      case "fentry":
      case "fexit":
        symbol(at, "kernel function");
        break;
      case "lsm":
        symbol(at, "LSM hook", "bpf_lsm_");
        break;
      case "iter":
        symbol(at, "iterator", "bpf_iter_");
        break;
    }
  }
  const list = (field: "tracepoints" | "functions" | "btfTypes") =>
    (bpf.kernel?.[field] ?? []).map((n, i) => ({
      where: `kernel.${field}[${i}]`,
      ...kernelName(n),
    }));
  list("tracepoints").forEach(tracepoint);
  list("functions").forEach((at) => symbol(at, "kernel function"));
  for (const at of list("btfTypes")) await btfType(at);
  return out;
}

/**
 * One line per missing name, with the nearest existing one when there is a close one.
 *
 * @example
 * ```ts
 * import { describeMissing } from "./kernel_check.ts";
 * describeMissing({ where: "grants.attach[0]", what: "tracepoint", name: "sched:sched_swtich", optional: false, suggestion: "sched:sched_switch" });
 * // "grants.attach[0]: tracepoint sched:sched_swtich does not exist on this kernel (did you mean sched:sched_switch?)"
 * ```
 */
export function describeMissing(m: MissingTarget): string {
  return `${m.where}: ${
    m.optional ? "optional " : ""
  }${m.what} ${m.name} does not exist on this kernel${
    m.suggestion ? ` (did you mean ${m.suggestion}?)` : ""
  }`;
}

function versionNumber(v: string): number {
  const [maj, min] = v.split(".").map((x) => parseInt(x, 10));
  return (maj || 0) * 1000 + (min || 0);
}

/** What {@linkcode kernelReport} found: what stops a run, and what the user should know. */
export interface KernelReport {
  /** Needed things this kernel lacks, one line each with the fix: install warns, run stops. */
  problems: string[];
  /** Optional targets this kernel lacks, and attach kinds it cannot attach: said, not fatal. */
  notes: string[];
}

// Attach kinds kernels are often built without (CONFIG_KPROBES, ftrace direct calls, the
// BPF LSM, iterators before 5.8): only these ask features(), which loads the native library.
const OFTEN_MISSING = new Set([
  "kprobe",
  "kretprobe",
  "fentry",
  "fexit",
  "lsm",
  "iter",
]);

/**
 * What the running kernel lacks of what a package names: `minVersion`, `btf`, the
 * tracepoints, functions and BTF types of its grants and `kernel` lists (needed ones are
 * problems, optional ones notes), and attach kinds this kernel cannot attach (notes: the
 * runtime falls back where it can, e.g. a syscall kprobe to its tracepoint).
 *
 * @param bpf the package's `bpf` manifest
 * @param spec `name@version`, for the messages
 * @param release the kernel release to compare `minVersion` with
 * @returns one line per finding; both lists empty when everything is here
 *
 * @example
 * ```ts
 * import { kernelReport } from "./kernel_check.ts";
 * const r = await kernelReport({ kernel: { minVersion: "99.0" } }, "tcplife@1.0.0");
 * // r.problems: ["tcplife@1.0.0 needs Linux 99.0 or newer; this kernel is 6.18…: run it on a newer kernel"]
 * ```
 */
export async function kernelReport(
  bpf: KernelManifest,
  spec: string,
  release: string = Deno.osRelease(),
): Promise<KernelReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const min = bpf.kernel?.minVersion;
  if (min && versionNumber(release) < versionNumber(min)) {
    problems.push(
      `${spec} needs Linux ${min} or newer; this kernel is ${release}: run it on a newer kernel`,
    );
  }
  const btf = exists("/sys/kernel/btf/vmlinux");
  if (bpf.kernel?.btf && !btf) {
    problems.push(
      `${spec} needs kernel BTF (/sys/kernel/btf/vmlinux), which this kernel lacks: use a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
  let missing: MissingTarget[] = [];
  try {
    missing = await missingKernelTargets(
      btf ? bpf : { ...bpf, kernel: { ...bpf.kernel, btfTypes: [] } },
    );
  } catch (e) {
    notes.push(
      `${spec}: its kernel names were not checked: ${(e as Error).message}`,
    );
  }
  const named = (ms: MissingTarget[]) =>
    ms.map((m) => `the ${m.what} ${m.name}`).join(", ");
  const needed = missing.filter((m) => !m.optional);
  const optional = missing.filter((m) => m.optional);
  if (needed.length) {
    problems.push(
      `${spec} needs ${
        named(needed)
      }, which this kernel lacks: run it on a kernel that has ${
        needed.length > 1 ? "them" : "it"
      }`,
    );
  }
  if (optional.length) {
    notes.push(
      `${spec} runs without ${
        named(optional)
      } (optional), which this kernel lacks`,
    );
  }
  const kinds = new Map<string, boolean>();
  for (const a of bpf.grants?.attach ?? []) {
    if (OFTEN_MISSING.has(a.kind)) {
      kinds.set(a.kind, (kinds.get(a.kind) ?? true) && a.optional === true);
    }
  }
  if (kinds.size) {
    const { features } = await import("../../runtime/features.ts");
    const attach = features().attach as Record<string, Support>;
    for (const [kind, optional] of kinds) {
      const s = attach[kind];
      if (s && !s.supported) {
        notes.push(
          `${spec} attaches ${kind} programs${
            optional ? " (optional)" : ""
          }, which this kernel cannot: ${s.reason}`,
        );
      }
    }
  }
  return { problems, notes };
}

/**
 * {@linkcode kernelReport} of the package in `dir` (its package.json's `bpf`); empty when it
 * has none or runs here.
 *
 * @example
 * ```ts
 * import { packageKernelReport } from "./kernel_check.ts";
 * const r = await packageKernelReport("bpf_modules/tcplife");
 * for (const line of [...r.problems, ...r.notes]) console.error(line);
 * ```
 */
export async function packageKernelReport(dir: string): Promise<KernelReport> {
  let pj: { name?: string; version?: string; bpf?: KernelManifest };
  try {
    pj = JSON.parse(Deno.readTextFileSync(`${dir}/package.json`));
  } catch {
    return { problems: [], notes: [] };
  }
  return pj.bpf
    ? await kernelReport(pj.bpf, `${pj.name}@${pj.version}`)
    : { problems: [], notes: [] };
}
