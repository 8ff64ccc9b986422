/**
 * What a sandboxed package's C may ask of the trusted side's compiler. clang runs with the
 * trusted side's rights, so the C must not make it read files the package may not: every
 * `#include` names a header by a literal, relative path (a system or runtime header, or a
 * file of the package), never an absolute path, `..`, or a macro; cflags only define
 * macros, choose warnings, optimisation or the BPF CPU.
 *
 * @module
 */
import { PermissionDeniedError } from "../policy/check.ts";
import { bpfCpuOf } from "../compile/_target.ts";

const SAFE_CFLAG =
  /^(-[DU][A-Za-z_][A-Za-z0-9_]*(=[^\n]*)?|-W[A-Za-z0-9=,_-]+|-O[0-3sz]?|-g|-w)$/;
const INCLUDE = /^\s*#\s*(include|include_next|import)\b(.*)$/;

function refuse(what: string, fix: string): never {
  throw new PermissionDeniedError(
    `Permission denied: ${what}, which a sandboxed package may not use: ${fix}`,
    { missingGrant: "none (the compiler runs with the trusted side's rights)" },
  );
}

/** The C with comments removed and continued lines joined (line count kept). */
function preprocessable(text: string): string[] {
  const joined = text.replace(/\\\r?\n/g, "");
  const noBlock = joined.replace(
    /\/\*[\s\S]*?\*\//g,
    (c) => c.replace(/[^\n]/g, " "),
  );
  return noBlock.split("\n").map((l) => l.replace(/\/\/.*$/, ""));
}

/**
 * Throws a PermissionDeniedError when the C or the flags could make the compiler read a
 * file outside the system's and the runtime's headers and the package.
 *
 * @param text the package's C (undefined for a compiled object)
 * @param cflags the extra clang flags
 * @param packageDir the package's directory (for messages)
 *
 * @example
 * ```ts
 * import { checkSandboxSource } from "./source_policy.ts";
 * checkSandboxSource('#include <vmlinux.h>\nint x;', ["-DN=1"], "/pkg"); // fine
 * ```
 */
export function checkSandboxSource(
  text: string | undefined,
  cflags: readonly unknown[] | undefined,
  packageDir: string,
): void {
  if (cflags !== undefined) {
    if (!Array.isArray(cflags)) {
      throw new TypeError("cflags must be an array of strings");
    }
    for (const f of cflags) {
      if (
        typeof f !== "string" || !(SAFE_CFLAG.test(f) || bpfCpuOf(f))
      ) {
        refuse(
          `the clang flag ${JSON.stringify(f)}`,
          "use only -D/-U macros, -W warnings, -O levels, -g and -mcpu=",
        );
      }
    }
  }
  if (text === undefined) return;
  if (typeof text !== "string" || text.length > 8 << 20) {
    throw new TypeError("the BPF C must be a string of at most 8 MiB");
  }
  const lines = preprocessable(text);
  for (const line of lines) {
    const m = INCLUDE.exec(line);
    if (!m) continue;
    const operand = m[2].trim();
    const literal = /^(<([^>]*)>|"([^"]*)")$/.exec(operand);
    const path = literal ? (literal[2] ?? literal[3]) : undefined;
    if (
      path === undefined || path.startsWith("/") ||
      path.split("/").includes("..")
    ) {
      refuse(
        `#${m[1]} ${operand}`,
        `include headers by a literal relative name (<vmlinux.h>, "my.h" in ${packageDir})`,
      );
    }
  }
}
