/**
 * The size caps the registry server enforces and the client applies to what it downloads,
 * in one place both import: a tarball the server would refuse at publish is refused by the
 * client before it is read whole, whoever serves it. Dependency-free, so the client's warm
 * start does not load the tarball parser to learn a number.
 *
 * @module
 */

/** Caps on one package tarball. */
export interface TarballLimits {
  /** Largest accepted tarball, compressed, in bytes. */
  maxCompressedSize: number;
  /** Largest accepted sum of file sizes, in bytes. */
  maxUnpackedSize: number;
  /** Most entries (files and directories). */
  maxFiles: number;
  /** Longest entry path, in bytes. */
  maxPathLength: number;
}

/**
 * The default caps: 16 MiB compressed, 64 MiB unpacked, 5,000 entries, 1 KiB paths.
 *
 * @example
 * ```ts
 * import { DEFAULT_TARBALL_LIMITS } from "./limits.ts";
 * console.log(DEFAULT_TARBALL_LIMITS.maxCompressedSize); // 16777216
 * ```
 */
export const DEFAULT_TARBALL_LIMITS: Readonly<TarballLimits> = Object.freeze({
  maxCompressedSize: 16 * 1024 * 1024,
  maxUnpackedSize: 64 * 1024 * 1024,
  maxFiles: 5000,
  maxPathLength: 1024,
});

/**
 * The largest package document (packument, full or abbreviated) in bytes, and the
 * largest JSON answer the client reads from a registry: 64 MiB, far above any real
 * package's (npm's largest are a few tens of MiB).
 *
 * @example
 * ```ts
 * import { MAX_PACKUMENT_SIZE } from "./limits.ts";
 * console.log(MAX_PACKUMENT_SIZE / 1024 / 1024); // 64
 * ```
 */
export const MAX_PACKUMENT_SIZE = 64 * 1024 * 1024;
