/**
 * BPF LSM programs (`SEC("lsm/file_open")`): security hooks. Kernel 5.7+ with
 * CONFIG_BPF_LSM and `bpf` in the active LSMs (`lsm=...,bpf` on the kernel command line).
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { AttachError, Errno } from "../errors.ts";
import { readKernelFile } from "../_kernel_files.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import { type Link, TRACING_FTRACE } from "./link.ts";

/**
 * Whether `bpf` is among the active LSMs (/sys/kernel/security/lsm); `undefined` when
 * securityfs is not mounted and the list cannot be read.
 */
export function bpfLsmActive(): boolean | undefined {
  try {
    return readKernelFile("/sys/kernel/security/lsm")?.trim().split(",")
      .includes("bpf");
  } catch {
    return undefined;
  }
}

/**
 * Attaches an LSM program to the hook it was loaded for.
 *
 * @param program a loaded `SEC("lsm/<hook>")` program
 * @returns a disposable link
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./lsm.bpf.c", autoAttach: false });
 * using link = b.attachLsm(b.programs.get("on_file_open")!);
 * ```
 */
export function attachLsm(program: AttachableProgram): Link {
  if (bpfLsmActive() === false) {
    throw new AttachError(
      `Cannot attach LSM program '${program.name}': the BPF LSM is not active on this kernel (bpf is not in /sys/kernel/security/lsm); boot with CONFIG_BPF_LSM=y and lsm=...,bpf`,
      {
        program: program.name,
        target: `lsm ${program.name}`,
        errno: Errno.EOPNOTSUPP,
      },
    );
  }
  return attachNative(
    program,
    "lsm",
    program.name,
    (fd) =>
      lib().bpfpm_program__attach_tracing(
        fd,
        cstr(`LSM program '${program.name}'`),
        TRACING_FTRACE,
      ),
  );
}
