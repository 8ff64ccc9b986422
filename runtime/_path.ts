/**
 * POSIX path helpers with `node:path`'s meaning (`join`, `resolve`, `dirname`, `basename`,
 * `extname`, `normalize`, `isAbsolute`, `relative`, `sep`) and file URL conversions, for the
 * modules on `bpfpm run`'s start-up path and the sandbox's.
 *
 * Written here rather than imported because importing any `node:*` module starts Deno's Node
 * compatibility layer, which costs 4–20 ms of every process start on this machine (measured:
 * `node:path` 5 ms, `node:fs` 20 ms over an empty script), and an `npm:` package (e.g.
 * pathe) 12 ms for the npm resolver; JSR's `@std/path` is not reachable. Paths here are
 * Linux paths only: `/`-separated, no drive letters.
 *
 * @example
 * ```ts
 * import { basename, join, resolve } from "./_path.ts";
 * console.log(join("/a/b", "../c", "d.ts")); // /a/c/d.ts
 * console.log(basename(resolve("x/y.ts"), ".ts")); // y
 * ```
 *
 * @module
 */

/** The path separator. */
export const sep = "/";

/**
 * Whether `path` is absolute (starts with `/`).
 *
 * @param path a path
 * @returns true when it starts with `/`
 *
 * @example
 * ```ts
 * import { isAbsolute } from "./_path.ts";
 * console.log(isAbsolute("/etc"), isAbsolute("etc")); // true false
 * ```
 */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** `.` and `..` resolved in the segments of `path`; `..` above an absolute root is dropped. */
function normalSegments(path: string, absolute: boolean): string[] {
  const out: string[] = [];
  for (const s of path.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") {
      if (out.length && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(s);
  }
  return out;
}

/**
 * `path` with `.`, `..` and repeated slashes resolved; a trailing slash kept; `.` for empty.
 *
 * @param path a path
 * @returns the normal form
 *
 * @example
 * ```ts
 * import { normalize } from "./_path.ts";
 * console.log(normalize("/a//b/../c/.")); // /a/c
 * ```
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = isAbsolute(path);
  const trailing = path.endsWith("/");
  let out = normalSegments(path, absolute).join("/");
  if (!out && !absolute) out = ".";
  if (out && trailing) out += "/";
  return absolute ? `/${out}` : out;
}

/**
 * The paths joined with `/` and normalized (empty parts skipped).
 *
 * @param parts path segments
 * @returns the joined path (`.` when nothing is left)
 *
 * @example
 * ```ts
 * import { join } from "./_path.ts";
 * console.log(join("/var", "cache", "../lib")); // /var/lib
 * ```
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/**
 * The absolute path of `parts` resolved from right to left, then against the working
 * directory; no trailing slash (except `/`).
 *
 * @param parts path segments
 * @returns an absolute, normal path
 *
 * @example
 * ```ts
 * import { resolve } from "./_path.ts";
 * console.log(resolve("/a/b", "../c")); // /a/c
 * ```
 */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !isAbsolute(path); i--) {
    if (parts[i]) path = path ? `${parts[i]}/${path}` : parts[i];
  }
  if (!isAbsolute(path)) path = path ? `${Deno.cwd()}/${path}` : Deno.cwd();
  return `/${normalSegments(path, true).join("/")}`;
}

/**
 * The directory part of `path` (`.` for a bare name, `/` for the root).
 *
 * @param path a path
 * @returns its directory
 *
 * @example
 * ```ts
 * import { dirname } from "./_path.ts";
 * console.log(dirname("/a/b/c.ts"), dirname("c.ts")); // /a/b .
 * ```
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  // node:path's rule: the text before the slash that ends the last segment's run of slashes.
  let end = -1;
  let seenName = false;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (seenName) {
        end = i;
        break;
      }
    } else seenName = true;
  }
  if (end === -1) return isAbsolute(path) ? "/" : ".";
  return end === 1 && path.startsWith("//") ? "//" : path.slice(0, end);
}

/**
 * The last segment of `path`, without `suffix` when it ends with it (and is not only it).
 *
 * @param path a path
 * @param suffix an extension to strip
 * @returns the file name
 *
 * @example
 * ```ts
 * import { basename } from "./_path.ts";
 * console.log(basename("/a/b/c.ts", ".ts")); // c
 * ```
 */
export function basename(path: string, suffix?: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  const base = path.slice(path.lastIndexOf("/", end - 1) + 1, end);
  return suffix && base !== suffix && base.endsWith(suffix)
    ? base.slice(0, -suffix.length)
    : base;
}

/**
 * The extension of `path`'s last segment, from its last `.` (empty when none, or when the
 * name starts with its only dot).
 *
 * @param path a path
 * @returns e.g. `.ts`
 *
 * @example
 * ```ts
 * import { extname } from "./_path.ts";
 * console.log(extname("/a/b.bpf.c"), extname(".bashrc")); // .c ""
 * ```
 */
export function extname(path: string): string {
  const base = basename(path);
  const dot = base.lastIndexOf(".");
  return dot <= 0 || base === ".." ? "" : base.slice(dot);
}

/**
 * The path from `from` to `to` (both resolved first); empty when they are the same.
 *
 * @param from the start
 * @param to the destination
 * @returns a relative path
 *
 * @example
 * ```ts
 * import { relative } from "./_path.ts";
 * console.log(relative("/a/b/c", "/a/d")); // ../../d
 * ```
 */
export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
}

/**
 * The path of a `file:` URL, percent-decoded.
 *
 * @param url a `file:` URL
 * @returns its path
 * @throws {TypeError} when the URL is not a `file:` URL of this host
 *
 * @example
 * ```ts
 * import { fromFileUrl } from "./_path.ts";
 * console.log(fromFileUrl("file:///tmp/a%20b.ts")); // /tmp/a b.ts
 * ```
 */
export function fromFileUrl(url: string | URL): string {
  const u = url instanceof URL ? url : new URL(url);
  if (u.protocol !== "file:" || (u.host && u.host !== "localhost")) {
    throw new TypeError(`${u.href} is not a file: URL of this host`);
  }
  return decodeURIComponent(u.pathname);
}

/**
 * The `file:` URL of an absolute path (`%`, `#`, `?` and the rest percent-encoded).
 *
 * @param path an absolute path
 * @returns its URL
 * @throws {TypeError} when the path is not absolute
 *
 * @example
 * ```ts
 * import { toFileUrl } from "./_path.ts";
 * console.log(toFileUrl("/tmp/a#b.ts").href); // file:///tmp/a%23b.ts
 * ```
 */
export function toFileUrl(path: string): URL {
  if (!isAbsolute(path)) throw new TypeError(`${path} is not absolute`);
  const u = new URL("file:///");
  u.pathname = path.replace(/%/g, "%25").replace(/\\/g, "%5C")
    .replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/\t/g, "%09");
  return u;
}
