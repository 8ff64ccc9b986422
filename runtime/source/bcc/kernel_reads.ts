/**
 * Kernel memory reads: BCC lets C dereference kernel pointers (`task->real_parent->tgid`) and
 * rewrites them into bpf_probe_read; here they become CO-RE reads. A chain `p->a->b` rooted at
 * a variable (or a `((struct X *)expr)` cast) whose declared type is a pointer to a kernel
 * struct becomes `BPF_CORE_READ(p, a, b)` (`BPF_CORE_READ_USER` for a syscall's pointer
 * arguments), and an array at the end of a chain stays an address (so `task->comm` can be
 * passed to bpf_probe_read_kernel_str). Not rewritten: writes (`p->x = ...`, `p->x++`), calls
 * through function pointers, chains in sizeof/typeof/offsetof, `*p`, bitfields, and every
 * pointer of BTF-typed programs (fentry, fexit, LSM, tp_btf, iter), where direct access works.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import {
  type Edit,
  functions,
  matching,
  textOf,
  type Token,
  tokenize,
} from "./_lex.ts";
import { bccState, NAMING_MACROS } from "./_state.ts";
import { SHADOW_FLAVOR } from "./shadowed_types.ts";

/**
 * Structs that are program contexts or bpfpm's own: never rewritten. (`struct pt_regs *` is
 * a context only as a function's first parameter; elsewhere, as the registers a syscall
 * wrapper was given, it is kernel memory.)
 */
const CONTEXT_STRUCTS = new Set([
  "__sk_buff",
  "xdp_md",
  "bpf_perf_event_data",
  "bpf_raw_tracepoint_args",
  "bpf_sock_ops",
  "bpf_sock",
  "bpf_sock_addr",
  "sk_msg_md",
  "sk_reuseport_md",
  "bpf_sysctl",
  "bpf_cgroup_dev_ctx",
  "bpf_sockopt",
  "bpf_stacktrace",
]);

const NO_REWRITE_INSIDE =
  /^(sizeof|typeof|__typeof__|__typeof|offsetof|__builtin_offsetof|__builtin_preserve_access_index|__bcc_is_array|BPF_CORE_READ\w*|bpf_core_\w+|_Alignof|__alignof__)$/;

const WRITE_OPS = new Set([
  "=",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "<<=",
  ">>=",
  "++",
  "--",
]);

interface Pointer {
  user: boolean;
  /** A pointer to the program's own struct: read without CO-RE (the kernel has no such type). */
  plain?: boolean;
}

/** The pass turning kernel pointer dereferences into CO-RE reads. */
export const bccKernelReads: RewritePass = {
  name: "BCC kernel memory reads",
  run(ctx) {
    const state = bccState(ctx);
    if (state.hasSec && !state.bcc) return;
    const text = ctx.text;
    const tokens = tokenize(text);
    const userStructs = new Set<string>();
    for (let i = 0; i + 2 < tokens.length; i++) {
      if (
        (tokens[i].t === "struct" || tokens[i].t === "union") &&
        tokens[i + 1].k === "id" && tokens[i + 2].t === "{"
      ) userStructs.add(tokens[i + 1].t);
    }
    // A program's own copy of a kernel struct (renamed by shadowed_types.ts) is kernel memory.
    const isKernel = (s: string | undefined): s is string =>
      !!s && (!userStructs.has(s) || s.endsWith(SHADOW_FLAVOR)) &&
      !CONTEXT_STRUCTS.has(s) &&
      !s.startsWith("tracepoint__") && !s.startsWith("trace_event_raw_");
    const edits: Edit[] = [];
    for (const f of functions(text, tokens)) {
      let name = f.name;
      if (NAMING_MACROS.has(name)) name = tokens[f.open + 1]?.t ?? name;
      if (state.readModes.get(name) === "btf") continue;
      const isProgram = !!f.section || name === "TRACEPOINT_PROBE";
      const user = state.userPointerFunctions.has(name);
      const vars = new Map<string, Pointer>();
      f.params.forEach((p, i) => {
        if (i === 0 && (isProgram || p.struct === "pt_regs")) return;
        if (isKernel(p.struct) && p.name) vars.set(p.name, { user });
      });
      for (const [n, v] of locals(tokens, f.bodyOpen, f.bodyClose, isKernel)) {
        vars.set(n, v);
      }
      for (
        const [n, v] of derivedLocals(
          tokens,
          f.bodyOpen,
          f.bodyClose,
          vars,
          isKernel,
        )
      ) {
        vars.set(n, v);
      }
      chains(text, tokens, f.bodyOpen, f.bodyClose, vars, isKernel, edits);
    }
    if (edits.length) ctx.edit(edits);
  },
};

