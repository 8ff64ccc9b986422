/**
 * trace_pipe and tracefs: the output of `bpf_trace_printk()` as async iterators, tracepoint
 * format files, and mounting tracefs when it is absent.
 *
 * @example Parsing a line
 * ```ts
 * import { parseTraceLine } from "./mod.ts";
 * const f = parseTraceLine("  sh-42  [001] d..31  10.5: bpf_trace_printk: Hello, World!");
 * console.log(f?.pid, f?.msg); // 42 "Hello, World!"
 * ```
 *
 * @module
 */
export {
  type Cancellable,
  parseTraceLine,
  readTraceFields,
  readTracePipe,
  type TraceFields,
} from "./trace_pipe.ts";
export {
  parseTracepointName,
  readTracepointFormat,
  requireTracepoint,
  tracefsDir,
} from "./tracefs.ts";
