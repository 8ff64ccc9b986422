/**
 * The Deno half of the permissions: which narrow flags the runtime needs, and a check that
 * names the exact flag missing.
 *
 * @module
 */

import { grantedEnv } from "./_env.ts";
import { cacheDir } from "../cache_dir.ts";
import { DenoPermissionError } from "../errors.ts";

/** One Deno permission the runtime needs, and why. */
export interface DenoNeed {
  /** The permission descriptor to query. */
  descriptor: Deno.PermissionDescriptor;
  /** The flag that grants it, e.g. `--allow-read=/sys/kernel/btf`. */
  flag: string;
  /** What the runtime does with it. */
  why: string;
}

function repoPath(rel: string): string {
  return decodeURIComponent(new URL(rel, import.meta.url).pathname);
}

function cacheRoot(): string | undefined {
  try {
    return cacheDir(grantedEnv);
  } catch {
    return undefined;
  }
}

/**
 * The Deno permissions the runtime needs to compile, load, attach and read output, each with
 * the narrow flag that grants it. Paths follow the same environment overrides the runtime
 * uses (`BPFPM_LIB`, `BPFPM_COMPILER_LIB`, `BPFPM_BTF_PATH`, `BPFPM_CACHE_DIR`).
 *
 * @returns the needs, in flag order
 *
 * @example
 * ```ts
 * import { denoNeeds } from "./deno_permissions.ts";
 * for (const n of denoNeeds()) console.log(n.flag, "—", n.why);
 * ```
 */
export function denoNeeds(): DenoNeed[] {
  const lib = grantedEnv("BPFPM_LIB") ??
    repoPath("../../native/build/libbpfpm.so");
  const compiler = grantedEnv("BPFPM_COMPILER_LIB") ??
    repoPath("../../native/build/libbpfpm_compiler.so");
  const btf = grantedEnv("BPFPM_BTF_PATH") ?? "/sys/kernel/btf";
  const cache = cacheRoot();
  const needs: DenoNeed[] = [
    {
      descriptor: { name: "ffi", path: lib },
      flag: `--allow-ffi=${lib}`,
      why: `load the native library ${lib}`,
    },
    {
      descriptor: { name: "ffi", path: compiler },
      flag: `--allow-ffi=${compiler}`,
      why: `load the BPF compiler library ${compiler}`,
    },
  ];
  const dir = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";
  // The compiler checks its library and LLVM's before loading them, and reads the runtime's
  // headers (bpfpm.h) and libbpf's (bpf_helpers.h) to build its precompiled prelude. A warm
  // start checks that the runtime's own modules are unchanged (runtime/_warm.ts).
  const reads = [
    btf,
    "/sys/kernel/tracing",
    "/proc",
    "/sys/fs/bpf",
    "/sys/devices/system/cpu",
    ...new Set([dir(lib), dir(compiler)]),
    "/usr/lib/llvm-14/lib",
    repoPath("..").replace(/\/$/, ""),
    "/usr/include/bpf",
  ];
  if (cache) reads.push(cache);
  for (const path of reads) {
    needs.push({
      descriptor: { name: "read", path },
      flag: `--allow-read=${path}`,
      why: path === cache ? `read the compile cache ${path}` : `read ${path}`,
    });
  }
  const writes = ["/sys/kernel/tracing", "/sys/fs/bpf"];
  if (cache) writes.push(cache);
  for (const path of writes) {
    needs.push({
      descriptor: { name: "write", path },
      flag: `--allow-write=${path}`,
      why: path === cache ? `write the compile cache ${path}` : `write ${path}`,
    });
  }
  // The compile cache key includes the kernel release and boot, and the cache's owner.
  for (const kind of ["uid", "osRelease", "osUptime"] as const) {
    needs.push({
      descriptor: { name: "sys", kind },
      flag: `--allow-sys=${kind}`,
      why: `read the system's ${kind}`,
    });
  }
  return needs;
}

/**
 * The narrow Deno flags the runtime runs under, merged per permission:
 * `--allow-ffi=<libs>`, `--allow-read=/sys/kernel/btf,...`, `--allow-write=...`, and
 * `--allow-env=` for the variables it reads.
 *
 * @returns the flags
 *
 * @example
 * ```ts
 * import { requiredDenoFlags } from "./deno_permissions.ts";
 * console.log(`deno run ${requiredDenoFlags().join(" ")} script.ts`);
 * ```
 */
export function requiredDenoFlags(): string[] {
  const by = new Map<string, string[]>();
  for (const n of denoNeeds()) {
    const [name, value] = n.flag.slice(2).split("=");
    const list = by.get(name) ?? [];
    if (!list.includes(value)) list.push(value);
    by.set(name, list);
  }
  const flags = [...by].map(([name, values]) =>
    `--${name}=${values.join(",")}`
  );
  flags.push(
    "--allow-env=BPFPM_GRANTS,BPFPM_LIB,BPFPM_COMPILER_LIB,BPFPM_BTF_PATH,BPFPM_CACHE_DIR,BPFPM_TRACEFS,XDG_CACHE_HOME,HOME",
  );
  return flags;
}

/**
 * The needs Deno has not granted, without prompting.
 *
 * @returns the missing needs, empty when all are granted
 *
 * @example
 * ```ts
 * import { missingDenoPermissions } from "./deno_permissions.ts";
 * console.log(missingDenoPermissions().map((n) => n.flag));
 * ```
 */
export function missingDenoPermissions(): DenoNeed[] {
  return denoNeeds().filter((n) =>
    Deno.permissions.querySync(n.descriptor).state !== "granted"
  );
}

/**
 * Throws a DenoPermissionError naming the exact flag(s) to add when Deno has not granted
 * what the runtime needs.
 *
 * @example
 * ```ts
 * import { checkDenoPermissions } from "./deno_permissions.ts";
 * checkDenoPermissions(); // throws e.g. "Deno may not read /sys/kernel/btf: run deno with --allow-read=/sys/kernel/btf"
 * ```
 */
export function checkDenoPermissions(): void {
  const missing = missingDenoPermissions();
  if (missing.length === 0) return;
  const [first] = missing;
  const all = missing.map((n) => n.flag).join(" ");
  throw new DenoPermissionError(
    `Deno may not ${first.why}: run deno with ${
      missing.length === 1 ? first.flag : all
    } (or -A)`,
    { flag: first.flag },
  );
}
