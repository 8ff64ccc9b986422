/**
 * Tarball digests as npm carries them: `dist.integrity` (sha512, SRI) and
 * `dist.shasum` (sha1, hex). The registry computes them at publish, the client checks
 * downloads and addresses its cache by them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

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
  return "sha512-" + createHash("sha512").update(bytes).digest("base64");
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

/**
 * The hex sha512 of an SRI string's sha512 part, or a TypeError.
 *
 * @example
 * ```ts
 * import { integrityOf, sha512Hex } from "./digests.ts";
 * sha512Hex(integrityOf(new Uint8Array())).length; // 128
 * ```
 */
export function sha512Hex(integrity: string): string {
  const part = integrity.split(/\s+/).find((p) => p.startsWith("sha512-"));
  if (!part) {
    throw new TypeError(
      `Integrity ${
        JSON.stringify(integrity)
      } has no sha512; bpfpm accepts only sha512 integrity`,
    );
  }
  const hex = Buffer.from(part.slice(7), "base64").toString("hex");
  if (hex.length !== 128) {
    throw new TypeError(`Integrity ${JSON.stringify(integrity)} is malformed`);
  }
  return hex;
}
