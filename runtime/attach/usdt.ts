/**
 * USDT (user statically defined tracing) probes: the `DTRACE_PROBE*`/`STAP_PROBE*` markers of
 * <sys/sdt.h>, listed from a binary's `.note.stapsdt` notes and attached through libbpf's USDT
 * support, so programs read arguments with `bpf_usdt_arg()`/`BPF_USDT()` from
 * <bpf/usdt.bpf.h>. Semaphores are counted by the kernel (4.20+); cookies need 5.15+.
 *
 * @module
 */
import { cstr, lastError, lib, type LinkHandle } from "../_ffi.ts";
import { checkOptions, USDT_OPTIONS } from "../_options.ts";
import { AttachError, Errno } from "../errors.ts";
import type { ElfFile } from "../spec/elf.ts";
import { type AttachableProgram, checkProgram } from "./attachment.ts";
import { Link } from "./link.ts";
import { resolveBinary } from "./find_library.ts";
import { addressToOffset, readBinary } from "./uprobe.ts";

const NT_STAPSDT = 3;

/**
 * One USDT probe of a binary.
 *
 * @example List a binary's probes
 * ```ts
 * import { usdtProbes } from "bpf";
 * for (const p of usdtProbes("c")) console.log(`${p.provider}:${p.name}`, p.args);
 * ```
 */
export interface UsdtProbe {
  /** The provider, e.g. `libc`. */
  provider: string;
  /** The probe's name, e.g. `setjmp`. */
  name: string;
  /** Its address (as linked). */
  address: bigint;
  /** Its file offset, where the uprobe goes. */
  offset: bigint;
  /** The semaphore's address (0n when the probe has none). */
  semaphore: bigint;
  /** The semaphore's file offset (0n when none). */
  semaphoreOffset: bigint;
  /** The argument spec, e.g. `-4@%edi 8@%rax` (size@location per argument). */
  args: string;
}

/**
 * Lists the USDT probes of a parsed ELF file from its `.note.stapsdt` section.
 *
 * @param elf the parsed file
 * @returns every probe, in note order
 */
export function usdtProbesOf(elf: ElfFile): UsdtProbe[] {
  const notes = elf.section(".note.stapsdt");
  if (!notes) return [];
  const base = elf.section(".stapsdt.base");
  const probes: UsdtProbe[] = [];
  const b = notes.bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dec = new TextDecoder();
  const align4 = (n: number) => (n + 3) & ~3;
  let at = 0;
  while (at + 12 <= b.length) {
    const namesz = view.getUint32(at, true);
    const descsz = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const nameAt = at + 12;
    const descAt = nameAt + align4(namesz);
    at = descAt + align4(descsz);
    if (type !== NT_STAPSDT || descAt + descsz > b.length) continue;
    if (dec.decode(b.subarray(nameAt, nameAt + namesz - 1)) !== "stapsdt") {
      continue;
    }
    let address = view.getBigUint64(descAt, true);
    const linkedBase = view.getBigUint64(descAt + 8, true);
    const semaphore = view.getBigUint64(descAt + 16, true);
    // Prelinked binaries moved .stapsdt.base: shift the address by the same amount.
    if (base && linkedBase !== 0n) address += base.addr - linkedBase;
    const strings = dec.decode(b.subarray(descAt + 24, descAt + descsz)).split(
      "\0",
    );
    const offset = addressToOffset(elf, address) ?? address;
    probes.push({
      provider: strings[0] ?? "",
      name: strings[1] ?? "",
      address,
      offset,
      semaphore,
      semaphoreOffset: semaphore === 0n
        ? 0n
        : semaphoreFileOffset(elf, semaphore),
      args: strings[2] ?? "",
    });
  }
  return probes;
}

function semaphoreFileOffset(elf: ElfFile, address: bigint): bigint {
  for (const s of elf.sections) {
    if (
      s.addr !== 0n && address >= s.addr && address < s.addr + BigInt(s.size)
    ) {
      return address - s.addr + BigInt(s.offset);
    }
  }
  return 0n;
}

