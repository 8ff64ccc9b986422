/**
 * Readies the compiler for this kernel ahead of the first compile: generates vmlinux.h from
 * the kernel's BTF and builds its precompiled header in the cache, so that the first
 * `BPF.load` only compiles its own C. Run it from a setup script:
 * `deno run -A runtime/compile/prepare.ts`.
 *
 * @module
 */

import {
  cacheRoot,
  checkRootOwnership,
  compilerIdentity,
  kernelBtfHash,
} from "./_cache.ts";
import { compilerLib, compilerLibPath } from "./_ffi.ts";
import { ensurePch, kernelDir, pchPath } from "./_pch.ts";

/** What {@linkcode prepareCompiler} left in the cache. */
export interface PreparedCompiler {
  /** The generated vmlinux.h. */
  vmlinuxH: string;
  /** Its precompiled header (with bpfpm.h and libbpf's headers). */
  pch: string;
}

/**
 * Generates vmlinux.h and its PCH for the running kernel unless they are already there and
 * up to date (then this only checks).
 *
 * @param options the cache directory, if not the default
 * @returns the paths of vmlinux.h and the PCH
 *
 * @example Preparing the cache
 * ```ts
 * import { prepareCompiler } from "./prepare.ts";
 * const { pch } = await prepareCompiler();
 * console.log(pch);
 * ```
 */
export async function prepareCompiler(
  options: { cacheDir?: string } = {},
): Promise<PreparedCompiler> {
  const root = cacheRoot(options.cacheDir);
  checkRootOwnership(root);
  const compiler = compilerIdentity(compilerLibPath());
  const { btf } = await kernelBtfHash(root);
  const pch = await pchPath(root, btf, compiler);
  await ensurePch(compilerLib(), root, btf, pch);
  return { vmlinuxH: `${kernelDir(root, btf)}/vmlinux.h`, pch };
}

if (import.meta.main) {
  const { pch } = await prepareCompiler();
  console.log(`bpfpm compiler ready: ${pch}`);
}
