/**
 * bpfpm: BPF scripts in Deno, BCC's model in TypeScript. Embed BPF C (libbpf style or BCC's
 * dialect) in a script; `BPF.load` compiles it in-process (cached), loads it through libbpf,
 * attaches it and streams its output. Run as root (or with CAP_BPF and CAP_PERFMON) on a
 * kernel with BTF.
 *
 * @example BCC's Hello World
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ text: `
 *   TRACEPOINT_PROBE(syscalls, sys_enter_clone) {
 *     bpf_trace_printk("Hello, World!\\n");
 *     return 0;
 *   }` });
 * for await (const line of b.tracePrint()) console.log(line);
 * ```
 *
 * @module
 */
export { BPF, type LoadOptions } from "./runtime/bpf.ts";
export { Program } from "./runtime/program.ts";
export { BpfMap } from "./runtime/bpf_map.ts";
export { Link } from "./runtime/attach/link.ts";
export {
  AttachError,
  BpfError,
  CapabilityError,
  DenoPermissionError,
  KernelBtfError,
  NativeLibraryError,
  TracefsError,
  TracepointNotFoundError,
  VerifierError,
} from "./runtime/errors.ts";
export { CompileError, type Diagnostic } from "./runtime/compile/mod.ts";
export { parseTraceLine, type TraceFields } from "./runtime/trace/mod.ts";
