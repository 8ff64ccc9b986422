/**
 * What the kernel and the process must offer before anything is loaded: kernel BTF and the
 * capabilities to load and attach tracing programs.
 *
 * @module
 */
import { CapabilityError, Errno, KernelBtfError } from "./errors.ts";
import { optionalEnv } from "./_env.ts";
import { effectiveCapabilities, kernelPathExists } from "./_kernel_files.ts";

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The kernel BTF file: `BPFPM_BTF_PATH` if set (tests), else /sys/kernel/btf/vmlinux. */
export function kernelBtfPath(): string {
  return optionalEnv("BPFPM_BTF_PATH") ?? "/sys/kernel/btf/vmlinux";
}

/** Throws a KernelBtfError unless the kernel BTF file exists; returns its path. */
export function requireKernelBtf(): string {
  const path = kernelBtfPath();
  if (!kernelPathExists(path)) {
    throw new KernelBtfError(
      `Kernel BTF not found at ${path}: boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (bpfpm compiles against the running kernel's types)`,
      { path },
    );
  }
  return path;
}

/** Capabilities missing for loading tracing programs, given an effective set. */
export function missingCapabilities(effective: bigint): string[] {
  const has = (bit: bigint) => ((effective >> bit) & 1n) === 1n;
  if (has(CAP_SYS_ADMIN)) return [];
  const missing: string[] = [];
  if (!has(CAP_BPF)) missing.push("CAP_BPF");
  if (!has(CAP_PERFMON)) missing.push("CAP_PERFMON");
  return missing;
}

/** The fix for missing capabilities, said the same way everywhere. */
export const CAPABILITY_FIX =
  "run as root (sudo) or grant CAP_BPF and CAP_PERFMON, e.g. `sudo setcap cap_bpf,cap_perfmon+ep $(which deno)`";

/** Throws a CapabilityError when the process lacks CAP_BPF or CAP_PERFMON (and CAP_SYS_ADMIN). */
export function requireCapabilities(): void {
  const missing = missingCapabilities(effectiveCapabilities());
  if (missing.length) {
    throw new CapabilityError(
      `Loading BPF programs needs ${
        missing.join(" and ")
      }, which this process lacks: ${CAPABILITY_FIX}`,
      { missing, errno: Errno.EPERM },
    );
  }
}
