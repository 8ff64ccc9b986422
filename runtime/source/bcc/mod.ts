/**
 * BCC compatibility: the passes that turn BCC's C dialect into libbpf C (map macros, method
 * syntax on maps, probe forms, kernel pointer dereferences as CO-RE reads, bpf_trace_printk's
 * limits, BCC's header), run by the core rewriter (`runtime/source/rewrite.ts`) before its own
 * passes. Each keeps the source's line count, so compiler diagnostics name the user's lines.
 *
 * @example Rewriting a BCC program
 * ```ts
 * import { rewriteBcc } from "./mod.ts";
 * const { text, maps, programs } = rewriteBcc(`
 * BPF_HASH(counts, u32, u64);
 * TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
 *   counts.increment(bpf_get_current_pid_tgid() >> 32);
 *   return 0;
 * }`);
 * console.log(maps.map((m) => m.name), programs.map((p) => p.section), text.length);
 * ```
 *
 * @module
 */
export type { RewriteContext, RewritePass } from "../rewrite.ts";
export { bccMaps, NAME_FIRST, TABLE_TYPES } from "./maps.ts";
export { bccMethods, METHODS } from "./methods.ts";
export { bccProbes, kernelHasKprobes } from "./probes.ts";
export { bccKernelReads } from "./kernel_reads.ts";
export { bccKeepTypes } from "./keep_types.ts";
export { bccPrelude, bccPrintk, kernelVersionCode } from "./printk.ts";
export type { BccMap, BccOptions, BccProgram } from "./_state.ts";
export { bccPasses } from "./passes.ts";
export { type BccRewrite, rewriteBcc } from "./rewrite_bcc.ts";