/** `struct X *name` declarations in a body (single pointers to kernel structs). */
function locals(
  tokens: Token[],
  from: number,
  to: number,
  isKernel: (s: string | undefined) => boolean,
): Map<string, Pointer> {
  const out = new Map<string, Pointer>();
  for (let i = from; i < to; i++) {
    if (tokens[i].t !== "struct" || tokens[i + 1]?.k !== "id") continue;
    const struct = tokens[i + 1].t;
    if (tokens[i - 1]?.t === "(" && !isDeclStart(tokens, i - 1)) continue;
    let j = i + 2;
    for (;;) {
      let stars = 0;
      while (tokens[j]?.t === "*" || tokens[j]?.t === "const") {
        if (tokens[j].t === "*") stars++;
        j++;
      }
      if (tokens[j]?.k !== "id") break;
      const name = tokens[j].t;
      if (stars === 1 && isKernel(struct)) out.set(name, { user: false });
      j++;
      // Skip an initializer up to the next declarator or the end of the declaration.
      let depth = 0;
      while (j < to) {
        const t = tokens[j].t;
        if (t === "(" || t === "[" || t === "{") depth++;
        else if (t === ")" || t === "]" || t === "}") {
          if (depth === 0) break;
          depth--;
        } else if ((t === "," || t === ";") && depth === 0) break;
        j++;
      }
      if (tokens[j]?.t !== ",") break;
      j++;
    }
  }
  return out;
}

/**
 * Pointers declared as other types (`u8 *`, `char *`, the program's own
 * `struct cfs_rq_partial *`) that are given a value read from kernel memory through a pointer
 * already known, where declared or later (`unsigned char *head = skb->head;`,
 * `my_q = (struct cfs_rq_partial *)task->se.cfs_rq;`): they point into kernel memory too
 * (user memory when their source does). Only a read through a known pointer counts, not
 * `&sk` handed to a map lookup.
 */
function derivedLocals(
  tokens: Token[],
  from: number,
  to: number,
  vars: ReadonlyMap<string, Pointer>,
  isKernel: (s: string | undefined) => boolean,
): Map<string, Pointer> {
  // The pointer locals: `T *name` at a declaration's start (its type words back to `;{}`).
  const pointers = new Map<string, { struct?: string }>();
  for (let i = from; i < to; i++) {
    const name = tokens[i];
    const after = tokens[i + 1]?.t;
    if (
      name.k !== "id" || tokens[i - 1]?.t !== "*" ||
      (after !== "=" && after !== ";" && after !== ",") || vars.has(name.t)
    ) continue;
    let j = i - 1;
    while (tokens[j]?.t === "*") j--;
    if (tokens[j]?.k !== "id") continue;
    while (tokens[j]?.k === "id" && tokens[j].t !== "return") j--;
    const before = tokens[j]?.t;
    if (before !== ";" && before !== "{" && before !== "}") continue;
    const first = tokens[j + 1];
    const struct = first?.t === "struct" || first?.t === "union"
      ? tokens[j + 2]?.t
      : undefined;
    if (struct && isKernel(struct)) continue;
    pointers.set(name.t, { struct });
  }
  const out = new Map<string, Pointer>();
  if (!pointers.size) return out;
  // Their values: a declarator's initializer, or an assignment statement.
  for (let i = from; i < to; i++) {
    const name = tokens[i];
    const decl = name.k === "id" ? pointers.get(name.t) : undefined;
    if (!decl || tokens[i + 1]?.t !== "=" || out.has(name.t)) continue;
    const prev = tokens[i - 1]?.t;
    if (prev === "." || prev === "->") continue;
    let source: Pointer | undefined;
    for (let k = i + 2, depth = 0; k < to; k++) {
      const t = tokens[k].t;
      if (t === "(" || t === "[") depth++;
      else if (t === ")" || t === "]") depth--;
      else if ((t === ";" || t === ",") && depth <= 0) break;
      const v = tokens[k].k === "id" ? vars.get(t) : undefined;
      const through = tokens[k + 1]?.t === "->" || tokens[k + 1]?.t === "[";
      const member = tokens[k - 1]?.t === "." || tokens[k - 1]?.t === "->";
      if (v && through && !member) source ??= v;
    }
    if (source) {
      out.set(name.t, { user: source.user, plain: decl.struct !== undefined });
    }
  }
  return out;
}

