/**
 * Small file helpers on Deno's own calls, with `node:fs`'s meaning where they replace it,
 * for the modules on `bpfpm run`'s start-up path (registry/client/ and the sandbox's): any
 * `node:*` import starts Deno's Node layer, 15–25 ms of every start (runtime/_path.ts says
 * more).
 *
 * @module
 */

/**
 * Whether `path` exists (following symlinks), as `node:fs`'s `existsSync`: any error,
 * not only NotFound, counts as absent.
 *
 * @param path a path
 * @returns true when `stat` succeeds
 *
 * @example
 * ```ts
 * import { exists } from "./_fs.ts";
 * console.log(exists("/etc"), exists("/no/such/path")); // true false
 * ```
 */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * `lstat` of `path` (the link itself), or undefined when nothing is there; any other
 * error is thrown.
 *
 * @param path a path
 * @returns its file info, or undefined
 *
 * @example
 * ```ts
 * import { lstatOrUndefined } from "./_fs.ts";
 * console.log(lstatOrUndefined("/no/such/path")); // undefined
 * ```
 */
export function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/**
 * Removes `path` (with `recursive`, a whole tree) if it is there, as `node:fs`'s
 * `rmSync(path, { force: true })`: nothing there is not an error, anything else is thrown.
 *
 * @param path a path
 * @param options `recursive` removes a directory and everything in it
 *
 * @example
 * ```ts
 * import { removeIfThere } from "./_fs.ts";
 * removeIfThere("/tmp/no-such-dir", { recursive: true });
 * ```
 */
export function removeIfThere(
  path: string,
  options: { recursive?: boolean } = {},
): void {
  try {
    Deno.removeSync(path, { recursive: !!options.recursive });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * The names in a directory, sorted as `node:fs`'s `readdirSync` gives them, or none when
 * the directory is not there (`existsSync(dir) ? readdirSync(dir) : []`).
 *
 * @param dir a directory
 * @returns its entries' names
 *
 * @example
 * ```ts
 * import { namesIn } from "./_fs.ts";
 * console.log(namesIn("/no/such/dir")); // []
 * ```
 */
export function namesIn(dir: string): string[] {
  if (!exists(dir)) return [];
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/**
 * Whether `path` is a regular file (following symlinks) holding exactly `data`: false when
 * it is missing, unreadable or anything but a file.
 *
 * @param path a path
 * @param data the expected bytes
 * @returns true when the file's bytes equal `data`
 *
 * @example
 * ```ts
 * import { fileHolds } from "./_fs.ts";
 * console.log(fileHolds("/no/such/file", new Uint8Array())); // false
 * ```
 */
export function fileHolds(path: string, data: Uint8Array): boolean {
  let bytes: Uint8Array;
  try {
    if (!Deno.statSync(path).isFile) return false;
    bytes = Deno.readFileSync(path);
  } catch {
    return false;
  }
  if (bytes.length !== data.length) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== data[i]) return false;
  return true;
}
