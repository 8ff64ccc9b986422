/**
 * Auto-attach: the function for each `autoAttach` name of the section definitions
 * (runtime/spec/section_kinds.ts, which says which sections auto-attach and how). `BPF.load`
 * checks every program's target before loading (so a missing tracepoint loads nothing) and
 * attaches after.
 *
 * @module
 */
import { parseTracepointName, requireTracepoint } from "../trace/tracefs.ts";
import type { Program } from "../program.ts";
import { type AutoAttachName, sectionDef } from "../spec/section_kinds.ts";
import { attachRawTracepoint } from "./raw_tracepoint.ts";
import { attachTracepoint } from "./tracepoint.ts";
import { AttachError, Errno } from "../errors.ts";
import { features } from "../features.ts";
import { attachFentry, attachFexit } from "./fentry.ts";
import {
  attachKprobe,
  attachKretprobe,
  haveKprobes,
  syscallName,
} from "./kprobe.ts";
import { attachLsm } from "./lsm.ts";
import { attachUprobe, attachUretprobe } from "./uprobe.ts";
import {
  attachKprobeMulti,
  attachUprobeMulti,
  type MultiMode,
  type UprobeMultiOptions,
} from "./multi.ts";
import { attachUsdt } from "./usdt.ts";

/** `func+off` → [func, off]. */
function splitOffset(target: string): [string, number] {
  const m = /^(.*)\+(0x[0-9a-f]+|\d+)$/i.exec(target);
  return m ? [m[1], Number(m[2])] : [target, 0];
}

/** `binary:symbol[+off]` (the binary may hold colons only before its last one). */
function splitUprobe(target: string): { binary: string; symbol: string } {
  const at = target.lastIndexOf(":");
  if (at <= 0 || at === target.length - 1) {
    throw new RangeError(
      `Section target ${target} is not binary:function (e.g. uprobe//bin/bash:readline)`,
    );
  }
  return { binary: target.slice(0, at), symbol: target.slice(at + 1) };
}

/** `binary:pattern` of a uprobe.multi section as its attach options. */
function multiUprobe(target: string, mode: MultiMode): UprobeMultiOptions {
  const { binary, symbol } = splitUprobe(target);
  return { binary, symbols: symbol, mode };
}

const SYSCALL_PREFIX: Record<string, string> = {
  x86_64: "__x64_sys_",
  aarch64: "__arm64_sys_",
};

/** `program 'name' as ` when the program is known, for refusals made before load. */
function whose(program: string | undefined): string {
  return program ? `program '${program}' as ` : "";
}

/** Refuses before load what this kernel cannot attach (fentry where ftrace is denied, ...). */
function requireKind(
  kind: "fentry" | "fexit" | "lsm",
  target: string,
  program?: string,
): void {
  const support = features().attach[kind];
  if (!support.supported) {
    throw new AttachError(
      `Cannot attach ${whose(program)}${kind} ${target}: ${support.reason}`,
      {
        program: program ?? "",
        target: `${kind} ${target}`,
        errno: Errno.EOPNOTSUPP,
      },
    );
  }
}
/**
 * Refuses before load a kprobe on a kernel without kprobes, unless a syscall can fall back
 * (a session cannot: its return half has no tracepoint program to run).
 */
function requireKprobe(
  kind: "kprobe" | "kretprobe",
  func: string,
  program?: string,
  session = false,
): void {
  if ((!session && syscallName(func) !== undefined) || haveKprobes()) return;
  throw new AttachError(
    `Cannot attach ${whose(program)}${kind} ${func}: ${
      features().attach[kind].reason
    }; use a tracepoint instead`,
    {
      program: program ?? "",
      target: `${kind} ${func}`,
      errno: Errno.EOPNOTSUPP,
    },
  );
}

/**
 * Anything `close()`-able that an attach returns.
 *
 * @example List what an object attached
 * ```ts
 * import { BPF, type Detachable } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c" });
 * const links: readonly Detachable[] = b.links;
 * for (const l of links) console.log(l.kind, l.target, l.program, l.attached);
 * ```
 */
export interface Detachable extends Disposable {
  /** The attach kind, e.g. `tracepoint`, `uprobe`. */
  readonly kind: string;
  /** What the program is attached to. */
  readonly target: string;
  /** The attached program's name. */
  readonly program: string;
  /** True until `close()`. */
  readonly attached: boolean;
  /** Detaches; idempotent. */
  close(): void;
}

/** How the programs of one `autoAttach` name attach. */
export interface AutoAttachRule {
  /**
   * Throws if `target` (the section after the prefix) cannot exist; runs before load.
   * `program` is the program's name, for the error.
   */
  check?(target: string, program?: string): void;
  /** Loads what `attach` needs; awaited (after load) before `attach` is called. */
  prepare?(): Promise<void>;
  /**
   * Attaches a loaded program to `target`. A rule whose target names many places (a glob)
   * calls `check` with the kind and each place it resolved, before attaching: the grants
   * check of places the section name does not spell out.
   */
  attach(
    program: Program,
    target: string,
    check?: (kind: string, target: string) => void,
  ): Detachable;
}