/**
 * Wraps the read `[from, to]` (an element `p[i]`, `*p`, `((u8 *)p)[13]`, with any `.f` or
 * `[j]` after it) in a probe read, unless it is written, has its address taken or goes on
 * through `->` (returns the index after it, or 0 when it is left alone).
 */
function element(
  tokens: Token[],
  from: number,
  to: number,
  ptr: Pointer,
  edits: Edit[],
): number {
  const j = members(tokens, to + 1);
  if (j < 0) return 0;
  const next = tokens[j];
  const before = tokens[from - 1];
  if (
    next && (next.t === "->" || next.t === "(" || WRITE_OPS.has(next.t))
  ) return 0;
  if (before && (before.t === "&" || before.t === "++" || before.t === "--")) {
    return 0;
  }
  // `(*p)++`, `(p[i]) = v`: written through parentheses.
  if (before?.t === "(" && next?.t === ")" && WRITE_OPS.has(tokens[j + 1]?.t)) {
    return 0;
  }
  edits.push(
    {
      start: tokens[from].s,
      end: tokens[from].s,
      text: ptr.user ? "__bcc_uread(" : "__bcc_kread(",
    },
    { start: tokens[j - 1].e, end: tokens[j - 1].e, text: ")" },
  );
  return j;
}

/** The index after the `.f` and `[i]` suffixes from token `j` on (-1 if a bracket is open). */
function members(tokens: Token[], j: number): number {
  for (;;) {
    if (tokens[j]?.t === "." && tokens[j + 1]?.k === "id") j += 2;
    else if (tokens[j]?.t === "[") {
      const c = matching(tokens, j);
      if (c < 0) return -1;
      j = c + 1;
    } else return j;
  }
}

/** Whether token `i` starts an operand (so a `*` before it is a dereference). */
function unaryAt(tokens: Token[], i: number): boolean {
  const prev = tokens[i - 1];
  return !prev ||
    !(prev.k === "id" || prev.k === "num" || prev.k === "str" ||
      prev.k === "chr" || prev.t === ")" || prev.t === "]");
}

/** Whether `(` at `i` opens a for-loop header (where declarations may appear). */
function isDeclStart(tokens: Token[], i: number): boolean {
  return tokens[i - 1]?.t === "for";
}

