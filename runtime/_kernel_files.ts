/**
 * Reads of /sys and /proc through the native library: Deno grants those paths only with
 * --allow-all, while --allow-ffi for libbpfpm.so (which loading BPF needs anyway) covers them.
 *
 * @module
 */
import { cstr, lastError, lib } from "./_ffi.ts";
import { BpfError, Errno } from "./errors.ts";

/**
 * The text of a kernel file, or undefined when it does not exist. Procfs files report no
 * size, so a read that fills `cap` is retried with a buffer twice as large: the whole file
 * is always returned.
 */
export function readKernelFile(
  path: string,
  cap = 1 << 16,
): string | undefined {
  for (;;) {
    const buf = new Uint8Array(cap);
    const n = Number(lib().bpfpm_file__read(cstr(path), buf, BigInt(cap)));
    if (n === -Errno.ENOENT) return undefined;
    if (n < 0) {
      const { message } = lastError();
      throw new BpfError(`${message}: run as root`, { errno: -n });
    }
    if (n < cap) return new TextDecoder().decode(buf.subarray(0, n));
    cap *= 2;
  }
}

/** Whether a kernel file or directory exists. */
export function kernelPathExists(path: string): boolean {
  return lib().bpfpm_file__exists(cstr(path)) === 0;
}

/** This process's effective capability set (bit N is capability N). */
export function effectiveCapabilities(): bigint {
  const out = new BigUint64Array(1);
  const rc = lib().bpfpm_process__effective_caps(new Uint8Array(out.buffer));
  if (rc !== 0) {
    const { errno, message } = lastError();
    throw new BpfError(message, { errno });
  }
  return out[0];
}
