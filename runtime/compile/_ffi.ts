/**
 * The compiler library's symbols (native/include/bpfpm_compiler.h), opened lazily: only a
 * compile-cache miss opens it. It is small: clang and LLVM (libbpfpm_clang.so) are loaded
 * only in the forked child that runs each compile, never in this process.
 *
 * @module
 */

import { isPermissionDenied, NativeLibraryError } from "../errors.ts";
import { optionalEnv } from "../_env.ts";

const SYMBOLS = {
  // const char *bpfpm_compiler__last_error(void)
  bpfpm_compiler__last_error: { parameters: [], result: "pointer" },
  // size_t bpfpm_compiler__last_error_copy(char *buf, size_t cap)
  bpfpm_compiler__last_error_copy: {
    parameters: ["buffer", "usize"],
    result: "usize",
  },
  // const char *bpfpm_compiler__version(void)
  bpfpm_compiler__version: { parameters: [], result: "pointer" },
  // int bpfpm_compiler__gen_vmlinux_h(const char *btf_path, const char *out_path,
  //     char *errbuf, size_t errlen)
  bpfpm_compiler__gen_vmlinux_h: {
    parameters: ["buffer", "buffer", "buffer", "usize"],
    result: "i32",
    nonblocking: true,
  },
  // int64_t bpfpm_compiler__read_file(const char *path, uint8_t *buf, size_t cap)
  bpfpm_compiler__read_file: {
    parameters: ["buffer", "buffer", "usize"],
    result: "i64",
  },
  // struct bpfpm_compile_result *bpfpm_compiler__compile(const char *source,
  //     size_t source_len, const char *main_name, const char *args, size_t args_len)
  bpfpm_compiler__compile: {
    parameters: ["buffer", "usize", "buffer", "buffer", "usize"],
    result: "pointer",
    nonblocking: true,
  },
  // struct bpfpm_compile_result *bpfpm_compiler__build_pch(const char *header_path,
  //     const char *pch_path, const char *args, size_t args_len)
  bpfpm_compiler__build_pch: {
    parameters: ["buffer", "buffer", "buffer", "usize"],
    result: "pointer",
    nonblocking: true,
  },
  // int bpfpm_compiler__result_status(const struct bpfpm_compile_result *r)
  bpfpm_compiler__result_status: { parameters: ["pointer"], result: "i32" },
  // size_t bpfpm_compiler__result_copy(const struct bpfpm_compile_result *r, int part,
  //     uint8_t *buf, size_t cap)
  bpfpm_compiler__result_copy: {
    parameters: ["pointer", "i32", "buffer", "usize"],
    result: "usize",
  },
  // size_t bpfpm_compiler__result_size(const struct bpfpm_compile_result *r, int part)
  bpfpm_compiler__result_size: {
    parameters: ["pointer", "i32"],
    result: "usize",
  },
  // void bpfpm_compiler__result_free(struct bpfpm_compile_result *r)
  bpfpm_compiler__result_free: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened compiler library. */
export type CompilerLib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Parts of a compile result (enum bpfpm_compile_part). */
export const PART = {
  object: 0,
  diagnostics: 1,
  deps: 2,
  error: 3,
} as const;

let lib: CompilerLib | undefined;

/** Where the compiler library is: env `BPFPM_COMPILER_LIB`, else the repo's native build. */
export function compilerLibPath(): string {
  return optionalEnv("BPFPM_COMPILER_LIB") ??
    new URL("../../native/build/libbpfpm_compiler.so", import.meta.url)
      .pathname;
}

/** Whether this process has opened the compiler library. */
export function compilerLibLoaded(): boolean {
  return lib !== undefined;
}

/** Opens the compiler library once; throws an error naming the fix when it cannot. */
export function compilerLib(): CompilerLib {
  if (lib) return lib;
  const path = compilerLibPath();
  try {
    Deno.statSync(path);
  } catch (cause) {
    if (isPermissionDenied(cause)) throw cause;
    throw new NativeLibraryError(
      `The BPF compiler library ${path} is missing: run ./scripts/setup.sh (or make -C native), or set BPFPM_COMPILER_LIB`,
      { path, cause },
    );
  }
  try {
    lib = Deno.dlopen(path, SYMBOLS).symbols;
  } catch (cause) {
    if (isPermissionDenied(cause)) throw cause;
    throw new NativeLibraryError(
      `Cannot load the BPF compiler library ${path}: ${
        (cause as Error).message
      }; run ./scripts/setup.sh to install LLVM 14 and rebuild it`,
      { path, cause },
    );
  }
  return lib;
}

/** A NUL-terminated C string. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

/** The compiler library's last error message on this thread. */
export function lastCompilerError(l: CompilerLib): string {
  const buf = new Uint8Array(4096);
  const n = Number(l.bpfpm_compiler__last_error_copy(buf, BigInt(buf.length)));
  return new TextDecoder().decode(buf.subarray(0, Math.min(n, buf.length - 1)));
}
