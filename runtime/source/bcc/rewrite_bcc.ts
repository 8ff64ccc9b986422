/**
 * `rewriteBcc`, which runs the whole rewrite (these passes and
 * the core's) with BCC options and returns what the BCC passes learned.
 *
 * @module
 */
import { passes, rewrite, type RewritePass } from "../rewrite.ts";
import { bccPasses } from "./passes.ts";
import {
  type BccMap,
  type BccOptions,
  type BccProgram,
  bccState,
} from "./_state.ts";

/** The result of `rewriteBcc`. */
export interface BccRewrite {
  /** libbpf C; its line N after the `#line 1` marker is the user's line N. */
  text: string;
  /** The maps the source declares. */
  maps: BccMap[];
  /** The programs made from BCC's probe forms, with their sections. */
  programs: BccProgram[];
}

/**
 * Rewrites BCC-dialect C into libbpf C with the core rewriter's passes, and reports the maps
 * and programs found.
 *
 * @param source The C source as the user wrote it.
 * @param options Whether the kernel has kprobes, its version (both detected by default).
 * @returns The C, the maps and the programs.
 * @throws {BccRewriteError} When a construct cannot be rewritten (names it and its line).
 *
 * @example Seeing where a kprobe of a syscall lands
 * ```ts
 * import { rewriteBcc } from "./mod.ts";
 * const r = rewriteBcc(`int kprobe__sys_getpid(struct pt_regs *ctx) { return 0; }`, { kprobes: false });
 * console.log(r.programs[0].section); // tracepoint/syscalls/sys_enter_getpid
 * ```
 */
export function rewriteBcc(
  source: string,
  options: BccOptions = {},
): BccRewrite {
  let seen: ReturnType<typeof bccState> | undefined;
  const capture: RewritePass = {
    name: "BCC options",
    run(ctx) {
      seen = bccState(ctx, options);
    },
  };
  const list = passes.includes(bccPasses[0])
    ? passes
    : [...bccPasses, ...passes];
  const saved = [...passes];
  passes.splice(0, passes.length, capture, ...list);
  try {
    const { text } = rewrite(source);
    return {
      text,
      maps: [...(seen?.maps.values() ?? [])],
      programs: seen?.programs ?? [],
    };
  } finally {
    passes.splice(0, passes.length, ...saved);
  }
}
