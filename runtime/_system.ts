/**
 * What the kernel and the process must offer before anything is loaded: kernel BTF and the
 * capabilities to load and attach tracing programs.
 *
 * @module
 */
import {
  CapabilityError,
  isPermissionDenied,
  KernelBtfError,
  withPermission,
} from "./errors.ts";
import { optionalEnv } from "./_env.ts";

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** The kernel BTF file: `BPFPM_BTF_PATH` if set (tests), else /sys/kernel/btf/vmlinux. */
export function kernelBtfPath(): string {
  return optionalEnv("BPFPM_BTF_PATH") ?? "/sys/kernel/btf/vmlinux";
}

/** Throws a KernelBtfError unless the kernel BTF file exists. */
export function requireKernelBtf(): string {
  const path = kernelBtfPath();
  withPermission(
    `--allow-read=${path}`,
    `read the kernel BTF at ${path}`,
    () => {
      try {
        Deno.statSync(path);
      } catch (error) {
        if (isPermissionDenied(error)) throw error;
        throw new KernelBtfError(
          `Kernel BTF not found at ${path}: boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (bpfpm compiles against the running kernel's types)`,
          { path, cause: error },
        );
      }
    },
  );
  return path;
}

/** Capabilities missing for loading tracing programs, from /proc/self/status (CapEff). */
export function missingCapabilities(status: string): string[] {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  if (!match) return [];
  const eff = BigInt(`0x${match[1]}`);
  const has = (bit: bigint) => ((eff >> bit) & 1n) === 1n;
  if (has(CAP_SYS_ADMIN)) return [];
  const missing: string[] = [];
  if (!has(CAP_BPF)) missing.push("CAP_BPF");
  if (!has(CAP_PERFMON)) missing.push("CAP_PERFMON");
  return missing;
}

/** The fix for missing capabilities, said the same way everywhere. */
export const CAPABILITY_FIX =
  "run as root (sudo) or grant CAP_BPF and CAP_PERFMON, e.g. `sudo setcap cap_bpf,cap_perfmon+ep $(which deno)`";

/**
 * Throws a CapabilityError when the process lacks CAP_BPF or CAP_PERFMON. Without read
 * access to /proc/self/status it checks nothing: the kernel's EPERM is reported the same way.
 */
export function requireCapabilities(): void {
  let status: string;
  try {
    status = Deno.readTextFileSync("/proc/self/status");
  } catch {
    return;
  }
  const missing = missingCapabilities(status);
  if (missing.length) {
    throw new CapabilityError(
      `Loading BPF programs needs ${
        missing.join(" and ")
      }, which this process lacks: ${CAPABILITY_FIX}`,
      { missing, errno: 1 },
    );
  }
}
