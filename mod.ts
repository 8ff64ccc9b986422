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
 * This module is the core: what every script needs (load, programs, links and every attach
 * kind, trace output, histograms and symbols, grants, errors). The typed map and event
 * views are lazily loaded parts: `BPF.load` imports them only for an object with maps a
 * script can read, so their classes are exported here as types, and as values from their
 * own stable modules, `bpf/maps` (`BpfMap.create`, `BpfMap.openPinned`, `PerCpu`, codecs)
 * and `bpf/events` (`EventReader`).
 *
 * @example A map made from user space
 * ```ts
 * import { BpfMap, u32, u64 } from "bpf/maps";
 * using m = BpfMap.create({ type: "hash", key: u32, value: u64, maxEntries: 16 });
 * m.set(1, 2n);
 * ```
 *
 * @module
 */
export * from "./runtime/_common_api.ts";
// The values that reach the kernel or this process's files; a sandboxed package's "bpf"
// (runtime/sandbox/child_mod.ts) has the same names, forwarded to the trusted side.
export { BPF } from "./runtime/bpf.ts";
export { systemClock } from "./runtime/output/time.ts";
export { syscallTable } from "./runtime/trace/syscalls.ts";
export { ksym, ksymAddress, sym } from "./runtime/output/symbols.ts";
export { Link } from "./runtime/attach/link.ts";
export { usdtProbes } from "./runtime/attach/usdt.ts";
export { readIter } from "./runtime/attach/iter.ts";
export { findLibrary } from "./runtime/attach/find_library.ts";
export { features } from "./runtime/features.ts";
