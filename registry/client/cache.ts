/**
 * The content-addressed cache: tarballs stored by their sha512
 * (`content/sha512/ab/abcdef…`), each unpacked once into `pkgs/<sha512-hex>/`, from which
 * installs hard-link their files. Every write goes to a temporary name and is renamed into
 * place, so a reader never sees a partial entry and an interrupted write leaves only garbage
 * that `cache clean` removes.
 *
 * @module
 */
import { dirname, join, resolve, sep } from "../../runtime/_path.ts";
import {
  exists,
  fileHolds,
  namesIn,
  removeIfThere,
} from "../../runtime/_fs.ts";
import { importLater } from "../../runtime/_import_later.ts";
import type { TarballEntry } from "../pack/mod.ts";
import { integrityOfBytes, sha512Hex } from "../common/integrity.ts";
import { ClientError, IntegrityError } from "./errors.ts";

/** The tarball reader: an npm package, loaded only by the calls that read a tarball. */
function pack(): Promise<typeof import("../pack/mod.ts")> {
  return importLater(new URL("../pack/mod.ts", import.meta.url));
}

let tmpCounter = 0;
function tmpName(path: string): string {
  return `${path}.tmp-${Deno.pid}-${++tmpCounter}-${
    Math.random().toString(36).slice(2, 8)
  }`;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const e of Deno.readDirSync(dir)) {
    n += e.isDirectory ? countFiles(join(dir, e.name)) : 1;
  }
  return n;
}

/**
 * Masks a tarball mode: 0o755 when any execute bit is set, else 0o644.
 *
 * @example
 * ```ts
 * import { maskMode } from "./cache.ts";
 * maskMode(0o4777); // 0o755
 * maskMode(0o666); // 0o644
 * ```
 */
export function maskMode(mode: number): number {
  return mode & 0o111 ? 0o755 : 0o644;
}

/**
 * Writes inspected tarball entries under `root` (stripping `package/`): regular files and
 * directories only, modes masked, every path checked to stay inside `root`.
 *
 * @example
 * ```ts
 * import { inspectTarball } from "../pack/mod.ts";
 * import { writeEntries } from "./cache.ts";
 * const { entries } = await inspectTarball(await Deno.readFile("x.tgz"));
 * writeEntries(entries, "/tmp/x");
 * ```
 */
