/**
 * Keeps the compile cache bounded. Runs after a compile (a miss, which is slow anyway) at
 * most once a day, best effort: objects not used for 30 days, other kernels' vmlinux.h and
 * PCH directories not used for 7 days, PCHs of other compiler builds not used for 2 days,
 * other boots' BTF hashes and leftover temp files.
 * "Used" is the access time, which Linux's default relatime mount option keeps within a day.
 *
 * @module
 */

const DAY = 24 * 3600 * 1000;
/** Objects unused for this long are removed. */
export const OBJECT_TTL = 30 * DAY;
/** Another kernel's vmlinux.h and PCH, unused for this long, are removed. */
export const KERNEL_TTL = 7 * DAY;
/** Another PCH of the current kernel, unused for this long, is removed (> relatime's day). */
export const PCH_TTL = 2 * DAY;
const TMP_TTL = DAY / 24;
const STAMP = ".pruned";

function lastUse(st: Deno.FileInfo): number {
  return Math.max(st.atime?.getTime() ?? 0, st.mtime?.getTime() ?? 0);
}

function tryRemove(path: string, recursive = false): boolean {
  try {
    Deno.removeSync(path, { recursive });
    return true;
  } catch {
    return false;
  }
}

function entries(dir: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}

/**
 * Prunes `root` if it was not pruned in the last day; returns how many files and directories
 * were removed (0 when it was not due).
 *
 * @param root the cache root
 * @param keep the current kernel's directory name under `kernel/`, this boot's BTF memo and
 *   the current PCH's directory name
 * @param now the time to prune as of (tests pass a later one)
 */
export function pruneCache(
  root: string,
  keep: { kernel: string; boot: string; pch?: string },
  now = Date.now(),
): number {
  const stamp = `${root}/${STAMP}`;
  try {
    if (now - (Deno.statSync(stamp).mtime?.getTime() ?? 0) < DAY) return 0;
  } catch {
    // Never pruned.
  }
  try {
    Deno.writeFileSync(stamp, new Uint8Array(0));
  } catch {
    return 0;
  }
  let removed = 0;
  const old = (path: string, ttl: number) => {
    try {
      return now - lastUse(Deno.statSync(path)) > ttl;
    } catch {
      return false;
    }
  };
  for (const e of entries(`${root}/obj`)) {
    const path = `${root}/obj/${e.name}`;
    const ttl = e.name.endsWith(".tmp") ? TMP_TTL : OBJECT_TTL;
    if (old(path, ttl) && tryRemove(path)) removed++;
  }
  for (const e of entries(`${root}/kernel`)) {
    if (e.name === keep.kernel) {
      if (keep.pch) {
        removed += prunePchs(`${root}/kernel/${e.name}`, keep.pch, old);
      }
      continue;
    }
    const dir = `${root}/kernel/${e.name}`;
    const pchs = entries(dir).filter((p) => p.name.startsWith("pch-"));
    const unused = [
      `${dir}/vmlinux.h`,
      ...pchs.map((p) => `${dir}/${p.name}/deps.json`),
    ]
      .every((p) => old(p, KERNEL_TTL) || !exists(p));
    if (unused && tryRemove(dir, true)) removed++;
  }
  for (const e of entries(`${root}/btf`)) {
    if (e.name !== keep.boot && tryRemove(`${root}/btf/${e.name}`)) removed++;
  }
  return removed;
}

/**
 * Removes this kernel's PCH directories other than `current` (left by another build of the
 * compiler or another checkout) that no compile has used for PCH_TTL.
 */
function prunePchs(
  dir: string,
  current: string,
  old: (path: string, ttl: number) => boolean,
): number {
  let removed = 0;
  for (const p of entries(dir)) {
    if (!p.name.startsWith("pch-") || p.name === current) continue;
    const deps = `${dir}/${p.name}/deps.json`;
    if (
      (old(deps, PCH_TTL) || !exists(deps)) &&
      tryRemove(`${dir}/${p.name}`, true)
    ) {
      removed++;
    }
  }
  return removed;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
