/**
 * The compile layer: BPF C ⇒ BPF ELF object with in-process clang (libbpfpm_compiler.so,
 * loaded only on a cache miss), vmlinux.h generated from the kernel's BTF and precompiled,
 * and a content-addressed cache so that a warm start compiles nothing.
 *
 * @example Compile, then load with the core runtime
 * ```ts
 * import { compile } from "./mod.ts";
 * const { object } = await compile(`
 *   SEC("raw_tp/sys_enter") int on_enter(void *ctx) { return 0; }
 *   char LICENSE[] SEC("license") = "GPL";
 * `);
 * console.log(object.length);
 * ```
 *
 * @module
 */

export {
  compile,
  type CompileOptions,
  type CompileResult,
  type CompilerStats,
  compilerStats,
} from "./compile.ts";
export {
  CompileError,
  type Diagnostic,
  type PositionMap,
} from "./compile_error.ts";
export { type CompilePermission, compilePermissions } from "./permissions.ts";
export { prepareCompiler, type PreparedCompiler } from "./prepare.ts";