export function writeEntries(entries: TarballEntry[], root: string): void {
  const base = resolve(root);
  // Deno's own calls (node:fs's wrappers cost several times more per file), and each
  // directory made once.
  const made = new Set<string>();
  const mkdir = (dir: string) => {
    if (made.has(dir)) return;
    Deno.mkdirSync(dir, { recursive: true, mode: 0o755 });
    made.add(dir);
  };
  mkdir(base);
  for (const e of entries) {
    const rel = e.path.replace(/^package\//, "");
    if (!rel || rel === "package") continue;
    const target = resolve(base, rel);
    if (!target.startsWith(base + sep)) {
      throw new RangeError(
        `Entry ${
          JSON.stringify(e.path)
        } would land outside the package directory`,
      );
    }
    try {
      if (e.type === "directory") {
        mkdir(target);
        continue;
      }
      mkdir(dirname(target));
      Deno.writeFileSync(target, e.data ?? new Uint8Array(), {
        mode: maskMode(e.mode),
        createNew: true,
      });
    } catch (cause) {
      const code = (cause as { code?: string }).code;
      if (code !== "EEXIST" && code !== "ENOTDIR" && code !== "EISDIR") {
        throw cause;
      }
      // inspectTarball refuses such tarballs; this holds if a tarball gets here anyway.
      throw new ClientError(
        "EEXTRACT",
        `Entry ${
          JSON.stringify(e.path)
        } clashes on disk with another entry (${code}): a tarball cannot hold a file and a directory of one name, or one file twice`,
        { cause },
      );
    }
  }
}

/**
 * The content-addressed tarball cache.
 *
 * @example
 * ```ts
 * import { ContentCache } from "./cache.ts";
 * const cache = new ContentCache("/tmp/bpfpm-cache");
 * const integrity = await cache.put(new TextEncoder().encode("hello"));
 * console.log((await cache.get(integrity))?.length);
 * ```
 */
export class ContentCache {
  #dir: string;

  /**
   * Opens a cache.
   *
   * @param dir the cache directory (created on first write)
   */
  constructor(dir: string) {
    if (typeof dir !== "string" || !dir) {
      throw new TypeError("Cache directory must be a non-empty path");
    }
    this.#dir = dir;
  }

  #trusted = false;

  /**
   * Creates the cache root private (0700) or checks an existing one: a root that another
   * user owns or that group or others may write could hold planted unpacked trees.
   */
  #root(): void {
    if (this.#trusted) return;
    Deno.mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const st = Deno.statSync(this.#dir);
    const uid = Deno.uid();
    const mode = st.mode ?? 0;
    if ((uid !== null && st.uid !== uid) || (mode & 0o022)) {
      throw new ClientError(
        "ECACHE",
        `The cache ${this.#dir} is ${
          mode & 0o022 ? "writable by other users" : `owned by uid ${st.uid}`
        }, so its contents cannot be trusted: run chmod go-w ${this.#dir} (and chown it), or set BPFPM_CACHE_DIR to a private directory`,
      );
    }
    this.#trusted = true;
  }

  /** The cache directory. */
  get dir(): string {
    return this.#dir;
  }

  /** Where a tarball with this integrity is stored. */
  contentPath(integrity: string): string {
    const hex = sha512Hex(integrity);
    return join(this.#dir, "content", "sha512", hex.slice(0, 2), hex);
  }

  /** Where the tarball with this integrity is unpacked. */
  unpackedPath(integrity: string): string {
    return join(this.#dir, "pkgs", sha512Hex(integrity));
  }

  /** Whether the tarball is cached (unverified; `get` verifies). */
  has(integrity: string): boolean {
    return exists(this.contentPath(integrity));
  }

  /**
   * The cached bytes, verified against the integrity; a corrupt entry is removed and
   * `undefined` returned, so the caller fetches it again.
   */
  async get(integrity: string): Promise<Uint8Array | undefined> {
    this.#root();
    const path = this.contentPath(integrity);
    // A miss is the common case of a first install: no exception for it.
    if (!exists(path)) return undefined;
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch {
      return undefined;
    }
    if (sha512Hex(await integrityOfBytes(bytes)) !== sha512Hex(integrity)) {
      removeIfThere(path);
      removeIfThere(this.unpackedPath(integrity), { recursive: true });
      return undefined;
    }
    return bytes;
  }

  /**
   * Stores bytes; with `expected`, refuses (IntegrityError, nothing written) bytes whose
   * sha512 differs.
   *
   * @returns the integrity of the stored bytes
   */
  async put(
    bytes: Uint8Array,
    expected?: { integrity: string; spec: string },
  ): Promise<string> {
    this.#root();
    const actual = await integrityOfBytes(bytes);
    if (expected && sha512Hex(expected.integrity) !== sha512Hex(actual)) {
      throw new IntegrityError(expected.spec, expected.integrity, actual);
    }
    const path = this.contentPath(actual);
    if (!exists(path)) {
      Deno.mkdirSync(dirname(path), { recursive: true });
      const tmp = tmpName(path);
      Deno.writeFileSync(tmp, bytes);
      Deno.renameSync(tmp, path);
    }
    return actual;
  }

  /**
   * Unpacks a cached tarball once (checked by `inspectTarball`: hostile tarballs throw a
   * TarballError and nothing is kept) and returns the directory and its package.json.
   */
  async unpack(
    integrity: string,
    bytes?: Uint8Array,
  ): Promise<
    {
      dir: string;
      packageJson: Record<string, unknown>;
      entries?: TarballEntry[];
    }
  > {
    this.#root();
    const dir = this.unpackedPath(integrity);
    const pj = join(dir, "package.json");
    if (exists(pj)) {
      return { dir, packageJson: JSON.parse(Deno.readTextFileSync(pj)) };
    }
    const data = bytes ?? await this.get(integrity);
    if (!data) {
      throw new RangeError(
        `Tarball ${integrity.slice(0, 20)}… is not in the cache`,
      );
    }
    // Loaded here only: a warm install never parses a tarball.
    const { inspectTarball } = await pack();
    const { entries, packageJson } = await inspectTarball(data);
    const tmp = tmpName(dir);
    try {
      writeEntries(entries, tmp);
      Deno.mkdirSync(dirname(dir), { recursive: true });
      try {
        Deno.renameSync(tmp, dir);
      } catch (e) {
        // Another process unpacked the same tarball first: theirs is identical.
        if (!exists(pj)) throw e;
      }
    } finally {
      removeIfThere(tmp, { recursive: true });
    }
    return { dir, packageJson, entries };
  }

  /** The checks recorded for a tarball (see `writeMeta`), if any. */
  readMeta<T>(integrity: string): T | undefined {
    const path = this.unpackedPath(integrity) + ".json";
    if (!exists(path)) return undefined;
    try {
      return JSON.parse(Deno.readTextFileSync(path));
    } catch {
      return undefined;
    }
  }

  /**
   * Records the outcome of checks that depend only on a tarball's bytes (manifest
   * validation, publisher signature), so a warm install need not repeat them.
   */
  writeMeta(integrity: string, meta: unknown): void {
    const path = this.unpackedPath(integrity) + ".json";
    Deno.mkdirSync(dirname(path), { recursive: true });
    const tmp = tmpName(path);
    Deno.writeTextFileSync(tmp, JSON.stringify(meta));
    Deno.renameSync(tmp, path);
  }

  /**
   * Re-hashes every cached tarball, removing corrupt ones; compares each unpacked tree with
   * its tarball (installs hard-link from it, so an installed file edited in place changes
   * it too), removing trees that differ; removes trees whose tarball is gone and leftovers
   * of interrupted writes. The next install unpacks afresh what was removed.
   *
   * @returns counts of tarballs checked and of entries removed
   */
  async verify(): Promise<{ checked: number; removed: number }> {
    let checked = 0;
    let removed = 0;
    const root = join(this.#dir, "content", "sha512");
    const valid = new Map<string, string>();
    for (const sub of namesIn(root)) {
      for (const name of namesIn(join(root, sub))) {
        const path = join(root, sub, name);
        checked++;
        const hex = sha512Hex(await integrityOfBytes(Deno.readFileSync(path)));
        if (hex !== name) {
          removeIfThere(path);
          removed++;
        } else valid.set(hex, path);
      }
    }
    const { inspectTarball } = await pack();
    const pkgs = join(this.#dir, "pkgs");
    for (const name of namesIn(pkgs)) {
      const hex = name.replace(/\.json$/, "");
      const tarball = valid.get(hex);
      let keep = tarball !== undefined && !name.includes(".tmp-");
      if (keep && !name.endsWith(".json")) {
        const { entries } = await inspectTarball(Deno.readFileSync(tarball!));
        const dir = join(pkgs, name);
        const files = entries.filter((e) => e.type === "file");
        keep = files.every((e) =>
          fileHolds(
            join(dir, e.path.replace(/^package\//, "")),
            e.data ?? new Uint8Array(),
          )
        ) && countFiles(dir) === files.length;
      }
      if (!keep) {
        removeIfThere(join(pkgs, name), { recursive: true });
        removed++;
      }
    }
    return { checked, removed };
  }

  /** Removes the whole cache. */
  clean(): void {
    removeIfThere(this.#dir, { recursive: true });
  }

  /** Total bytes of cached tarballs. */
  size(): number {
    let total = 0;
    const root = join(this.#dir, "content", "sha512");
    for (const sub of namesIn(root)) {
      for (const name of namesIn(join(root, sub))) {
        total += Deno.statSync(join(root, sub, name)).size;
      }
    }
    return total;
  }
}
