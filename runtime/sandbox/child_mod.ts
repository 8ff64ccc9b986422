/**
 * `"bpf"` inside a package that `bpfpm run` starts: the public API of mod.ts, with every
 * privileged part forwarded to the trusted side (runtime/sandbox/remote.ts). The package's
 * process has no FFI, no subprocesses and no capabilities; it decodes, prints and exports.
 *
 * @example
 * ```ts
 * import { BPF } from "./child_mod.ts";
 * using b = await BPF.load({ file: new URL("./probe.bpf.c", import.meta.url) });
 * ```
 *
 * @module
 */
export * from "../_common_api.ts";
export {
  BPF,
  features,
  findLibrary,
  ksym,
  ksymAddress,
  readIter,
  RemoteLink as Link,
  sym,
  syscallTable,
  systemClock,
  usdtProbes,
} from "./remote.ts";
