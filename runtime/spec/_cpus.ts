/**
 * The possible-CPU count per-CPU map sizes follow, in a module of its own so that the
 * warm start (runtime/_warm.ts) can check it without loading the object reader.
 *
 * @module
 */

/** The kernel sizes per-CPU maps by possible CPUs; online CPUs when that cannot be read. */
export function possibleCpus(): number {
  const path = "/sys/devices/system/cpu/possible";
  // Query first: a plain read without the permission would make Deno prompt.
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return navigator.hardwareConcurrency || 1;
  }
  try {
    let n = 0;
    for (
      const part of Deno.readTextFileSync(path)
        .trim().split(",")
    ) {
      const [a, b] = part.split("-").map(Number);
      n += b === undefined ? 1 : b - a + 1;
    }
    if (n > 0) return n;
  } catch {
    // Not Linux, or no read access: fall through.
  }
  return navigator.hardwareConcurrency || 1;
}
