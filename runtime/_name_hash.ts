/**
 * A stable 64-bit hash of a string, for naming cache files and directories (not a secret,
 * and not an integrity check: whatever a name points at holds what it was made from, and
 * its user compares that in full). Written here because Web Crypto's digests are async and
 * a BigInt hash cost ~2 ms per start; the cache names of the warm start (runtime/_warm.ts)
 * and of the sandbox's bundle (runtime/sandbox/_bundle.ts) both come from it.
 *
 * @module
 */

/**
 * Two FNV-1a-style 32-bit lanes over the string's UTF-16 units, as 16 hex digits.
 *
 * @param text what the name stands for
 * @returns the name
 *
 * @example
 * ```ts
 * import { nameHash } from "./_name_hash.ts";
 * nameHash("/usr/lib/bpfpm/"); // 16 hex digits, the same on every run
 * ```
 */
export function nameHash(text: string): string {
  let lo = 0x811c9dc5;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    lo = Math.imul(lo ^ c, 0x01000193);
    hi = Math.imul(hi ^ c ^ (lo >>> 16), 0x01000193);
  }
  return (hi >>> 0).toString(16).padStart(8, "0") +
    (lo >>> 0).toString(16).padStart(8, "0");
}
