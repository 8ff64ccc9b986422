/**
 * `bpfpm.lock`: the exact tree an install produced, as JSON with sorted keys so the same
 * tree always gives the same bytes. Keys of `packages` are install paths
 * (`bpf_modules/a`, `bpf_modules/a/bpf_modules/b`).
 *
 * @module
 */
import { join } from "../../runtime/_path.ts";
import { exists } from "../../runtime/_fs.ts";
import type { Grants } from "../manifest.ts";
import { validateGrants } from "../../runtime/policy/grants.ts";
import { isPackageName } from "../common/names.ts";
import { stableStringify } from "../common/stable_json.ts";
import { ClientError } from "./errors.ts";

/** Whether an install path is `bpf_modules/<name>(/bpf_modules/<name>)*` with safe names. */
function isInstallPath(path: string): boolean {
  const parts = path.split("/bpf_modules/");
  if (!parts[0].startsWith("bpf_modules/")) return false;
  parts[0] = parts[0].slice("bpf_modules/".length);
  return parts.every(isPackageName);
}

/** The lockfile's file name. */
export const LOCKFILE = "bpfpm.lock";

/** What a locked package declares for `bpfpm run` (from its tarball's package.json). */
export interface LockedBpf {
  /** The declared grants. */
  grants?: Grants;
  /** The declared Deno flags. */
  deno?: string[];
  /** The entry file. */
  entry?: string;
}

/** One locked package. */
export interface LockEntry {
  /** The package name. */
  name: string;
  /** The exact version. */
  version: string;
  /** The tarball URL. */
  resolved: string;
  /** The tarball's `sha512-…` integrity. */
  integrity: string;
  /** The package's declared dependency ranges. */
  dependencies?: Record<string, string>;
  /** The probe manifest, when the package is a probe. */
  bpf?: LockedBpf;
  /** The publisher key id, when the tarball carries a publisher signature. */
  publisherKey?: string;
}

/** The whole lockfile. */
export interface Lockfile {
  /** Format version. */
  lockfileVersion: 1;
  /** The project's direct dependency ranges the tree was resolved for. */
  root: { dependencies: Record<string, string> };
  /** Every installed package by install path. */
  packages: Record<string, LockEntry>;
}

/**
 * Reads `bpfpm.lock` from a project, or undefined when there is none.
 *
 * @example
 * ```ts
 * import { readLockfile } from "./lockfile.ts";
 * console.log(Object.keys(readLockfile(Deno.cwd())?.packages ?? {}));
 * ```
 */
export function readLockfile(projectDir: string): Lockfile | undefined {
  const path = join(projectDir, LOCKFILE);
  if (!exists(path)) return undefined;
  let lock: Lockfile;
  try {
    lock = JSON.parse(Deno.readTextFileSync(path));
  } catch (cause) {
    throw new ClientError(
      "ELOCKFILE",
      `${path} is not valid JSON; delete it and run bpfpm install to regenerate it`,
      {
        cause,
      },
    );
  }
  if (
    !isObject(lock) || lock.lockfileVersion !== 1 || !isObject(lock.packages) ||
    !isObject(lock.root) || !isStringMap(lock.root.dependencies)
  ) {
    throw new ClientError(
      "ELOCKFILE",
      `${path} has an unknown format; delete it and run bpfpm install`,
    );
  }
  for (const [key, e] of Object.entries(lock.packages)) {
    if (
      !isInstallPath(key) || !isPackageName(e?.name) ||
      !key.endsWith(`bpf_modules/${e.name}`)
    ) {
      throw new ClientError(
        "ELOCKFILE",
        `${path} has an unsafe or inconsistent entry ${
          JSON.stringify(key)
        }; it was edited by hand or by an attacker, delete it and run bpfpm install`,
      );
    }
    const problem = entryProblem(e);
    if (problem) {
      throw new ClientError(
        "ELOCKFILE",
        `${path}: entry ${
          JSON.stringify(key)
        } has ${problem}; it was edited by hand or damaged, delete it and run bpfpm install to regenerate it`,
      );
    }
  }
  return lock;
}

/**
 * Whether a JSON value is an object (not null, not an array).
 *
 * @example
 * ```ts
 * import { isObject } from "./lockfile.ts";
 * isObject([]); // false
 * ```
 */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Whether a JSON value is an object whose values are all strings (dependency ranges).
 *
 * @example
 * ```ts
 * import { isStringMap } from "./lockfile.ts";
 * isStringMap({ tcplife: "^1" }); // true
 * ```
 */
export function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === "string");
}

/**
 * Whether a string is a semver version (`1.2.3`, `1.0.0-rc.1+build`), checked without
 * loading semver.
 *
 * @example
 * ```ts
 * import { isVersion } from "./lockfile.ts";
 * isVersion("1.0.0-rc.1"); // true
 * isVersion("latest"); // false
 * ```
 */
export function isVersion(v: unknown): v is string {
  return typeof v === "string" &&
    /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.test(v);
}

/** What is wrong with a lock entry's fields, or undefined (its name is checked apart). */
function entryProblem(e: LockEntry): string | undefined {
  if (!isVersion(e.version)) return "no valid version";
  if (
    typeof e.integrity !== "string" ||
    !/^sha512-[A-Za-z0-9+/]{86}==$/.test(e.integrity)
  ) {
    return "no sha512 integrity";
  }
  let url: URL | undefined;
  try {
    url = new URL(e.resolved);
  } catch { /* below */ }
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    return "no http(s) resolved URL";
  }
  if (e.dependencies !== undefined && !isStringMap(e.dependencies)) {
    return "dependencies that are not an object of ranges";
  }
  if (e.bpf !== undefined) {
    if (!isObject(e.bpf)) return "a bpf manifest that is not an object";
    const { entry, deno, grants } = e.bpf;
    if (entry !== undefined && typeof entry !== "string") {
      return "a bpf.entry that is not a path";
    }
    if (
      deno !== undefined &&
      !(Array.isArray(deno) && deno.every((f) => typeof f === "string"))
    ) {
      return "a bpf.deno that is not an array of flags";
    }
    if (grants !== undefined) {
      try {
        validateGrants(grants, "bpf.grants");
      } catch (err) {
        return `an invalid bpf manifest (${(err as Error).message})`;
      }
    }
  }
  if (e.publisherKey !== undefined && typeof e.publisherKey !== "string") {
    return "a publisherKey that is not a string";
  }
  return undefined;
}

/**
 * Writes `bpfpm.lock` atomically (temporary file, then rename).
 *
 * @example
 * ```ts
 * import { writeLockfile } from "./lockfile.ts";
 * writeLockfile("/tmp/project", { lockfileVersion: 1, root: { dependencies: {} }, packages: {} });
 * ```
 */
export function writeLockfile(projectDir: string, lock: Lockfile): void {
  const path = join(projectDir, LOCKFILE);
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, stableStringify(lock));
  Deno.renameSync(tmp, path);
}

/**
 * Whether a lockfile was resolved for exactly these direct dependencies.
 *
 * @example
 * ```ts
 * import { lockMatches, readLockfile } from "./lockfile.ts";
 * lockMatches(readLockfile(Deno.cwd()), { tcplife: "^1.0.0" });
 * ```
 */
export function lockMatches(
  lock: Lockfile | undefined,
  deps: Record<string, string>,
): lock is Lockfile {
  if (!lock) return false;
  const a = lock.root.dependencies;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(deps).length) return false;
  return ka.every((k) =>
    deps[k] === a[k] && lock.packages[`bpf_modules/${k}`] !== undefined
  );
}