/**
 * tp_btf programs attach only here (BPF has no method for them), so a start whose object has
 * none does not load their module.
 */
let tpBtf: typeof import("./tp_btf.ts") | undefined;

function tracepointTarget(target: string): string {
  return parseTracepointName(target).join(":");
}

const syscallFunction = (name: string) =>
  `${SYSCALL_PREFIX[Deno.build.arch] ?? "sys_"}${name}`;

/** The attach function of each auto-attach name. */
const RULES: Record<AutoAttachName, AutoAttachRule> = {
  tracepoint: {
    check: (target) => requireTracepoint(...parseTracepointName(target)),
    attach: (program, target) =>
      attachTracepoint(program, tracepointTarget(target)),
  },
  raw_tp: {
    attach: (program, target) => attachRawTracepoint(program, target),
  },
  tp_btf: {
    prepare: async () => {
      tpBtf ??= await import("./tp_btf.ts");
    },
    attach: (program) => tpBtf!.attachTpBtf(program),
  },
  kprobe: {
    check: (target, program) =>
      requireKprobe("kprobe", splitOffset(target)[0], program),
    attach: (program, target) => {
      const [func, offset] = splitOffset(target);
      return attachKprobe(program, func, { offset });
    },
  },
  kretprobe: {
    check: (target, program) => requireKprobe("kretprobe", target, program),
    attach: (program, target) => attachKretprobe(program, target),
  },
  ksyscall: {
    attach: (program, target) => attachKprobe(program, syscallFunction(target)),
  },
  kretsyscall: {
    attach: (program, target) =>
      attachKretprobe(program, syscallFunction(target)),
  },
  uprobe: {
    check: (target) => void splitUprobe(target),
    attach: (program, target) => attachUprobe(program, splitUprobe(target)),
  },
  uretprobe: {
    check: (target) => void splitUprobe(target),
    attach: (program, target) => attachUretprobe(program, splitUprobe(target)),
  },
  usdt: {
    attach: (program, target) => {
      const parts = target.split(":");
      if (parts.length < 3) {
        throw new RangeError(
          `Section target ${target} is not binary:provider:name (e.g. usdt/libc:libc:setjmp)`,
        );
      }
      const name = parts.pop()!;
      const provider = parts.pop()!;
      return attachUsdt(program, { binary: parts.join(":"), provider, name });
    },
  },
  kprobe_multi: {
    check: (target, program) => requireKprobe("kprobe", target, program),
    attach: (program, symbols, check) =>
      attachKprobeMulti(program, { symbols }, check),
  },
  kretprobe_multi: {
    check: (target, program) => requireKprobe("kretprobe", target, program),
    attach: (program, symbols, check) =>
      attachKprobeMulti(program, { symbols, mode: "return" }, check),
  },
  kprobe_session: {
    check: (target, program) => requireKprobe("kprobe", target, program, true),
    attach: (program, symbols, check) =>
      attachKprobeMulti(program, { symbols, mode: "session" }, check),
  },
  uprobe_multi: {
    check: (target) => void splitUprobe(target),
    attach: (program, target, check) =>
      attachUprobeMulti(program, multiUprobe(target, "entry"), check),
  },
  uretprobe_multi: {
    check: (target) => void splitUprobe(target),
    attach: (program, target, check) =>
      attachUprobeMulti(program, multiUprobe(target, "return"), check),
  },
  uprobe_session: {
    check: (target) => void splitUprobe(target),
    attach: (program, target, check) =>
      attachUprobeMulti(program, multiUprobe(target, "session"), check),
  },
  fentry: {
    check: (target, program) => requireKind("fentry", target, program),
    attach: (program) => attachFentry(program),
  },
  fexit: {
    check: (target, program) => requireKind("fexit", target, program),
    attach: (program) => attachFexit(program),
  },
  lsm: {
    check: (target, program) => requireKind("lsm", target, program),
    attach: (program) => attachLsm(program),
  },
};

/**
 * How a program of this section auto-attaches, and the target after the section's prefix:
 * `undefined` for a section that does not auto-attach, or names no target.
 *
 * @param section the program's ELF section, e.g. `uprobe.s//bin/bash:readline`
 * @returns the rule and the target
 */
export function autoAttachRule(
  section: string,
): { rule: AutoAttachRule; target: string } | undefined {
  // libbpf's `?`: not loaded with the object, so not attached with it either.
  if (section.startsWith("?")) return undefined;
  const found = sectionDef(section);
  const name = found?.def.autoAttach;
  if (!name || !found.rest) return undefined;
  return { rule: RULES[name], target: found.rest };
}
