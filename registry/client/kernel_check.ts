/**
 * Does this kernel have what a package names? At publish, every tracepoint, kernel
 * function and iterator its grants and `kernel.tracepoints` name must exist on the
 * publisher's kernel (a typo would otherwise be published and fail on users' machines);
 * before a run, `kernel.minVersion` and `kernel.btf` are checked against the running kernel.
 *
 * Tracepoints come from tracefs (`events/<category>/<event>`), functions and iterators from
 * /proc/kallsyms.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { globMatch } from "../../runtime/policy/grants.ts";

/** A name the manifest gives that this kernel lacks. */
export interface MissingTarget {
  /** Where in the manifest: `grants.attach[2]`, `kernel.tracepoints[0]`. */
  where: string;
  /** The kind of thing: tracepoint, kernel function, iterator. */
  what: string;
  /** The name as written. */
  name: string;
  /** The nearest name this kernel has, when one is close. */
  suggestion?: string;
}

/** The parts of a bpf manifest this checks. */
export interface KernelManifest {
  kernel?: { btf?: boolean; minVersion?: string; tracepoints?: string[] };
  grants?: { attach?: { kind: string; target?: string }[] };
}

const TRACEFS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/** What this kernel has, read once per check. */
class KernelNames {
  #tracepoints?: string[];
  #symbols?: Set<string>;

