/**
 * BPF C ⇒ BPF ELF object: clang as a library (run in a forked child of this process), behind
 * a content-addressed cache.
 *
 * @module
 */

import {
  cacheRoot,
  checkRootOwnership,
  compilerIdentity,
  type Dep,
  fingerprint,
  kernelBtfHash,
  objectKey,
  readEntry,
  writeEntry,
} from "./_cache.ts";
import { compilerLib, compilerLibLoaded, compilerLibPath } from "./_ffi.ts";
import {
  baseArgs,
  buildStats,
  ensurePch,
  ensureVmlinuxH,
  kernelDirName,
  pchPath,
} from "./_pch.ts";
import { bpfCpuOf, TARGET_CPU } from "./_target.ts";
import { runCompile } from "./_run.ts";
import {
  CompileError,
  crashError,
  type Diagnostic,
  mapDiagnostics,
  type PositionMap,
} from "./compile_error.ts";
import { DenoPermissionError, isPermissionDenied } from "../errors.ts";

/** Options of {@linkcode compile}. */
export interface CompileOptions {
  /**
   * Extra clang flags, given to `clang -cc1` after bpfpm's own (`-target bpf -O2 -g
   * -mcpu=v3 -D__TARGET_ARCH_x86`): `-DNAME[=V]`, `-UNAME`, `-Idir`, `-W...` and `-w` keep
   * the precompiled vmlinux.h; other flags (`-O1`, `-std=`, `-f...`, another `-mcpu=` of
   * generic, v1, v2, v3 or probe) compile without it (slower).
   * Macros from cflags do not reach vmlinux.h and bpfpm.h, which are precompiled.
   */
  cflags?: readonly string[];
  /** The user's file holding the C (e.g. the .ts); diagnostics are reported against it. */
  file?: string;
  /** The line of `file` holding the C's first line (default 1). */
  lineOffset?: number;
  /** The column of `file` where the C's first line starts (default 1). */
  columnOffset?: number;
  /**
   * The C file name clang sees: relative `#include "x.h"` resolve from its directory; it
   * need not exist (default `/bpfpm/script.bpf.c`); a relative path is taken from the
   * working directory.
   */
  name?: string;
  /** The cache root (default: env `BPFPM_CACHE_DIR`, else `$XDG_CACHE_HOME/bpfpm`). */
  cacheDir?: string;
  /**
   * C placed before `source` under the file name `<bpfpm prelude>` (e.g. declarations a
   * source rewriter adds): its diagnostics are not mapped into `file`, and `source` keeps its
   * own line numbers.
   */
  prelude?: string;
  /**
   * Where a source rewriter moved the text of `source` on the lines it changed (e.g.
   * runtime/source's `rewrite().positions`): diagnostics then get the columns of the C as
   * the user wrote it.
   */
  positions?: PositionMap;
  /** Compile even if a cached object exists, and do not store the result. */
  noCache?: boolean;
}

/** What {@linkcode compile} returns. */
export interface CompileResult {
  /** The BPF ELF object (relocatable, with BTF and CO-RE relocations). */
  object: Uint8Array;
  /** Whether it came from the cache (no compiler was run, nor loaded for it). */
  cached: boolean;
  /** The cache key (hex sha256). */
  key: string;
  /** clang's warnings (and their notes), positions mapped like a CompileError's. */
  warnings: Diagnostic[];
  /** clang's output for those warnings, positions mapped; "" when there are none. */
  warningText: string;
}

/** Counters of this process's compile activity, for tests and benchmarks. */
export interface CompilerStats {
  /** Objects compiled by clang. */
  compiles: number;
  /** Objects served from the cache. */
  cacheHits: number;
  /** Cache entries found corrupt (deleted, then recompiled). */
  corruptEntries: number;
  /** vmlinux.h files this process generated from the kernel BTF. */
  vmlinuxBuilds: number;
  /** Precompiled headers this process built. */
  pchBuilds: number;
  /** Whether this process opened the compiler library (LLVM itself only runs in children). */
  libraryLoaded: boolean;
}

const stats = { compiles: 0, cacheHits: 0, corruptEntries: 0 };

/**
 * This process's compile counters: a cache hit leaves `compiles` unchanged and does not load
 * the compiler library.
 *
 * @example Observing a cache hit
 * ```ts
 * import { compile, compilerStats } from "./mod.ts";
 * await compile(`int x;`);
 * const before = compilerStats().compiles;
 * await compile(`int x;`);
 * console.log(compilerStats().compiles === before); // true
 * ```
 */
export function compilerStats(): CompilerStats {
  return { ...stats, ...buildStats, libraryLoaded: compilerLibLoaded() };
}

/** The status of a compile whose C clang rejected. */
const EINVAL = -22;
const DEFAULT_NAME = "/bpfpm/script.bpf.c";
const PCH_SAFE = /^-(D|U|I|W|w$)/;

