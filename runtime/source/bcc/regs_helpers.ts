/**
 * Registers read through a `struct pt_regs *` in BCC's probe functions and in the static
 * helpers they hand `ctx` to (mountsnoop's `__do_ret_sys(ctx, ...)` reading
 * `PT_REGS_RC(ctx)`). A probe function's body reads the arguments and the return value as
 * hidden parameters its wrappers fill (from registers, or from a syscall tracepoint's record
 * on a kernel without kprobes); a helper that reads registers gets the same hidden parameters,
 * and each call passes them on (or, from a function without them, reads them from the
 * `struct pt_regs *` it passes).
 *
 * @module
 */
import {
  type Edit,
  type FunctionDef,
  matching,
  splitArgs,
  textOf,
  type Token,
} from "./_lex.ts";

/** The hidden parameters: the six arguments and the return value. */
export const HIDDEN_PARAMS =
  [1, 2, 3, 4, 5, 6].map((n) => `unsigned long __bcc_arg${n}`).join(", ") +
  ", long __bcc_rc";

const HIDDEN_ARGS = [1, 2, 3, 4, 5, 6].map((n) => `__bcc_arg${n}`).join(", ") +
  ", __bcc_rc";

/** What registers a function reads: argument numbers and whether the return value. */
export interface RegsUse {
  used: Set<number>;
  rc: boolean;
}

/** A static helper reading registers through its `struct pt_regs *` parameter. */
export interface RegsHelper extends RegsUse {
  /** The index of that parameter. */
  param: number;
}

/**
 * `PT_REGS_PARMn(p)` and `PT_REGS_RC(p)` (and their `_CORE` forms) in a body: what they read,
 * and the edits making them the hidden parameters.
 */
export function regsReads(
  tokens: Token[],
  f: FunctionDef,
  regs: string,
): RegsUse & { edits: Edit[] } {
  const used = new Set<number>();
  let rc = false;
  const edits: Edit[] = [];
  for (let i = f.bodyOpen; i < f.bodyClose; i++) {
    const t = tokens[i];
    const m = /^PT_REGS_(?:PARM([1-6])|RC)(?:_CORE)?$/.exec(t.t);
    if (
      t.k !== "id" || !m || tokens[i + 1]?.t !== "(" ||
      tokens[i + 2]?.t !== regs || tokens[i + 3]?.t !== ")"
    ) continue;
    if (m[1]) used.add(Number(m[1]));
    else rc = true;
    edits.push({
      start: t.s,
      end: tokens[i + 3].e,
      text: m[1] ? `__bcc_arg${m[1]}` : "__bcc_rc",
    });
    i += 3;
  }
  return { used, rc, edits };
}

/** The calls in `f`'s body to `helpers`: token index of the name and of the closing `)`. */
function calls(
  tokens: Token[],
  f: FunctionDef,
  helpers: ReadonlyMap<string, RegsHelper>,
): { helper: RegsHelper; open: number; close: number }[] {
  const out = [];
  for (let i = f.bodyOpen; i < f.bodyClose; i++) {
    const t = tokens[i];
    const helper = t.k === "id" && tokens[i + 1]?.t === "("
      ? helpers.get(t.t)
      : undefined;
    const prev = tokens[i - 1]?.t;
    if (!helper || prev === "." || prev === "->") continue;
    const close = matching(tokens, i + 1);
    if (close > 0) out.push({ helper, open: i + 1, close });
  }
  return out;
}

/** The static helpers that read registers through a `struct pt_regs *` parameter, directly or through another. */
export function regsHelpers(
  tokens: Token[],
  fns: readonly FunctionDef[],
): Map<string, RegsHelper> {
  const helpers = new Map<string, RegsHelper>();
  const candidates = fns.flatMap((f) => {
    const param = f.isStatic
      ? f.params.findIndex((p) => p.struct === "pt_regs" && p.name)
      : -1;
    return param < 0 ? [] : [{ f, param }];
  });
  for (const { f, param } of candidates) {
    const { used, rc } = regsReads(tokens, f, f.params[param].name);
    if (used.size || rc) helpers.set(f.name, { param, used, rc });
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const { f, param } of candidates) {
      for (const { helper } of calls(tokens, f, helpers)) {
        let h = helpers.get(f.name);
        if (!h) {
          h = { param, used: new Set(), rc: false };
          helpers.set(f.name, h);
          changed = true;
        }
        for (const n of helper.used) {
          if (!h.used.has(n)) (h.used.add(n), changed = true);
        }
        if (helper.rc && !h.rc) (h.rc = true, changed = true);
      }
    }
  }
  return helpers;
}

/**
 * The edits of the calls in `f` to register-reading helpers, and what those read: with
 * `hidden`, `f` has the hidden parameters and passes them on; without, each call reads what
 * its helper needs from the `struct pt_regs *` it passes.
 */
export function helperCalls(
  text: string,
  tokens: Token[],
  f: FunctionDef,
  helpers: ReadonlyMap<string, RegsHelper>,
  hidden: boolean,
): RegsUse & { edits: Edit[] } {
  const used = new Set<number>();
  let rc = false;
  const edits: Edit[] = [];
  for (const { helper, open, close } of calls(tokens, f, helpers)) {
    helper.used.forEach((n) => used.add(n));
    rc ||= helper.rc;
    let passed = HIDDEN_ARGS;
    if (!hidden) {
      const at = splitArgs(tokens, open, close)[helper.param];
      const regs = at
        ? `(struct pt_regs *)(${textOf(text, tokens, at[0], at[1])})`
        : "0";
      passed = [1, 2, 3, 4, 5, 6].map((n) =>
        !helper.used.has(n)
          ? "0"
          : n === 6
          ? `(${regs})->r9`
          : `PT_REGS_PARM${n}(${regs})`
      ).join(", ") + `, ${helper.rc ? `PT_REGS_RC(${regs})` : "0"}`;
    }
    edits.push({
      start: tokens[close].s,
      end: tokens[close].s,
      text: `, ${passed}`,
    });
  }
  return { used, rc, edits };
}
