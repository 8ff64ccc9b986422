/**
 * Package names: the one set of rules the registry applies at publish and the client
 * applies to specs, lockfile entries and install paths (npm's rules for new names).
 *
 * @module
 */

/**
 * Why `name` is not a valid package name, or null when it is.
 *
 * @param name The name, `name` or `@scope/name`.
 * @param options `legacy`: allow the uppercase letters of names npm published before it
 * required lowercase (a lockfile or a packument may still carry one).
 * @returns The reason, as a phrase, or null.
 *
 * @example
 * ```ts
 * import { packageNameProblem } from "./names.ts";
 * packageNameProblem("@acme/tool"); // null
 * packageNameProblem("../../etc"); // "the package name starts with . or _"
 * ```
 */
export function packageNameProblem(
  name: string,
  options: { legacy?: boolean } = {},
): string | null {
  if (typeof name !== "string" || !name) return "the package name is empty";
  if (name.length > 214) {
    return "the package name is longer than 214 characters";
  }
  if (!options.legacy && name !== name.toLowerCase()) {
    return "the package name has uppercase letters";
  }
  if (/^[._]/.test(name)) return "the package name starts with . or _";
  if (/[~'!()*\s]/.test(name)) {
    return "the package name has a character npm forbids";
  }
  const m = /^@([^/]+)\/([^/]+)$/.exec(name);
  if (!m && name.includes("/")) {
    return "the package name has a / outside @scope/name";
  }
  const parts = m ? [m[1], m[2]] : [name];
  for (const p of parts) {
    if (encodeURIComponent(p) !== p) return "the package name is not URL-safe";
    if (p === "." || p === ".." || /^[._]/.test(p)) {
      return "the package name has a . or _ part";
    }
  }
  if (["node_modules", "favicon.ico"].includes(name)) {
    return "the package name is reserved";
  }
  return null;
}

/**
 * Whether `name` is a valid package name (legacy uppercase allowed): safe as a path
 * segment under `bpf_modules/` and in a URL.
 *
 * @example
 * ```ts
 * import { isPackageName } from "./names.ts";
 * isPackageName("@acme/tool"); // true
 * isPackageName("../../etc"); // false
 * ```
 */
export function isPackageName(name: string): boolean {
  return packageNameProblem(name, { legacy: true }) === null;
}

/**
 * The tarball file name npm uses: the name without its scope, `-`, the version, `.tgz`.
 *
 * @example
 * ```ts
 * import { tarballFilename } from "./names.ts";
 * tarballFilename("@acme/tool", "1.0.0"); // "tool-1.0.0.tgz"
 * ```
 */
export function tarballFilename(name: string, version: string): string {
  return `${unscopedName(name)}-${version}.tgz`;
}

/**
 * The part of a name after its scope.
 *
 * @example
 * ```ts
 * import { unscopedName } from "./names.ts";
 * unscopedName("@acme/tool"); // "tool"
 * ```
 */
export function unscopedName(name: string): string {
  return name.startsWith("@") ? name.slice(name.indexOf("/") + 1) : name;
}
