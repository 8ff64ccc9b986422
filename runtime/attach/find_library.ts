/**
 * Resolving a library or program name to a file the way BCC's `find_library` does: the
 * dynamic linker's cache (/etc/ld.so.cache) first, then the standard library directories, and
 * for a bare program name, `PATH`.
 *
 * @module
 */
import {
  DenoPermissionError,
  isPermissionDenied,
  withPermission,
} from "../errors.ts";

const CACHE_MAGIC = "glibc-ld.so.cache1.1";
/** ld.so.cache entry flags: the x86-64 ELF class (FLAG_X8664_LIB64). */
const FLAG_ARCH_MASK = 0xff00;
const FLAG_X8664_LIB64 = 0x0300;
const FLAG_AARCH64_LIB64 = 0x0a00;

const STANDARD_DIRS = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib64",
  "/usr/lib64",
  "/lib",
  "/usr/lib",
  "/usr/local/lib",
];

/** One library the dynamic linker's cache knows. */
export interface CachedLibrary {
  /** The soname-like key, e.g. `libc.so.6`. */
  name: string;
  /** Its path, e.g. `/lib/x86_64-linux-gnu/libc.so.6`. */
  path: string;
  /** The cache's flags (ELF class and architecture). */
  flags: number;
}

/**
 * Parses the new-format ld.so.cache (glibc 2.32+ writes only this; older files carry it after
 * the old table, which is skipped).
 *
 * @param bytes the cache file's bytes
 * @returns its entries in cache order (most preferred first)
 */
export function parseLdCache(bytes: Uint8Array): CachedLibrary[] {
  const text = new TextDecoder("latin1");
  let start = -1;
  for (let i = 0; i + CACHE_MAGIC.length <= bytes.length; i += 4) {
    if (
      bytes[i] === 0x67 &&
      text.decode(bytes.subarray(i, i + CACHE_MAGIC.length)) === CACHE_MAGIC
    ) {
      start = i;
      break;
    }
  }
  if (start < 0) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(start + 20, true);
  const entries: CachedLibrary[] = [];
  const headerSize = 48;
  const cstring = (off: number) => {
    // New-format string offsets count from the new header's start.
    const at = start + off;
    let end = at;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return text.decode(bytes.subarray(at, end));
  };
  for (let i = 0; i < count; i++) {
    const e = start + headerSize + i * 24;
    if (e + 24 > bytes.length) break;
    entries.push({
      flags: view.getInt32(e, true),
      name: cstring(view.getUint32(e + 4, true)),
      path: cstring(view.getUint32(e + 8, true)),
    });
  }
  return entries;
}

function hostFlag(): number {
  return Deno.build.arch === "aarch64" ? FLAG_AARCH64_LIB64 : FLAG_X8664_LIB64;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (isPermissionDenied(error)) throw error;
    return false;
  }
}

/** `c`, `libc`, `libc.so`, `libc.so.6` → `libc.so` (the prefix cache names start with). */
function libraryPrefix(name: string): string {
  let n = name;
  if (!n.startsWith("lib")) n = `lib${n}`;
  const so = n.indexOf(".so");
  return so < 0 ? `${n}.so` : n;
}

/**
 * Finds a shared library by name, like BCC's `find_library`: `c`, `libc`, `libc.so.6` all
 * give `/lib/x86_64-linux-gnu/libc.so.6` on Debian.
 *
 * @param name a library name without a directory
 * @returns its path, or `undefined` when neither the cache nor the standard directories have it
 *
 * @example Resolve libc
 * ```ts
 * import { findLibrary } from "./find_library.ts";
 * console.log(findLibrary("c")); // "/lib/x86_64-linux-gnu/libc.so.6"
 * ```
 */
export function findLibrary(name: string): string | undefined {
  if (typeof name !== "string" || name === "" || name.includes("/")) {
    throw new TypeError(
      `findLibrary expects a bare library name, got ${String(name)}`,
    );
  }
  const prefix = libraryPrefix(name);
  let cache: Uint8Array | undefined;
  try {
    cache = withPermission(
      "--allow-read=/etc/ld.so.cache",
      "read the dynamic linker cache",
      () => Deno.readFileSync("/etc/ld.so.cache"),
    );
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (cache) {
    const entries = parseLdCache(cache).filter((e) =>
      e.name === prefix || e.name.startsWith(`${prefix}.`) || e.name === name
    );
    const host = entries.find((e) => (e.flags & FLAG_ARCH_MASK) === hostFlag());
    const hit = host ?? entries[0];
    if (hit && isFile(hit.path)) return hit.path;
  }
  for (const dir of STANDARD_DIRS) {
    let names: string[];
    try {
      names = withPermission(
        `--allow-read=${dir}`,
        `list ${dir} to find library ${name}`,
        () => [...Deno.readDirSync(dir)].map((e) => e.name),
      );
    } catch (error) {
      if (isPermissionDenied(error) || error instanceof DenoPermissionError) {
        throw error;
      }
      continue;
    }
    const match = names.filter((n) =>
      n === prefix || n.startsWith(`${prefix}.`)
    )
      .sort((a, b) => a.length - b.length)[0];
    if (match) return `${dir}/${match}`;
  }
  return undefined;
}

/**
 * Resolves what a uprobe names as its binary: a path is taken as is; a bare name is looked up
 * as a library (`c`, `libssl`) and then on `PATH` (`bash`).
 *
 * @param name a path or a bare library/program name
 * @returns the absolute path, or `undefined` when nothing matches
 */
export function resolveBinary(name: string): string | undefined {
  if (name.includes("/")) return name;
  const lib = findLibrary(name);
  if (lib) return lib;
  let path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
  try {
    path = Deno.env.get("PATH") ?? path;
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
  }
  for (const dir of path.split(":")) {
    if (dir && isFile(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}
