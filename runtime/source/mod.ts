/**
 * BCC-dialect C to plain libbpf C (`TRACEPOINT_PROBE` with typed `args`, `bpf_trace_printk`,
 * a default GPL license), as a list of passes that later BCC constructs extend.
 *
 * @example Rewriting a BCC probe
 * ```ts
 * import { rewrite } from "./mod.ts";
 * const { text } = rewrite(`int hello(void *ctx) { bpf_trace_printk("hi\\n"); return 0; }`);
 * console.log(text.includes("#line 1"));
 * ```
 *
 * @module
 */
export {
  passes,
  rewrite,
  type RewriteContext,
  type RewritePass,
  type Rewritten,
} from "./rewrite.ts";
export {
  type FormatField,
  formatToStruct,
  parseFormat,
  tracepointStructName,
} from "./tracepoint_format.ts";
export { type Call, findCalls, maskC, spliceKeepingLines } from "./_scan.ts";