  tracepoints(): string[] {
    if (this.#tracepoints) return this.#tracepoints;
    const root = TRACEFS.map((d) => `${d}/events`).find((d) => existsSync(d));
    if (!root) {
      throw new Error(
        "tracefs is not mounted, so tracepoint names cannot be checked: mount -t tracefs tracefs /sys/kernel/tracing",
      );
    }
    const out: string[] = [];
    for (const cat of readdirSync(root, { withFileTypes: true })) {
      if (!cat.isDirectory()) continue;
      for (
        const ev of readdirSync(`${root}/${cat.name}`, { withFileTypes: true })
      ) {
        if (ev.isDirectory()) out.push(`${cat.name}:${ev.name}`);
      }
    }
    return this.#tracepoints = out;
  }

  symbols(): Set<string> {
    if (this.#symbols) return this.#symbols;
    const out = new Set<string>();
    for (const line of readFileSync("/proc/kallsyms", "utf8").split("\n")) {
      const f = line.split(" ");
      if (f[1] === "T" || f[1] === "t") out.add(f[2]);
    }
    return this.#symbols = out;
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

/**
 * The names a manifest gives that this kernel lacks: tracepoint, raw_tp and tp_btf
 * targets; kprobe, kretprobe, fentry, fexit and lsm functions; iterators; and
 * `kernel.tracepoints`. Globs must match at least one name. User-space targets (uprobes,
 * USDT) and attach points (XDP, tc, cgroup) are not kernel names and are not checked.
 *
 * @example
 * ```ts
 * import { missingKernelTargets } from "./kernel_check.ts";
 * missingKernelTargets({ grants: { attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_exceve" }] } });
 * // [{ where: "grants.attach[0]", what: "tracepoint", name: "syscalls:sys_enter_exceve", suggestion: "syscalls:sys_enter_execve" }]
 * ```
 */
export function missingKernelTargets(bpf: KernelManifest): MissingTarget[] {
  const k = new KernelNames();
  const out: MissingTarget[] = [];
  const tracepoint = (where: string, name: string) => {
    const names = k.tracepoints();
    if (!matches(name, names)) {
      out.push({
        where,
        what: "tracepoint",
        name,
        suggestion: nearest(name, names),
      });
    }
  };
  const event = (where: string, name: string) => {
    // raw_tp and tp_btf take the event name without its category.
    const names = k.tracepoints().map((t) => t.slice(t.indexOf(":") + 1));
    if (!matches(name, names)) {
      out.push({
        where,
        what: "raw tracepoint",
        name,
        suggestion: nearest(name, names),
      });
    }
  };
  const symbol = (where: string, what: string, name: string, prefix = "") => {
    const syms = k.symbols();
    const names = prefix
      ? [...syms].filter((s) => s.startsWith(prefix)).map((s) =>
        s.slice(prefix.length)
      )
      : syms;
    if (!matches(name, names)) {
      out.push({
        where,
        what,
        name,
        suggestion: nearest(
          name,
          prefix ? names : [...syms].filter((s) => s[0] === name[0]),
        ),
      });
    }
  };
  (bpf.grants?.attach ?? []).forEach((a, i) => {
    const where = `grants.attach[${i}]`;
    if (!a.target) return;
    switch (a.kind) {
      case "tracepoint":
        return tracepoint(where, a.target);
      case "raw_tp":
      case "tp_btf":
        return event(where, a.target);
      case "kprobe":
      case "kretprobe":
      case "fentry":
      case "fexit":
        return symbol(where, "kernel function", a.target);
      case "lsm":
        return symbol(where, "LSM hook", a.target, "bpf_lsm_");
      case "iter":
        return symbol(where, "iterator", a.target, "bpf_iter_");
    }
  });
  (bpf.kernel?.tracepoints ?? []).forEach((t, i) =>
    tracepoint(`kernel.tracepoints[${i}]`, t)
  );
  return out;
}

/**
 * One line per missing name, with the nearest existing one when there is a close one.
 *
 * @example
 * ```ts
 * import { describeMissing } from "./kernel_check.ts";
 * describeMissing({ where: "grants.attach[0]", what: "tracepoint", name: "sched:sched_swtich", suggestion: "sched:sched_switch" });
 * // "grants.attach[0]: tracepoint sched:sched_swtich does not exist on this kernel (did you mean sched:sched_switch?)"
 * ```
 */
export function describeMissing(m: MissingTarget): string {
  return `${m.where}: ${m.what} ${m.name} does not exist on this kernel${
    m.suggestion ? ` (did you mean ${m.suggestion}?)` : ""
  }`;
}

function versionNumber(v: string): number {
  const [maj, min] = v.split(".").map((x) => parseInt(x, 10));
  return (maj || 0) * 1000 + (min || 0);
}

/**
 * What the running kernel lacks of a package's `kernel` requirements (`minVersion`,
 * `btf`, `tracepoints`), one line each with the fix; empty when it runs here.
 *
 * @example
 * ```ts
 * import { unmetKernelRequirements } from "./kernel_check.ts";
 * unmetKernelRequirements({ kernel: { minVersion: "99.0" } }, "tcplife@1.0.0");
 * // ["tcplife@1.0.0 needs Linux 99.0 or newer; this kernel is 6.18…: run it on a newer kernel"]
 * ```
 */
export function unmetKernelRequirements(
  bpf: KernelManifest,
  spec: string,
  release: string = Deno.osRelease(),
): string[] {
  const out: string[] = [];
  const min = bpf.kernel?.minVersion;
  if (min && versionNumber(release) < versionNumber(min)) {
    out.push(
      `${spec} needs Linux ${min} or newer; this kernel is ${release}: run it on a newer kernel`,
    );
  }
  if (bpf.kernel?.btf && !existsSync("/sys/kernel/btf/vmlinux")) {
    out.push(
      `${spec} needs kernel BTF (/sys/kernel/btf/vmlinux), which this kernel lacks: use a kernel built with CONFIG_DEBUG_INFO_BTF=y`,
    );
  }
  // One stat per required tracepoint (not a walk of tracefs): this runs before every run.
  const events = TRACEFS.map((d) => `${d}/events`).find((d) => existsSync(d));
  const missing = events
    ? (bpf.kernel?.tracepoints ?? []).filter((t) =>
      !existsSync(`${events}/${t.replace(":", "/")}`)
    )
    : [];
  if (missing.length) {
    out.push(
      `${spec} needs the tracepoint${missing.length > 1 ? "s" : ""} ${
        missing.join(", ")
      }, which this kernel lacks: run it on a kernel that has ${
        missing.length > 1 ? "them" : "it"
      }`,
    );
  }
  return out;
}

/**
 * {@linkcode unmetKernelRequirements} of the package in `dir` (its package.json's `bpf`);
 * empty when it has none or runs here.
 *
 * @example
 * ```ts
 * import { packageKernelProblems } from "./kernel_check.ts";
 * for (const line of packageKernelProblems("bpf_modules/tcplife")) console.error(line);
 * ```
 */
export function packageKernelProblems(dir: string): string[] {
  let pj: { name?: string; version?: string; bpf?: KernelManifest };
  try {
    pj = JSON.parse(readFileSync(`${dir}/package.json`, "utf8"));
  } catch {
    return [];
  }
  return pj.bpf
    ? unmetKernelRequirements(pj.bpf, `${pj.name}@${pj.version}`)
    : [];
}