/**
 * Whether normalized cflags leave the language and target as the PCH was built (`-I dir`
 * counts as one flag).
 */
function pchSafe(cflags: readonly string[]): boolean {
  for (let i = 0; i < cflags.length; i++) {
    if (cflags[i] === "-target-cpu" && cflags[i + 1] === TARGET_CPU) i++;
    else if (!PCH_SAFE.test(cflags[i])) return false;
    else if (/^-[DUI]$/.test(cflags[i])) i++;
  }
  return true;
}

/** The file name diagnostics give the prelude. */
const PRELUDE_NAME = "<bpfpm prelude>";

/**
 * Relative -I paths made absolute, so the key does not depend on the working directory;
 * clang's `-mcpu=X` as the `-target-cpu X` of cc1 (after bpfpm's own, so it wins).
 */
function normalizeCflags(cflags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < cflags.length; i++) {
    const f = cflags[i];
    if (typeof f !== "string") {
      throw new TypeError(`cflags[${i}] must be a string, got ${typeof f}`);
    }
    if (f === "-I" && i + 1 < cflags.length) {
      out.push(f, absolute(cflags[++i]));
    } else if (f.startsWith("-I") && f.length > 2) {
      out.push(`-I${absolute(f.slice(2))}`);
    } else if (f.startsWith("-mcpu=")) {
      const cpu = bpfCpuOf(f);
      if (cpu === undefined) {
        throw new TypeError(
          `cflags[${i}] ${
            JSON.stringify(f)
          } names no BPF CPU clang 14 knows: use -mcpu=v3 (the default), v2, v1, generic or probe`,
        );
      }
      out.push("-target-cpu", cpu);
    } else {
      out.push(f);
    }
  }
  return out;
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}

/**
 * Compiles BPF C to a BPF ELF object (`-target bpf -O2 -g`, CO-RE, vmlinux.h and libbpf's
 * `bpf_helpers.h`, `bpf_tracing.h`, `bpf_core_read.h`, `bpf_endian.h` already included), using
 * the compile cache: a hit reads one file and opens no compiler library. A miss compiles in
 * a forked child, so LLVM never enters this process.
 *
 * @param source the C source text
 * @param options flags, where the source sits in the user's file, cache control
 * @returns the object, whether it came from the cache, and its cache key
 * @throws {CompileError} when clang rejects the C (positions mapped into `options.file`)
 * @throws {TypeError} when an argument has the wrong type
 *
 * @example Compiling a tracepoint program
 * ```ts
 * import { compile } from "./mod.ts";
 * const { object, cached } = await compile(`
 *   SEC("tracepoint/syscalls/sys_enter_getppid")
 *   int hello(void *ctx) { bpf_printk("hi"); return 0; }
 *   char LICENSE[] SEC("license") = "GPL";
 * `);
 * console.log(object.length > 0, cached);
 * ```
 */
export async function compile(
  source: string,
  options: CompileOptions = {},
): Promise<CompileResult> {
  try {
    return await compileOrThrow(source, options);
  } catch (error) {
    throw await namePermission(error);
  }
}

const ACTION: Record<string, string> = {
  read: "read",
  write: "write",
  env: "read the environment variable",
  ffi: "load the native library",
  sys: "read the system information",
};

/**
 * The directory to grant for a path: the one compilePermissions() lists that holds it (so
 * one flag covers all of libbpf's headers, say), else the path's own directory.
 */
async function permissionRoot(path: string): Promise<string> {
  // Only an error path needs the list: a warm start does not load it.
  const { compilePermissions } = await import("./permissions.ts");
  try {
    for (const p of compilePermissions()) {
      const dir = p.descriptor.name === "read" ? p.descriptor.path : undefined;
      if (
        typeof dir === "string" && (path === dir || path.startsWith(`${dir}/`))
      ) {
        return dir;
      }
    }
  } catch {
    // Without env access the cache root is unknown: fall back to the path's directory.
  }
  return path.includes("/")
    ? path.slice(0, path.lastIndexOf("/")) || "/"
    : path;
}

/** Deno's missing-permission error, restated with the exact flag that grants it. */
async function namePermission(error: unknown): Promise<unknown> {
  if (!isPermissionDenied(error)) return error;
  const m = /Requires (\w+) access to "([^"]*)"/.exec((error as Error).message);
  if (!m) return error;
  if (m[1] === "all") {
    return new DenoPermissionError(
      `Deno only lets a script read ${
        m[2]
      } (under /proc or /sys) with all permissions, and compiling BPF C needs it: run deno with --allow-all (-A)`,
      { flag: "--allow-all", cause: error },
    );
  }
  const flag = `--allow-${m[1]}=${
    m[1] === "read" || m[1] === "write" ? await permissionRoot(m[2]) : m[2]
  }`;
  return new DenoPermissionError(
    `Deno may not ${ACTION[m[1]] ?? m[1]} ${
      m[2]
    }, which compiling BPF C needs: run deno with ${flag} (or -A)`,
    { flag, cause: error },
  );
}

