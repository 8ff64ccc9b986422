/**
 * The public API that a script gets in both modes: every export of mod.ts except the values
 * that reach the kernel or this process's files (`BPF`, `Link`, `features`, `findLibrary`,
 * `readIter`, `usdtProbes`, `syscallTable`, `systemClock`, `ksym`, `ksymAddress`, `sym`),
 * which mod.ts takes from the in-process runtime and a sandboxed package's `"bpf"`
 * (sandbox/child_mod.ts) from the forwarding one. Kept apart so that the sandboxed child
 * does not load the in-process runtime's module graph (compiler, attach kinds, native
 * library: ~70 modules, ~10 ms of its start).
 *
 * @example
 * ```ts
 * import { BpfError, log2HistText } from "./_common_api.ts";
 * console.log(new BpfError("x") instanceof Error, typeof log2HistText);
 * ```
 *
 * @module
 */
export type { LoadOptions } from "./bpf.ts";
export { Program } from "./program.ts";
export { ObjectMap } from "./object_map.ts";
export type { Handle, LinkHandle, ProgramHandle } from "./_ffi.ts";
// The lazily loaded parts, as types (their values: bpf/maps and bpf/events).
export type { BpfMap } from "./maps/bpf_map.ts";
export type { QueueMap, StackTraceMap } from "./maps/special_maps.ts";
export type { EventRecord, ObjectEventOptions } from "./maps/object_maps.ts";
export type { EventReader } from "./events/event_reader.ts";
export type {
  DumpOptions,
  MapInfo,
  PerCpu,
  PerCpuNumber,
  StackOptions,
  UpdateMode,
} from "./maps/mod.ts";
export type { DrainerInfo, EventReaderOptions } from "./events/mod.ts";
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
} from "./output/histogram.ts";
export { jsonSafe, toJson } from "./output/json.ts";
export { type Clock, rfc3339, UNIT_SUFFIX, unitKey } from "./output/time.ts";
export {
  checkDenoPermissions,
  type DenoNeed,
  missingDenoPermissions,
  requiredDenoFlags,
} from "./policy/deno_permissions.ts";
export type { SymOptions } from "./output/symbols.ts";
export type { Codec } from "./btf/codec.ts";
export type { AttachGrant, Grants, RiskyHelper } from "./policy/grants.ts";
export type { AttachKind, ProgramKind } from "./spec/section_kinds.ts";
export type { LinkInit } from "./attach/link.ts";
export type { Detachable } from "./attach/auto.ts";
export { type AttachableProgram, Attachment } from "./attach/attachment.ts";
export type { KprobeOptions } from "./attach/kprobe.ts";
export type { UprobeOptions } from "./attach/uprobe.ts";
export type {
  KprobeMultiOptions,
  MultiMode,
  UprobeMultiOptions,
} from "./attach/multi.ts";
export type { UsdtOptions, UsdtProbe } from "./attach/usdt.ts";
export { PERF_EVENTS, type PerfEventOptions } from "./attach/perf_event.ts";
export type { XdpOptions } from "./attach/xdp.ts";
export type { TcOptions } from "./attach/tc.ts";
export type { SocketFilterOptions } from "./attach/socket_filter.ts";
export type { CgroupOptions } from "./attach/cgroup.ts";
export type { Features, Support } from "./features.ts";
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
} from "./errors.ts";
export { PermissionDeniedError } from "./policy/check.ts";
export { GrantsEnvironmentError } from "./policy/effective.ts";
export { CompileError, type Diagnostic } from "./compile/compile_error.ts";
export { parseTraceLine, type TraceFields } from "./trace/trace_pipe.ts";
export { interrupted } from "./lifecycle.ts";
