/**
 * BCC's probe forms: `RAW_TRACEPOINT_PROBE`, `KFUNC_PROBE`/`KRETFUNC_PROBE`, `LSM_PROBE`, the
 * function-name prefixes (`kprobe__`, `kretprobe__`, `syscall__`, `tracepoint__cat__ev`,
 * `raw_tracepoint__`, `kfunc__`, `kretfunc__`, `lsm__`) and BCC functions whose context type
 * says what they are (`struct pt_regs *` or `void *` → kprobe, `struct xdp_md *` → XDP, ...), each given
 * its `SEC(...)`. A kprobe function's arguments after `ctx` are read from `PT_REGS_PARMn`
 * through a generated wrapper. Without kprobes in the kernel, a syscall kprobe becomes a
 * program on the syscall's tracepoint with the same name, its arguments taken from the
 * tracepoint's `args[]` and `PT_REGS_RC(ctx)` from its `ret`.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { formatToStruct, tracepointStructName } from "../tracepoint_format.ts";
import { readTracepointFormat } from "../../trace/tracefs.ts";
import { kernelPathExists } from "../../_kernel_files.ts";
import { BccRewriteError } from "../../errors.ts";
import { LATE_SECTIONS, syscallTwinName } from "../../spec/section_kinds.ts";
import {
  type Edit,
  type FunctionDef,
  functions,
  lineCol,
  type Param,
  splitArgs,
  textOf,
  type Token,
  tokenize,
} from "./_lex.ts";
import { type BccState, bccState, NAMING_MACROS } from "./_state.ts";
import {
  helperCalls,
  HIDDEN_PARAMS,
  regsHelpers,
  regsReads,
} from "./regs_helpers.ts";

/** Sections of programs whose pointers are BTF-typed (direct kernel memory access works). */
const BTF_SECTIONS =
  /^(fentry|fexit|fmod_ret|lsm|lsm_cgroup|tp_btf|iter|iter\.s|struct_ops|fentry\.s|fexit\.s|lsm\.s)(\/|$)/;

/** The section of an unprefixed BCC function, by its context type. */
const CONTEXT_SECTIONS: Record<string, string> = {
  pt_regs: "kprobe",
  bpf_perf_event_data: "perf_event",
  xdp_md: "xdp",
  bpf_raw_tracepoint_args: "raw_tp",
  bpf_sock_ops: "sockops",
  bpf_sock: "cgroup/sock",
  sk_msg_md: "sk_msg",
  bpf_sysctl: "cgroup/sysctl",
  bpf_cgroup_dev_ctx: "cgroup/dev",
  bpf_sockopt: "cgroup/getsockopt",
};

const PREFIXES =
  /^(kprobe|kretprobe|syscall|tracepoint|raw_tracepoint|kfunc|kretfunc|lsm)__/;

const SYSCALL = /^(?:sys_|__x64_sys_|__ia32_sys_|__se_sys_|__arm64_sys_)(\w+)$/;

/** Whether the running kernel has kprobes (the kprobe PMU exists). */
export function kernelHasKprobes(): boolean {
  return kernelPathExists("/sys/bus/event_source/devices/kprobe");
}