async function compileOrThrow(
  source: string,
  options: CompileOptions,
): Promise<CompileResult> {
  if (typeof source !== "string") {
    throw new TypeError(`source must be a string, got ${typeof source}`);
  }
  if (options.name !== undefined && typeof options.name !== "string") {
    throw new TypeError(
      `options.name must be a string, got ${typeof options.name}`,
    );
  }
  const name = options.name ? absolute(options.name) : DEFAULT_NAME;
  for (const k of ["lineOffset", "columnOffset"] as const) {
    const v = options[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new RangeError(`options.${k} must be an integer >= 1, got ${v}`);
    }
  }
  const cflags = normalizeCflags(options.cflags ?? []);
  const usePch = pchSafe(cflags);

  const root = cacheRoot(options.cacheDir);
  checkRootOwnership(root);
  const libPath = compilerLibPath();
  const compiler = compilerIdentity(libPath);
  const { btf, boot } = await kernelBtfHash(root);
  const base = baseArgs(root, btf);
  const pch = usePch ? await pchPath(root, btf, compiler) : undefined;
  const vmlinuxH = `${base[3]}/vmlinux.h`;
  const args = pch
    ? [...base, "-include-pch", pch, ...cflags]
    : [...base, "-include", vmlinuxH, "-include", "bpfpm.h", ...cflags];
  const text = options.prelude
    ? `#line 1 "${PRELUDE_NAME}"\n${options.prelude}\n#line 1 ${
      JSON.stringify(name)
    }\n${source}`
    : source;
  const key = await objectKey({ compiler, btf, args, name, source: text });

  const mapping = {
    name,
    file: options.file,
    lineOffset: options.lineOffset,
    columnOffset: options.columnOffset,
    positions: options.positions,
  };
  const result = (object: Uint8Array, cached: boolean, diagnostics: string) => {
    const mapped = mapDiagnostics(diagnostics, mapping);
    return {
      object,
      cached,
      key,
      warnings: mapped.diagnostics,
      warningText: mapped.diagnostics.length ? mapped.text : "",
    };
  };

  if (!options.noCache) {
    const hit = await readEntry(root, key);
    if ("object" in hit) {
      stats.cacheHits++;
      return result(hit.object, true, hit.diagnostics);
    }
    if (hit.miss === "corrupt") stats.corruptEntries++;
  }

  const lib = compilerLib();
  let pchDeps = pch
    ? await ensurePch(lib, root, btf, pch)
    : (await ensureVmlinuxH(lib, root, btf), []);
  let r = await runCompile(lib, "object", { source: text, name, args });
  stats.compiles++;
  // A crash at a place in the source is the compiler's bug on that C, not a damaged PCH.
  const pchBroken = r.status === EINVAL
    ? r.diagnostics.includes(pch ?? "\0")
    : r.status !== 0 &&
      !crashError(r.error, source, mapping)?.diagnostics.length;
  if (pch && pchBroken) {
    // The PCH is unreadable (damaged, or its inputs changed under it) or clang crashed on
    // it: rebuild it once and retry.
    pchDeps = await ensurePch(lib, root, btf, pch, { rebuild: true });
    r = await runCompile(lib, "object", { source: text, name, args });
    stats.compiles++;
  }
  if (r.status === EINVAL) {
    throw CompileError.fromClang(r.diagnostics, mapping);
  }
  if (r.status !== 0) {
    const crash = crashError(r.error, source, mapping);
    if (crash) throw crash;
    throw new Error(
      `The BPF compiler failed to run: ${r.error}; run ./scripts/setup.sh to repair the LLVM 14 install`,
    );
  }
  if (!options.noCache) {
    const deps = new Map<string, Dep>();
    for (const d of pchDeps) deps.set(d[0], d);
    for (const p of r.deps) {
      const fp = fingerprint(p);
      if (fp) deps.set(p, fp);
    }
    try {
      await writeEntry(root, key, {
        object: r.object,
        deps: [...deps.values()],
        diagnostics: r.diagnostics,
      });
      // Loaded only after a miss, which is slow anyway.
      const { pruneCache } = await import("./_prune.ts");
      pruneCache(root, {
        kernel: kernelDirName(btf),
        boot,
        pch: pch?.split("/").at(-2),
      });
    } catch (error) {
      // The object is good; a cache that cannot take it (disk full, read-only) only costs
      // the next start a compile. A missing Deno permission is the user's to fix, though.
      if (error instanceof Deno.errors.NotCapable) throw error;
    }
  }
  return result(r.object, false, r.diagnostics);
}
