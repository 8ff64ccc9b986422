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
export { BPF, type LoadOptions } from "./runtime/bpf.ts";
export { Program } from "./runtime/program.ts";
export { ObjectMap } from "./runtime/object_map.ts";
export type { Handle, LinkHandle, ProgramHandle } from "./runtime/_ffi.ts";
// The lazily loaded parts, as types (their values: bpf/maps and bpf/events).
export type { BpfMap } from "./runtime/maps/bpf_map.ts";
export type { QueueMap, StackTraceMap } from "./runtime/maps/special_maps.ts";
export type {
  EventRecord,
  ObjectEventOptions,
} from "./runtime/maps/object_maps.ts";
export type { EventReader } from "./runtime/events/event_reader.ts";
export type {
  DumpOptions,
  MapInfo,
  PerCpu,
  PerCpuNumber,
  StackOptions,
  UpdateMode,
} from "./runtime/maps/mod.ts";
export type { DrainerInfo, EventReaderOptions } from "./runtime/events/mod.ts";
// The core's values come from their defining modules, not through the folders' mod.ts
// barrels: each module Deno loads costs a start a fraction of a millisecond.
export {
  type Count,
  formatLinearHist,
  formatLog2Hist,
  type HistogramEntries,
  histogramJson,
  histogramJsonOf,
  type HistogramOptions,
  type JsonBucket,
  type JsonHistogram,
  linearHistText,
  log2HistText,
  type MapHistogramOptions,
  printLinearHist,
  printLog2Hist,
} from "./runtime/output/histogram.ts";
export { jsonSafe, toJson } from "./runtime/output/json.ts";
export {
  type Clock,
  rfc3339,
  systemClock,
  UNIT_SUFFIX,
  unitKey,
} from "./runtime/output/time.ts";
export { syscallTable } from "./runtime/trace/syscalls.ts";
export {
  checkDenoPermissions,
  type DenoNeed,
  missingDenoPermissions,
  requiredDenoFlags,
} from "./runtime/policy/deno_permissions.ts";
export {
  ksym,
  ksymAddress,
  sym,
  type SymOptions,
} from "./runtime/output/symbols.ts";
export type { Codec } from "./runtime/btf/codec.ts";
export type {
  AttachGrant,
  Grants,
  RiskyHelper,
} from "./runtime/policy/grants.ts";
export type { AttachKind, ProgramKind } from "./runtime/spec/section_kinds.ts";
export { Link, type LinkInit } from "./runtime/attach/link.ts";
export type { Detachable } from "./runtime/attach/auto.ts";
export {
  type AttachableProgram,
  Attachment,
} from "./runtime/attach/attachment.ts";
export type { KprobeOptions } from "./runtime/attach/kprobe.ts";
export type { UprobeOptions } from "./runtime/attach/uprobe.ts";
export type {
  KprobeMultiOptions,
  MultiMode,
  UprobeMultiOptions,
} from "./runtime/attach/multi.ts";
export {
  type UsdtOptions,
  type UsdtProbe,
  usdtProbes,
} from "./runtime/attach/usdt.ts";
export {
  PERF_EVENTS,
  type PerfEventOptions,
} from "./runtime/attach/perf_event.ts";
export type { XdpOptions } from "./runtime/attach/xdp.ts";
export type { TcOptions } from "./runtime/attach/tc.ts";
export type { SocketFilterOptions } from "./runtime/attach/socket_filter.ts";
export type { CgroupOptions } from "./runtime/attach/cgroup.ts";
export { readIter } from "./runtime/attach/iter.ts";
export { findLibrary } from "./runtime/attach/find_library.ts";
export { type Features, features, type Support } from "./runtime/features.ts";
// Every error the API throws, as values (instanceof works); all are BpfErrors.
export {
  AttachError,
  BccRewriteError,
  BpfError,
  BtfFormatError,
  CapabilityError,
  ClosedError,
  DenoPermissionError,
  ElfFormatError,
  Errno,
  FormatError,
  KernelBtfError,
  NativeLibraryError,
  ObjectFormatError,
  RecordSizeError,
  TracefsError,
  TracepointNotFoundError,
  VerifierError,
} from "./runtime/errors.ts";
export { PermissionDeniedError } from "./runtime/policy/check.ts";
export { GrantsEnvironmentError } from "./runtime/policy/effective.ts";
export {
  CompileError,
  type Diagnostic,
} from "./runtime/compile/compile_error.ts";
export {
  parseTraceLine,
  type TraceFields,
} from "./runtime/trace/trace_pipe.ts";
export { interrupted } from "./runtime/lifecycle.ts";