/**
 * Lists the USDT probes of a binary or library.
 *
 * @param binary a path, a library name (`c`) or a program on PATH
 * @returns the probes
 *
 * @example List libc's probes
 * ```ts
 * import { usdtProbes } from "./usdt.ts";
 * for (const p of usdtProbes("c")) console.log(`${p.provider}:${p.name}`, p.args);
 * ```
 */
export function usdtProbes(binary: string): UsdtProbe[] {
  const path = resolveBinary(binary);
  if (!path) {
    throw new AttachError(
      `Cannot find binary or library ${binary}: pass its path`,
      {
        program: "",
        target: binary,
        errno: Errno.ENOENT,
      },
    );
  }
  return usdtProbesOf(readBinary(path));
}

/**
 * Which USDT probe. Kernel: 4.20+ for semaphores; `cookie` 5.15+.
 *
 * @example A USDT probe of one process
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./usdt.bpf.c", autoAttach: false });
 * declare const pid: number;
 * b.attachUsdt("on_tick", { binary: "./app", provider: "app", name: "tick", pid });
 * ```
 */
export interface UsdtOptions {
  /** The binary or library (path, library name, or program on PATH). */
  binary: string;
  /** The provider (`DTRACE_PROBE(provider, name)`). */
  provider: string;
  /** The probe name. */
  name: string;
  /** Only this process (default: every process). */
  pid?: number;
  /** A value the program reads with `bpf_usdt_cookie()`. */
  cookie?: bigint;
}

/**
 * Attaches a `SEC("usdt")` program to every site of a USDT probe. The program includes
 * <bpf/usdt.bpf.h> and reads arguments with `bpf_usdt_arg(ctx, i, &v)` or `BPF_USDT()`.
 *
 * @param program a loaded `SEC("usdt")` program (from BPF.load, which keeps libbpf's handle)
 * @param opts the binary, provider, name and an optional pid
 * @returns a disposable link
 *
 * @example Trace a probe of a test binary
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./usdt.bpf.c", autoAttach: false });
 * using link = b.attachUsdt(b.programs.get("on_tick")!, { binary: "./app", provider: "app", name: "tick" });
 * ```
 */
export function attachUsdt(
  program: AttachableProgram,
  opts: UsdtOptions,
): Link {
  checkProgram(program, "usdt");
  checkOptions("attachUsdt", opts, USDT_OPTIONS);
  if (!program.handle) {
    throw new TypeError(
      `usdt: program '${program.name}' has no libbpf handle (load it with BPF.load)`,
    );
  }
  const target = `${opts.binary}:${opts.provider}:${opts.name}`;
  const fail = (message: string, errno: number) =>
    new AttachError(
      `Cannot attach program '${program.name}' as usdt to ${target}: ${message}`,
      {
        program: program.name,
        target: `usdt ${target}`,
        errno,
      },
    );
  let probes: UsdtProbe[];
  let path: string;
  try {
    path = resolveBinary(opts.binary) ?? opts.binary;
    probes = usdtProbesOf(readBinary(path));
  } catch (error) {
    if (error instanceof AttachError) throw fail(error.message, error.errno);
    throw error;
  }
  if (
    !probes.some((p) => p.provider === opts.provider && p.name === opts.name)
  ) {
    const known = probes.map((p) => `${p.provider}:${p.name}`);
    throw fail(
      `${path} has no USDT probe ${opts.provider}:${opts.name} (${
        known.length
          ? `it has ${[...new Set(known)].join(", ")}`
          : "it has no USDT probes"
      })`,
      2,
    );
  }
  const handle = lib().bpfpm_program__attach_usdt(
    program.handle,
    opts.pid ?? -1,
    cstr(path),
    cstr(opts.provider),
    cstr(opts.name),
    opts.cookie ?? 0n,
  );
  if (handle === null) {
    const { errno, message } = lastError();
    throw fail(message, errno || Errno.EINVAL);
  }
  return new Link(handle as LinkHandle, {
    kind: "usdt",
    target: `${path}:${opts.provider}:${opts.name}`,
    program: program.name,
  });
}
