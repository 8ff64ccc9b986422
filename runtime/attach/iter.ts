/**
 * BPF iterators (`SEC("iter/task")`, `iter/bpf_map`, `iter/tcp`, ...): a program walks kernel
 * objects and prints with `BPF_SEQ_PRINTF`; reading the iterator runs it once. Kernel 5.8+.
 *
 * @module
 */
import { lib } from "../_ffi.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import { type Link, linkHandle, nativeError } from "./link.ts";

/**
 * Makes an iterator link for a program; read it with {@link readIter}.
 *
 * @param program a loaded `SEC("iter/...")` program
 * @returns a disposable link
 *
 * @example Print every task
 * ```ts
 * import { BPF, readIter } from "bpf";
 * using b = await BPF.load({ file: "./tasks.bpf.c", autoAttach: false });
 * using it = b.attachIter(b.programs.get("dump_task")!);
 * console.log(readIter(it));
 * ```
 */
export function attachIter(program: AttachableProgram): Link {
  return attachNative(
    program,
    "iter",
    program.name,
    (fd) => lib().bpfpm_program__attach_iter(fd),
  );
}

/**
 * Runs an iterator once and returns its whole output as bytes.
 *
 * @param link a link from {@link attachIter}
 * @returns the bytes the program printed
 */
export function readIterBytes(link: Link): Uint8Array {
  const s = lib();
  const fd = s.bpfpm_link__iter_open(linkHandle(link));
  if (fd < 0) throw nativeError(`Cannot run iterator ${link.target}`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = new Uint8Array(64 * 1024);
      const n = Number(s.bpfpm_iter__read(fd, buf, BigInt(buf.length)));
      if (n < 0) throw nativeError(`Cannot read iterator ${link.target}`);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
    }
  } finally {
    s.bpfpm_fd__close(fd);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Runs an iterator once and returns its output as text.
 *
 * @param link a link from {@link attachIter}
 * @returns the text the program printed
 *
 * @example
 * ```ts
 * import { attachIter, readIter } from "./iter.ts";
 * declare const prog: { name: string; fd: number };
 * using it = attachIter(prog);
 * console.log(readIter(it));
 * ```
 */
export function readIter(link: Link): string {
  return new TextDecoder().decode(readIterBytes(link));
}