function returnType(text: string, tokens: Token[], f: FunctionDef): string {
  const decl = textOf(text, tokens, f.declStart, f.nameIndex)
    .replace(/\bSEC\s*\(\s*"[^"]*"\s*\)/g, "")
    .replace(/__attribute__\s*\(\(.*?\)\)/g, "")
    .replace(/\b(static|inline|__always_inline|__inline|extern)\b/g, "")
    .trim();
  return decl || "int";
}

/** `(T)expr` for a parameter, refusing struct-by-value parameters. */
function castTo(p: Param, expr: string, fail: (why: string) => never): string {
  if (/^(?:const\s+)?(struct|union)\s+\w+$/.test(p.type)) {
    fail(
      `The parameter ${p.name} is a ${p.type} passed by value, which a register cannot hold: take a pointer`,
    );
  }
  return `(${p.type})${expr}`;
}

/** The pass over BCC's probe forms. */
export const bccProbes: RewritePass = {
  name: "BCC probe forms",
  run(ctx) {
    const state = bccState(ctx);
    const text = ctx.text;
    const tokens = tokenize(text);
    const edits: Edit[] = [];
    const fns = functions(text, tokens);
    if (!state.hasSec) state.regsHelpers = regsHelpers(tokens, fns);
    for (const f of fns) {
      const fail = (construct: string, why: string): never => {
        const { line, column } = lineCol(text, tokens[f.nameIndex].s);
        throw new BccRewriteError(why, { construct, line, column });
      };
      const args = splitArgs(tokens, f.open, f.close).map(([a, b]) =>
        textOf(text, tokens, a, b)
      );
      const head = { start: tokens[f.nameIndex].s, end: tokens[f.close].e };
      const macro = (section: string, name: string, form: string): void => {
        const params = args.slice(1);
        edits.push({
          ...head,
          text: `SEC("${section}") int BPF_PROG(${
            [name, ...params].join(", ")
          })`,
        });
        state.readModes.set(name, "btf");
        state.programs.push({ name, section, form });
        state.bcc = true;
      };
      switch (f.name) {
        case "TRACEPOINT_PROBE": {
          const name = tracepointStructName(args[0] ?? "", args[1] ?? "");
          state.readModes.set(name, "probe");
          state.programs.push({
            name,
            section: `tracepoint/${args[0]}/${args[1]}`,
            form: "TRACEPOINT_PROBE",
          });
          state.bcc = true;
          continue;
        }
        case "RAW_TRACEPOINT_PROBE": {
          if (args.length !== 1) {
            fail(
              "RAW_TRACEPOINT_PROBE",
              `RAW_TRACEPOINT_PROBE takes the tracepoint's name, e.g. RAW_TRACEPOINT_PROBE(sched_switch): got ${args.length} arguments`,
            );
          }
          const name = `raw_tracepoint__${args[0]}`;
          edits.push({
            ...head,
            text: `SEC("raw_tp/${
              args[0]
            }") int ${name}(struct bpf_raw_tracepoint_args *ctx)`,
          });
          state.readModes.set(name, "probe");
          state.programs.push({
            name,
            section: `raw_tp/${args[0]}`,
            form: "RAW_TRACEPOINT_PROBE",
          });
          state.bcc = true;
          continue;
        }
        case "KFUNC_PROBE":
          macro(`fentry/${args[0]}`, `kfunc__${args[0]}`, "KFUNC_PROBE");
          continue;
        case "KRETFUNC_PROBE":
          macro(`fexit/${args[0]}`, `kretfunc__${args[0]}`, "KRETFUNC_PROBE");
          continue;
        case "LSM_PROBE":
          macro(`lsm/${args[0]}`, `lsm__${args[0]}`, "LSM_PROBE");
          continue;
      }
      if (f.section) {
        // `SEC("tp_btf/x") int BPF_PROG(name, ...)`: the program is the macro's first argument.
        const name = NAMING_MACROS.has(f.name)
          ? tokens[f.open + 1]?.t ?? f.name
          : f.name;
        state.readModes.set(
          name,
          BTF_SECTIONS.test(f.section) ? "btf" : "probe",
        );
        continue;
      }
      state.readModes.set(f.name, "probe");
      if (f.isStatic) {
        // As in BCC, a static function is a helper, always inlined: so one taking a struct
        // by value compiles (the BPF backend cannot pass one to a real call).
        if (!state.hasSec) {
          const at = tokens[f.declStart].s;
          edits.push({
            start: at,
            end: at,
            text: "__attribute__((always_inline)) ",
          });
        }
        const helper = state.regsHelpers.get(f.name);
        if (helper) {
          // It reads registers: it gets them as hidden parameters, as its callers have them.
          const at = tokens[f.close].s;
          edits.push(
            { start: at, end: at, text: `, ${HIDDEN_PARAMS}` },
            ...regsReads(tokens, f, f.params[helper.param].name).edits,
            ...helperCalls(text, tokens, f, state.regsHelpers, true).edits,
          );
          state.hiddenRegs.add(f.name);
        }
        continue;
      }
      // libbpf-style sources keep their unsectioned functions as subprograms.
      if (state.hasSec && !state.bcc && !PREFIXES.test(f.name)) continue;
      const edit = prefixed(ctx, state, text, tokens, f, fail);
      if (edit) edits.push(...edit);
    }
    // Calls to register-reading helpers from functions without the hidden parameters read
    // the registers from the `struct pt_regs *` they pass.
    for (const f of fns) {
      if (state.hiddenRegs.has(f.name)) continue;
      edits.push(
        ...helperCalls(text, tokens, f, state.regsHelpers, false).edits,
      );
    }
    if (edits.length) ctx.edit(edits);
  },
};

type Fail = (construct: string, why: string) => never;

/** The edits for a non-static function without SEC: by name prefix, else by context type. */
function prefixed(
  ctx: Parameters<RewritePass["run"]>[0],
  state: BccState,
  text: string,
  tokens: Token[],
  f: FunctionDef,
  fail: Fail,
): Edit[] | undefined {
  const name = f.name;
  const first = f.params[0];
  const at = tokens[f.declStart].s;
  const insert = (section: string, form: string, mode: "probe" | "btf") => {
    state.readModes.set(name, mode);
    state.programs.push({ name, section, form });
    state.bcc = true;
    return [{ start: at, end: at, text: `SEC("${section}") ` }];
  };
  const btfProg = (section: string, form: string): Edit[] => {
    if (
      f.params.length === 1 &&
      /^(?:unsigned long long|u64|__u64)\s*\*$/.test(first.type)
    ) {
      return insert(section, form, "btf");
    }
    state.readModes.set(name, "btf");
    state.programs.push({ name, section, form });
    state.bcc = true;
    const params = f.params.map((p) =>
      `${p.type} ${p.name}`.replace(/\*\s+/g, "*")
    );
    return [{
      start: at,
      end: tokens[f.close].e,
      text: `SEC("${section}") ${returnType(text, tokens, f)} BPF_PROG(${
        [name, ...params].join(", ")
      })`,
    }];
  };
  let m: RegExpExecArray | null;
  if ((m = /^(kprobe|kretprobe|syscall)__(\w+)$/.exec(name))) {
    const ret = m[1] === "kretprobe";
    const target = m[2];
    const sys = m[1] === "syscall" ? target : SYSCALL.exec(target)?.[1];
    return kprobe(ctx, state, text, tokens, f, fail, {
      section: sys ? undefined : `${ret ? "kretprobe" : "kprobe"}/${target}`,
      syscall: sys,
      ret,
      form: `${m[1]}__`,
      explicit: m[1] === "syscall",
    });
  }
  if ((m = /^tracepoint__(\w+?)__(\w+)$/.exec(name))) {
    const [category, event] = [m[1], m[2]];
    const struct = tracepointStructName(category, event);
    if (first?.struct === struct) {
      ctx.declare(
        struct,
        () =>
          formatToStruct(
            category,
            event,
            readTracepointFormat(category, event),
          ),
      );
    }
    return insert(`tracepoint/${category}/${event}`, "tracepoint__", "probe");
  }
  if ((m = /^raw_tracepoint__(\w+)$/.exec(name))) {
    return insert(`raw_tp/${m[1]}`, "raw_tracepoint__", "probe");
  }
  if ((m = /^kfunc__(\w+)$/.exec(name))) {
    return btfProg(`fentry/${m[1]}`, "kfunc__");
  }
  if ((m = /^kretfunc__(\w+)$/.exec(name))) {
    return btfProg(`fexit/${m[1]}`, "kretfunc__");
  }
  if ((m = /^lsm__(\w+)$/.exec(name))) return btfProg(`lsm/${m[1]}`, "lsm__");
  // BCC's `int hello(void *ctx)`: typed when attached (attach_kprobe, attach_perf_event, ...,
  // as in BCC's hello_world), then loaded as that kind (runtime/late.ts).
  // So is one taking nothing (runqlen's `int do_perf_event()`).
  const untyped = f.params.length === 0
    ? "void"
    : f.params.length === 1 && /^void\s*\*$/.test(first?.type ?? "") &&
        first.name
    ? `void *${first.name}`
    : undefined;
  if (untyped) {
    // On a declaration before the code, so that the user's text stays as written.
    const R = returnType(text, tokens, f);
    state.programs.push({
      name,
      section: LATE_SECTION,
      form: untyped === "void" ? "()" : "void *ctx",
    });
    state.bcc = true;
    ctx.declare(
      `section:${name}`,
      () =>
        `${R} ${name}(${untyped}) __attribute__((section("${LATE_SECTION}"), used));`,
    );
    return [];
  }
  if (!first?.struct) return undefined;
  if (first.struct === "pt_regs") {
    const body = textOf(text, tokens, f.bodyOpen, f.bodyClose + 1);
    const section = /\bbpf_usdt_readarg/.test(body) ? "usdt" : "kprobe";
    return kprobe(ctx, state, text, tokens, f, fail, {
      section,
      ret: false,
      form: "pt_regs",
    });
  }
  if (first.struct === "__sk_buff") {
    const body = textOf(text, tokens, f.bodyOpen, f.bodyClose + 1);
    const tc =
      /\bTC_ACT_\w+|\bbpf_skb_(store_bytes|change_|vlan_|set_tunnel|adjust_room)|\bbpf_(clone_)?redirect\b/
        .test(body);
    return insert(tc ? "tc" : "socket", "__sk_buff", "probe");
  }
  const section = CONTEXT_SECTIONS[first.struct];
  return section
    ? insert(section, `struct ${first.struct} *`, "probe")
    : undefined;
}

/** The sections of programs typed at attach time, with libbpf's `?` (not loaded with the object). */
const LATE_SECTION = `?${LATE_SECTIONS.typed}`;
const SYS_ENTER_SECTION = `?${LATE_SECTIONS.sys_enter}`;
const SYS_EXIT_SECTION = `?${LATE_SECTIONS.sys_exit}`;

/** How a hidden-argument wrapper reads the six arguments and the return value. */
type Reader = { arg: (n: number) => string; rc: string; setup?: string };

/**
 * A kprobe-like function: a `SEC` alone when it takes only `ctx` (and a kprobe can attach),
 * else an inner function given the arguments and the return value as hidden parameters
 * (`PT_REGS_PARMn(ctx)` and `PT_REGS_RC(ctx)` in the body read them), called by one wrapper
 * per way to reach it: registers (kprobe, uprobe), a syscall tracepoint's record.
 */
function kprobe(
  _ctx: Parameters<RewritePass["run"]>[0],
  state: BccState,
  text: string,
  tokens: Token[],
  f: FunctionDef,
  fail: Fail,
  o: {
    section?: string;
    syscall?: string;
    ret: boolean;
    form: string;
    /** `syscall__X`: attached by the program (BCC does not auto-attach it). */
    explicit?: boolean;
  },
): Edit[] {
  const name = f.name;
  const ctxParam = f.params[0];
  const ctxName = ctxParam?.name || "ctx";
  const extra = f.params.slice(1);
  const R = returnType(text, tokens, f);
  const inner = `____${name}`;
  const bad = (why: string): never => fail(`${name}()`, why);
  const kprobes = state.options.kprobes ?? kernelHasKprobes();
  state.bcc = true;
  state.readModes.set(name, "probe");
  if (!o.syscall && (kprobes || o.section !== "kprobe")) {
    const section = o.section!;
    state.programs.push({ name, section, form: o.form });
    if (!extra.length) {
      const at = tokens[f.declStart].s;
      return [{ start: at, end: at, text: `SEC("${section}") ` }];
    }
    if (extra.length > 5) {
      bad(
        `${name} takes ${extra.length} arguments after ctx; a kprobe reads at most 5 from registers (PT_REGS_PARM1..5)`,
      );
    }
    state.readModes.set(inner, "probe");
    const params = [`struct pt_regs *${ctxName}`, ...extra.map(decl)].join(
      ", ",
    );
    const passed = [
      ctxName,
      ...extra.map((p, i) =>
        castTo(p, `PT_REGS_PARM${i + 1}(${ctxName})`, bad)
      ),
    ].join(", ");
    return [{
      start: tokens[f.declStart].s,
      end: tokens[f.close].e,
      text: `static __always_inline ${R} ${inner}(${params}); ` +
        `SEC("${section}") ${R} ${name}(struct pt_regs *${ctxName}) { return ${inner}(${passed}); } ` +
        `static __always_inline ${R} ${inner}(${params})`,
    }];
  }
  if (extra.length > 6) {
    bad(
      `${name} takes ${extra.length} arguments after ctx; a syscall has at most 6`,
    );
  }
  const params = [
    `struct pt_regs *${ctxName}`,
    ...extra.map(decl),
    HIDDEN_PARAMS,
  ].join(", ");
  state.readModes.set(inner, "probe");
  if (o.syscall) state.userPointerFunctions.add(inner);
  // PT_REGS_PARMn(ctx) and PT_REGS_RC(ctx) in the body read the hidden parameters; only
  // the arguments used (here or as parameters) are read, each once (a CO-RE read of a
  // syscall's registers takes stack, which a big event struct may need).
  const own = regsReads(tokens, f, ctxName);
  const passedOn = helperCalls(text, tokens, f, state.regsHelpers, true);
  state.hiddenRegs.add(name);
  const bodyEdits = [...own.edits, ...passedOn.edits];
  const used = new Set<number>([
    ...extra.map((_, i) => i + 1),
    ...own.used,
    ...passedOn.used,
  ]);
  const rcUsed = own.rc || passedOn.rc;
  const call = (ctxExpr: string, r: Reader) => {
    const reads = [...used].sort().map((n) =>
      `unsigned long __bcc_a${n} = ${r.arg(n)}; `
    ).join("");
    const arg = (n: number) => used.has(n) ? `__bcc_a${n}` : "0";
    return `${r.setup ?? ""}${reads}return ${inner}(${
      [
        ctxExpr,
        ...extra.map((p, i) => castTo(p, arg(i + 1), bad)),
        ...[1, 2, 3, 4, 5, 6].map(arg),
        rcUsed ? r.rc : "0",
      ].join(", ")
    });`;
  };
  // Registers of a syscall's wrapper (`__x64_sys_X(struct pt_regs *regs)`), or of the call.
  const syscallRegs: Reader = o.ret
    ? { arg: () => "0", rc: `PT_REGS_RC(${ctxName})` }
    : {
      setup:
        `struct pt_regs *__bcc_regs = (struct pt_regs *)PT_REGS_PARM1(${ctxName}); `,
      arg: (n) =>
        n === 6
          ? "BPF_CORE_READ(__bcc_regs, r9)"
          : `PT_REGS_PARM${n}_CORE_SYSCALL(__bcc_regs)`,
      rc: "0",
    };
  const callRegs: Reader = {
    arg: (n) => n === 6 ? `${ctxName}->r9` : `PT_REGS_PARM${n}(${ctxName})`,
    rc: `PT_REGS_RC(${ctxName})`,
  };
  const enter: Reader = { arg: (n) => `__bcc_tp->args[${n - 1}]`, rc: "0" };
  const exit: Reader = { arg: () => "0", rc: "__bcc_tp->ret" };
  const regsWrapper = (section: string, r: Reader) =>
    `SEC("${section}") ${R} ${name}(struct pt_regs *${ctxName}) { ${
      call(ctxName, r)
    } }`;
  const tpWrapper = (
    section: string,
    fn: string,
    record: "enter" | "exit",
    r: Reader,
  ) =>
    `SEC("${section}") ${R} ${fn}(struct trace_event_raw_sys_${record} *__bcc_tp) { ${
      call("(struct pt_regs *)__bcc_tp", r)
    } }`;
  let wrappers: string;
  if (o.syscall && !o.explicit) {
    // kprobe__sys_X / kretprobe__sys_X: auto-attached, to the syscall's tracepoint without kprobes.
    const sys = o.syscall;
    if (kprobes) {
      const section = `${o.ret ? "kretprobe" : "kprobe"}/__x64_sys_${sys}`;
      state.programs.push({ name, section, form: o.form });
      wrappers = regsWrapper(section, syscallRegs);
    } else {
      const event = `${o.ret ? "sys_exit" : "sys_enter"}_${sys}`;
      const section = `tracepoint/syscalls/${event}`;
      state.programs.push({
        name,
        section,
        form: o.form,
        fallback: `syscalls:${event}`,
      });
      wrappers = tpWrapper(
        section,
        name,
        o.ret ? "exit" : "enter",
        o.ret ? exit : enter,
      );
    }
  } else {
    // syscall__X and untyped pt_regs functions: attached by the program, as a kprobe (or
    // uprobe) from the registers; without kprobes, a syscall's kprobe loads a twin then.
    state.programs.push({ name, section: "kprobe", form: o.form });
    wrappers = regsWrapper("kprobe", o.syscall ? syscallRegs : callRegs);
    if (!kprobes) {
      wrappers += " " +
        tpWrapper(
          SYS_ENTER_SECTION,
          syscallTwinName(name, false),
          "enter",
          enter,
        ) +
        " " +
        tpWrapper(SYS_EXIT_SECTION, syscallTwinName(name, true), "exit", exit);
    }
  }
  const edits: Edit[] = [{
    start: tokens[f.declStart].s,
    end: tokens[f.close].e,
    text: `static __always_inline ${R} ${inner}(${params}); ${wrappers} ` +
      `static __always_inline ${R} ${inner}(${params})`,
  }];
  return [...edits, ...bodyEdits];
}

function decl(p: Param): string {
  return `${p.type} ${p.name}`;
}
