/**
 * One call into the compiler library (an object compile or a PCH build) and the copy of its
 * result into JavaScript memory.
 *
 * @module
 */

import { type CompilerLib, cstr, PART } from "./_ffi.ts";

/** What the native compile returned. */
export interface RunResult {
  /** 0, -EINVAL for C errors, another -errno when the compiler could not run. */
  status: number;
  object: Uint8Array;
  diagnostics: string;
  deps: string[];
  error: string;
}

function packArgs(args: readonly string[]): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(args.join("\0"));
}

/** Runs one native compile; the C side forks, so this is safe to call repeatedly. */
export async function runCompile(
  lib: CompilerLib,
  kind: "object",
  opts: { source: string; name: string; args: readonly string[] },
): Promise<RunResult>;
export async function runCompile(
  lib: CompilerLib,
  kind: "pch",
  opts: { header: string; pch: string; args: readonly string[] },
): Promise<RunResult>;
export async function runCompile(
  lib: CompilerLib,
  kind: "object" | "pch",
  opts: {
    source?: string;
    name?: string;
    header?: string;
    pch?: string;
    args: readonly string[];
  },
): Promise<RunResult> {
  const args = packArgs(opts.args);
  let r: Deno.PointerValue;
  if (kind === "object") {
    const source = new TextEncoder().encode(opts.source!);
    r = await lib.bpfpm_compiler__compile(
      source,
      BigInt(source.length),
      cstr(opts.name!),
      args,
      BigInt(args.length),
    );
  } else {
    r = await lib.bpfpm_compiler__build_pch(
      cstr(opts.header!),
      cstr(opts.pch!),
      args,
      BigInt(args.length),
    );
  }
  if (r === null) throw new Error("Out of memory while compiling BPF C");
  try {
    // Copied by the library: Deno's pointer views would need unscoped --allow-ffi.
    const part = (p: number): Uint8Array => {
      const size = Number(lib.bpfpm_compiler__result_size(r, p));
      const buf = new Uint8Array(size);
      if (size) lib.bpfpm_compiler__result_copy(r, p, buf, BigInt(size));
      return buf;
    };
    const text = (p: number) => new TextDecoder().decode(part(p));
    return {
      status: lib.bpfpm_compiler__result_status(r),
      object: part(PART.object),
      diagnostics: text(PART.diagnostics),
      deps: text(PART.deps).split("\n").filter((s) => s),
      error: text(PART.error),
    };
  } finally {
    lib.bpfpm_compiler__result_free(r);
  }
}
