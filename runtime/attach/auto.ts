/**
 * Auto-attach: a table from ELF section prefix to the attach call for it. `BPF.load` checks
 * every program's target before loading (so a missing tracepoint loads nothing) and attaches
 * after. Other attach kinds add rules to `autoAttachRules`.
 *
 * @module
 */
import { parseTracepointName, requireTracepoint } from "../trace/tracefs.ts";
import type { Program } from "../program.ts";
import { attachRawTracepoint } from "./raw_tracepoint.ts";
import { attachTracepoint } from "./tracepoint.ts";
import { attachTpBtf } from "./tp_btf.ts";

/** Anything `close()`-able that an attach returns. */
export interface Detachable extends Disposable {
  /** True until `close()`. */
  readonly attached: boolean;
  /** Detaches; idempotent. */
  close(): void;
}

/** How programs of one section prefix attach. */
export interface AutoAttachRule {
  /** Section prefixes, each ending in `/`, e.g. `["tracepoint/", "tp/"]`. */
  prefixes: string[];
  /** Throws if `target` (the section after the prefix) cannot exist; runs before load. */
  check?(target: string): void;
  /** Attaches a loaded program to `target`. */
  attach(program: Program, target: string): Detachable;
}

function tracepointTarget(target: string): string {
  return parseTracepointName(target).join(":");
}

/** The rules, tried in order; the first whose prefix matches a section applies. */
export const autoAttachRules: AutoAttachRule[] = [
  {
    prefixes: ["tracepoint/", "tp/"],
    check: (target) => requireTracepoint(...parseTracepointName(target)),
    attach: (program, target) =>
      attachTracepoint(program, tracepointTarget(target)),
  },
  {
    prefixes: ["raw_tracepoint/", "raw_tp/"],
    attach: (program, target) => attachRawTracepoint(program, target),
  },
  {
    prefixes: ["tp_btf/"],
    attach: (program) => attachTpBtf(program),
  },
];

/** The rule for a section and the target after its prefix, if any rule matches. */
export function autoAttachRule(
  section: string,
): { rule: AutoAttachRule; target: string } | undefined {
  for (const rule of autoAttachRules) {
    for (const prefix of rule.prefixes) {
      if (section.startsWith(prefix) && section.length > prefix.length) {
        return { rule, target: section.slice(prefix.length) };
      }
    }
  }
  return undefined;
}