function chains(
  text: string,
  tokens: Token[],
  from: number,
  to: number,
  vars: Map<string, Pointer>,
  isKernel: (s: string | undefined) => boolean,
  edits: Edit[],
): void {
  const skipStack: boolean[] = [];
  const skipping = () => skipStack.some((s) => s);
  for (let i = from; i < to; i++) {
    const t = tokens[i];
    if (t.t === "(" || t.t === "[") {
      const prev = tokens[i - 1];
      // A cast root: ((struct X *)expr)->...
      const close = matching(tokens, i);
      if (
        t.t === "(" && close > 0 && tokens[close + 1]?.t === "->" &&
        !skipping() &&
        tokens[i + 1]?.t === "("
      ) {
        const cast = textOf(text, tokens, i + 1, close);
        const m = /^\(\s*(?:const\s+)?struct\s+(\w+)\s*\*\s*\)/.exec(cast);
        if (m && isKernel(m[1])) {
          const end = chain(text, tokens, i, close, { user: false }, edits);
          if (end > 0) {
            i = end - 1;
            continue;
          }
        }
      }
      // A subscripted cast of a kernel pointer: ((u_int8_t *)tcp)[13].
      if (
        t.t === "(" && close > 0 && tokens[close + 1]?.t === "[" &&
        !skipping() && tokens[i + 1]?.t === "("
      ) {
        const castEnd = matching(tokens, i + 1);
        const root = tokens[castEnd + 1];
        const v = root?.k === "id" ? vars.get(root.t) : undefined;
        if (
          v && castEnd + 2 === close &&
          /\*\s*$/.test(textOf(text, tokens, i + 2, castEnd))
        ) {
          const end = element(tokens, i, matching(tokens, close + 1), v, edits);
          if (end > 0) {
            i = end - 1;
            continue;
          }
        }
      }
      skipStack.push(prev?.k === "id" && NO_REWRITE_INSIDE.test(prev.t));
      continue;
    }
    // `*p` of a kernel pointer.
    if (t.t === "*" && !skipping() && unaryAt(tokens, i)) {
      const v = tokens[i + 1]?.k === "id"
        ? vars.get(tokens[i + 1].t)
        : undefined;
      if (v) {
        const end = element(tokens, i, i + 1, v, edits);
        if (end > 0) {
          i = end - 1;
          continue;
        }
      }
    }
    if (t.t === ")" || t.t === "]") {
      skipStack.pop();
      continue;
    }
    if (t.k !== "id" || skipping()) continue;
    const v = vars.get(t.t);
    const prev = tokens[i - 1];
    if (!v || (prev && (prev.t === "." || prev.t === "->"))) continue;
    // `p[i]` of a kernel pointer.
    if (tokens[i + 1]?.t === "[") {
      const end = element(tokens, i, matching(tokens, i + 1), v, edits);
      if (end > 0) i = end - 1;
      continue;
    }
    if (tokens[i + 1]?.t !== "->") continue;
    const end = chain(text, tokens, i, i, v, edits);
    if (end > 0) i = end - 1;
  }
}

/**
 * Rewrites the chain whose root spans tokens `[rootFrom, rootTo]`; returns the index after
 * the chain, or 0 when it is left alone.
 */
function chain(
  text: string,
  tokens: Token[],
  rootFrom: number,
  rootTo: number,
  ptr: Pointer,
  edits: Edit[],
): number {
  const segs: string[] = [];
  let j = rootTo + 1;
  while (tokens[j]?.t === "->" && tokens[j + 1]?.k === "id") {
    const segFrom = j + 1;
    j = members(tokens, j + 2);
    if (j < 0) return 0;
    segs.push(textOf(text, tokens, segFrom, j).replace(/\s+/g, ""));
  }
  if (!segs.length) return 0;
  const next = tokens[j];
  const before = tokens[rootFrom - 1];
  if (next && (next.t === "(" || WRITE_OPS.has(next.t))) return j;
  if (before && (before.t === "++" || before.t === "--")) return j;
  const root = textOf(text, tokens, rootFrom, rootTo + 1);
  const read = ptr.plain
    ? (ptr.user ? "BPF_PROBE_READ_USER" : "BPF_PROBE_READ")
    : (ptr.user ? "BPF_CORE_READ_USER" : "BPF_CORE_READ");
  const last = segs[segs.length - 1];
  const head = segs.slice(0, -1);
  const address = head.length
    ? `(${read}(${root}, ${head.join(", ")}))->${last}`
    : `${root}->${last}`;
  const start = tokens[rootFrom].s;
  const end = tokens[j - 1].e;
  if (before?.t === "&") {
    if (!head.length) return j;
    edits.push({ start, end, text: address });
  } else {
    // `orig` stays where the user wrote it (as the array test's operand), so a diagnostic
    // about one of its members keeps the user's column.
    edits.push(
      { start, end: start, text: "__builtin_choose_expr(__bcc_is_array(" },
      {
        start: end,
        end,
        text: `), ${address}, ${read}(${root}, ${segs.join(", ")}))`,
      },
    );
  }
  return j;
}
