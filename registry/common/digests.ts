/**
 * Tarball digests as npm carries them: `dist.integrity` (sha512, SRI) and
 * `dist.shasum` (sha1, hex). The registry computes them at publish, the client checks
 * downloads and addresses its cache by them.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { sha512Integrity } from "./integrity.ts";

export { sha512Hex } from "./integrity.ts";

/**
 * The `sha512-<base64>` integrity of bytes.
 *
 * @example
 * ```ts
 * import { integrityOf } from "./digests.ts";
 * integrityOf(new TextEncoder().encode("x")); // "sha512-…"
 * ```
 */
export function integrityOf(bytes: Uint8Array): string {
  return sha512Integrity(createHash("sha512").update(bytes).digest());
}

/**
 * The sha1 hex digest npm's `dist.shasum` carries.
 *
 * @example
 * ```ts
 * import { shasumOf } from "./digests.ts";
 * shasumOf(new TextEncoder().encode("x")); // 40 hex digits
 * ```
 */
export function shasumOf(bytes: Uint8Array): string {
  return createHash("sha1").update(bytes).digest("hex");
}
