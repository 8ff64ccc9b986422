/**
 * Proves a probe's BPF C compiles before it is published, without root. One swappable
 * function: it uses the runtime's in-process compiler (`runtime/compile/mod.ts`,
 * `compile`) when that loads, and otherwise the clang CLI
 * (`clang -target bpf -O2 -g -c`) with a vmlinux.h generated from the kernel's BTF into
 * the cache.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ClientError } from "./errors.ts";

/** How a source was checked. */
export interface CompileCheckResult {
  /** Which compiler ran. */
  via: "runtime" | "clang";
  /** Size of the object produced. */
  objectBytes: number;
}

type RuntimeCompile = (
  source: string,
  options: { file?: string; name?: string; cacheDir?: string },
) => Promise<{ object: Uint8Array }>;

let runtimeCompile: Promise<RuntimeCompile | undefined> | undefined;

function loadRuntimeCompiler(): Promise<RuntimeCompile | undefined> {
  if (Deno.env.get("BPFPM_COMPILE_WITH") === "clang") {
    return Promise.resolve(undefined);
  }
  runtimeCompile ??= import("../../runtime/compile/mod.ts")
    .then((m: Record<string, unknown>) =>
      (m.compileCheck ?? m.compile) as RuntimeCompile | undefined
    )
    .catch(() => undefined);
  return runtimeCompile;
}

async function vmlinuxDir(cacheDir: string): Promise<string> {
  const btf = "/sys/kernel/btf/vmlinux";
  if (!existsSync(btf)) {
    throw new ClientError(
      "ECOMPILE",
      `${btf} is missing, so vmlinux.h cannot be generated; publish from a machine whose kernel has BTF`,
    );
  }
  const hash = createHash("sha256").update(readFileSync(btf)).digest("hex")
    .slice(0, 16);
  const dir = join(cacheDir, "vmlinux", hash);
  if (existsSync(join(dir, "vmlinux.h"))) return dir;
  const out = await new Deno.Command("bpftool", {
    args: ["btf", "dump", "file", btf, "format", "c"],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((cause) => {
    throw new ClientError(
      "ECOMPILE",
      "bpftool is not installed, so vmlinux.h cannot be generated; apt-get install -y bpftool",
      { cause },
    );
  });
  if (!out.success) {
    throw new ClientError(
      "ECOMPILE",
      `bpftool could not dump the kernel BTF: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `vmlinux.h.${Deno.pid}.tmp`);
  writeFileSync(tmp, out.stdout);
  renameSync(tmp, join(dir, "vmlinux.h"));
  return dir;
}

async function clangCheck(
  path: string,
  cacheDir: string,
): Promise<CompileCheckResult> {
  const inc = await vmlinuxDir(cacheDir);
  const obj = join(cacheDir, `check-${Deno.pid}-${Date.now()}.o`);
  try {
    const out = await new Deno.Command("clang", {
      args: [
        "-target",
        "bpf",
        "-O2",
        "-g",
        "-D__TARGET_ARCH_x86",
        "-I",
        inc,
        "-I/usr/include",
        "-c",
        path,
        "-o",
        obj,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output().catch((cause) => {
      throw new ClientError(
        "ECOMPILE",
        "clang is not installed; apt-get install -y clang",
        { cause },
      );
    });
    if (!out.success) {
      const diag = new TextDecoder().decode(out.stderr).trim().split("\n")
        .slice(0, 20).join("\n");
      throw new ClientError(
        "ECOMPILE",
        `${path} does not compile, so it was not published:\n${diag}`,
      );
    }
    return { via: "clang", objectBytes: readFileSync(obj).length };
  } finally {
    rmSync(obj, { force: true });
  }
}

/**
 * Compiles one BPF C file to check it builds; throws a ClientError with the compiler's
 * diagnostics when it does not.
 *
 * @param path the C file
 * @param cacheDir where vmlinux.h and the compiler's cache live
 *
 * @example
 * ```ts
 * import { compileCheck } from "./compile_check.ts";
 * const r = await compileCheck("probes/tcplife/tcplife.bpf.c", "/tmp/bpfpm-cache");
 * console.log(r.via, r.objectBytes);
 * ```
 */
export async function compileCheck(
  path: string,
  cacheDir: string,
): Promise<CompileCheckResult> {
  const compile = await loadRuntimeCompiler();
  if (compile) {
    let object: Uint8Array | undefined;
    try {
      ({ object } = await compile(readFileSync(path, "utf8"), {
        file: path,
        name: path,
        cacheDir,
      }));
    } catch (e) {
      if ((e as Error).name === "CompileError") {
        throw new ClientError(
          "ECOMPILE",
          `${path} does not compile, so it was not published:\n${
            (e as Error).message
          }`,
          {
            cause: e,
          },
        );
      }
      // The in-process compiler is unavailable here (library not built): use clang.
    }
    if (object) return { via: "runtime", objectBytes: object.length };
  }
  return await clangCheck(path, cacheDir);
}
