/**
 * npm's `dist.integrity` strings (SRI, `sha512-<base64>`) without `node:crypto` or
 * `node:buffer`: the sha512 part's hex (the cache's address) and an integrity computed with
 * Web Crypto, for `bpfpm run` of an installed package, whose start loads no `node:*` module
 * (runtime/_path.ts says why). digests.ts computes the same integrity synchronously.
 *
 * @module
 */

/** Bytes from base64 as `node:buffer` decodes it: both alphabets, up to the first `=`, other characters skipped. */
function base64Bytes(text: string): Uint8Array {
  const clean = text.split("=")[0].replaceAll("-", "+").replaceAll("_", "/")
    .replace(/[^A-Za-z0-9+/]/g, "");
  const bin = atob(
    clean.slice(0, clean.length - (clean.length % 4 === 1 ? 1 : 0)),
  );
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * The integrity string of a sha512 digest.
 *
 * @param digest the 64 bytes of a sha512
 * @returns `sha512-<base64>`
 *
 * @example
 * ```ts
 * import { sha512Integrity } from "./integrity.ts";
 * sha512Integrity(new Uint8Array(64)).slice(0, 10); // "sha512-AAA"
 * ```
 */
export function sha512Integrity(digest: Uint8Array): string {
  return "sha512-" + btoa(String.fromCharCode(...digest));
}

/**
 * The `sha512-<base64>` integrity of bytes, computed with Web Crypto.
 *
 * @param bytes the bytes (a tarball)
 * @returns their integrity string
 *
 * @example
 * ```ts
 * import { integrityOfBytes } from "./integrity.ts";
 * await integrityOfBytes(new TextEncoder().encode("x")); // "sha512-…"
 * ```
 */
export async function integrityOfBytes(bytes: Uint8Array): Promise<string> {
  return sha512Integrity(
    new Uint8Array(
      await crypto.subtle.digest("SHA-512", bytes as Uint8Array<ArrayBuffer>),
    ),
  );
}

/**
 * The hex sha512 of an SRI string's sha512 part, or a TypeError.
 *
 * @param integrity an SRI string (several space-separated hashes allowed)
 * @returns 128 hex digits
 *
 * @example
 * ```ts
 * import { sha512Hex, sha512Integrity } from "./integrity.ts";
 * sha512Hex(sha512Integrity(new Uint8Array(64))).length; // 128
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
  const hex = Array.from(
    base64Bytes(part.slice(7)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  if (hex.length !== 128) {
    throw new TypeError(`Integrity ${JSON.stringify(integrity)} is malformed`);
  }
  return hex;
}
