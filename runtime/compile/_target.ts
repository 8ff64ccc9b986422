/**
 * The BPF CPU compiles target: bpfpm's default and the `-mcpu=` flags a program may pass.
 *
 * @module
 */

/**
 * The BPF CPU every compile (and the PCH) targets unless cflags choose another
 * (`-mcpu=v2`): v3, whose 32-bit registers and jumps keep the bounds the verifier needs where
 * v1's shifts to sign-extend lose them (BCC's sslsniff is rejected under clang 14's default
 * v1, "R2 min value is negative"). clang 20 and later default to v3 too, and every kernel
 * with vmlinux BTF (5.2+) runs it (its instructions came in 5.1).
 */
export const TARGET_CPU = "v3";

/** `-mcpu=` with a BPF CPU clang 14 knows (`probe`: what the running kernel supports). */
const CPU_FLAG = /^-mcpu=(generic|probe|v[1-3])$/;

/**
 * The CPU a `-mcpu=` cflag chooses, if it is one clang 14 knows.
 *
 * @param flag A cflag.
 * @returns The CPU (`v2`), or undefined.
 */
export function bpfCpuOf(flag: string): string | undefined {
  return CPU_FLAG.exec(flag)?.[1];
}
