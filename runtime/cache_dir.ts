/**
 * Where bpfpm keeps its cache (compiled objects, vmlinux.h and its PCH, downloaded
 * tarballs): one rule for the runtime and the client, that works for any user and without
 * HOME (systemd units, cron, containers):
 *
 * 1. `BPFPM_CACHE_DIR`;
 * 2. `$XDG_CACHE_HOME/bpfpm`;
 * 3. `$HOME/.cache/bpfpm`;
 * 4. without HOME: `/var/cache/bpfpm` for root, else `<home in /etc/passwd>/.cache/bpfpm`.
 *
 * @module
 */
import { optionalEnv } from "./_env.ts";

/** The cache of root when no variable names one. */
export const SYSTEM_CACHE_DIR = "/var/cache/bpfpm";

// Permissions are queried first, so Deno never prompts for them.
const granted = (d: Deno.PermissionDescriptor) =>
  Deno.permissions.querySync(d).state === "granted";

function uid(): number | null {
  return granted({ name: "sys", kind: "uid" }) ? Deno.uid() : null;
}

function passwdHome(id: number): string | undefined {
  let text: string;
  try {
    if (!granted({ name: "read", path: "/etc/passwd" })) return undefined;
    text = Deno.readTextFileSync("/etc/passwd");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 7 && Number(f[2]) === id && f[5].startsWith("/")) {
      return f[5];
    }
  }
  return undefined;
}

/**
 * This user's home directory: HOME, else the home of its /etc/passwd entry (what
 * `node:os`'s `homedir()` returns, without loading Deno's Node layer).
 *
 * @param get reads a variable (default: this process's environment)
 * @returns the home directory, or undefined when there is none
 *
 * @example
 * ```ts
 * import { homeDir } from "./cache_dir.ts";
 * homeDir((name) => ({ HOME: "/home/me" } as Record<string, string>)[name]); // "/home/me"
 * ```
 */
export function homeDir(
  get: (name: string) => string | undefined = optionalEnv,
): string | undefined {
  const home = get("HOME");
  if (home) return home;
  const id = uid();
  return id === null ? undefined : passwdHome(id);
}

/**
 * The cache directory, from the environment `get` reads (default: this process's, where a
 * variable Deno may not read counts as unset).
 *
 * @throws {Error} when nothing names a directory and this user has no home
 *
 * @example
 * ```ts
 * import { cacheDir } from "./cache_dir.ts";
 * cacheDir((name) => ({ XDG_CACHE_HOME: "/tmp/xdg" } as Record<string, string>)[name]); // "/tmp/xdg/bpfpm"
 * ```
 */
export function cacheDir(
  get: (name: string) => string | undefined = optionalEnv,
): string {
  const explicit = get("BPFPM_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = get("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/bpfpm`;
  const home = get("HOME");
  if (home) return `${home}/.cache/bpfpm`;
  const id = uid();
  if (id === 0) return SYSTEM_CACHE_DIR;
  const pw = id === null ? undefined : passwdHome(id);
  if (pw && pw !== "/") return `${pw}/.cache/bpfpm`;
  throw new Error(
    `Cannot place the bpfpm cache: HOME is not set and uid ${
      id ?? "?"
    } has no home directory in /etc/passwd; set BPFPM_CACHE_DIR or XDG_CACHE_HOME`,
  );
}
