/**
 * The Deno permissions compiling needs, each with the narrow flag that grants it: what the
 * policy layer adds to its list, and what a script run without `-A` must be given.
 *
 * @module
 */

import { cacheRoot, kernelBtfPath } from "./_cache.ts";
import { compilerLibPath } from "./_ffi.ts";
import { INCLUDE_DIR } from "./_include_dir.ts";

/** One permission compile() needs, and why (same shape as the policy layer's `DenoNeed`). */
export interface CompilePermission {
  /** The permission descriptor to query. */
  descriptor: Deno.PermissionDescriptor;
  /** The flag that grants it, e.g. `--allow-sys=osUptime`. */
  flag: string;
  /** What compiling does with it. */
  why: string;
  /** Whether a cache hit needs it too (else only a compile, i.e. a miss, does). */
  warm: boolean;
}

/**
 * The permissions compile() needs. A cache hit reads the cache and stats the headers and
 * libraries an object was built from; a miss also writes the cache and opens the compiler
 * library (which reads /sys/kernel/btf/vmlinux itself, as Deno only reads /sys under `-A`).
 * Include directories given in cflags need `--allow-read` too.
 *
 * @param options the cache directory, if not the default
 * @returns the permissions, each with its flag
 *
 * @example Printing the flags
 * ```ts
 * import { compilePermissions } from "./permissions.ts";
 * console.log(compilePermissions().map((p) => p.flag).join(" "));
 * ```
 */
export function compilePermissions(
  options: { cacheDir?: string } = {},
): CompilePermission[] {
  const root = cacheRoot(options.cacheDir);
  const lib = compilerLibPath();
  const libDir = lib.slice(0, lib.lastIndexOf("/"));
  const read = (path: string, why: string, warm = true): CompilePermission => ({
    descriptor: { name: "read", path },
    flag: `--allow-read=${path}`,
    why,
    warm,
  });
  const perms: CompilePermission[] = [
    read(root, `read the compile cache ${root}`),
    read(INCLUDE_DIR, "check bpfpm's headers an object was built from"),
    read("/usr/include/bpf", "check libbpf's headers an object was built from"),
    read(
      "/usr/lib/llvm-14/lib",
      "identify the compiler (LLVM 14) and its headers",
    ),
    read(libDir, "identify the compiler library"),
    {
      descriptor: { name: "write", path: root },
      flag: `--allow-write=${root}`,
      why: `store compiled objects, vmlinux.h and its PCH in ${root}`,
      warm: false,
    },
    {
      descriptor: { name: "ffi", path: lib },
      flag: `--allow-ffi=${lib}`,
      why: `compile with the compiler library ${lib}`,
      warm: false,
    },
  ];
  const btf = kernelBtfPath();
  if (!btf.startsWith("/sys/")) {
    perms.push(read(btf, "hash the BTF file named by BPFPM_BTF_PATH"));
  }
  for (const name of ["uid", "osRelease", "osUptime"] as const) {
    perms.push({
      descriptor: { name: "sys", kind: name },
      flag: `--allow-sys=${name}`,
      why: name === "uid"
        ? "check that the compile cache belongs to this user"
        : "tell this boot's kernel apart without reading /proc",
      warm: true,
    });
  }
  for (
    const variable of [
      "BPFPM_CACHE_DIR",
      "XDG_CACHE_HOME",
      "HOME",
      "BPFPM_COMPILER_LIB",
      "BPFPM_BTF_PATH",
    ]
  ) {
    perms.push({
      descriptor: { name: "env", variable },
      flag: `--allow-env=${variable}`,
      why: "find the compile cache and the compiler library",
      warm: true,
    });
  }
  return perms;
}
