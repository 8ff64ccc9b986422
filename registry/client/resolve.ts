/**
 * Resolution: npm semver ranges and dist-tags to exact versions, then a deduplicated tree
 * laid out like npm's: a package goes to the top-level `bpf_modules/` unless a different
 * version is already visible from the dependent, in which case it nests under the
 * dependent. Packuments are fetched level by level in parallel; placement is sequential in
 * sorted order, so the same inputs always give the same tree.
 *
 * @module
 */
import semver from "semver";
import { ClientError, ResolveError } from "./errors.ts";
import { isPackageName, packageNameProblem } from "../common/names.ts";
import type { LockEntry, Lockfile } from "./lockfile.ts";
import type { Packument, RegistryClient, VersionManifest } from "./registry.ts";

/**
 * Whether a string is a semver range (as opposed to a dist-tag).
 *
 * @example
 * ```ts
 * import { validRange } from "./resolve.ts";
 * validRange("^1.2"); // true
 * validRange("next"); // false
 * ```
 */
export function validRange(range: string): boolean {
  return semver.validRange(range) !== null;
}

/** A request for a package: `name`, `name@range`, `name@tag`, `@scope/name@range`. */
export interface PackageSpec {
  /** The package name. */
  name: string;
  /** The range or dist-tag; `latest` when none was written. */
  range: string;
  /** Whether the user wrote a range. */
  explicit: boolean;
}

/**
 * Parses `name[@range]` (scoped names too).
 *
 * @example
 * ```ts
 * import { parseSpec } from "./resolve.ts";
 * parseSpec("@acme/tool@^1.2"); // { name: "@acme/tool", range: "^1.2", explicit: true }
 * ```
 */
export function parseSpec(spec: string): PackageSpec {
  if (typeof spec !== "string" || !spec) {
    throw new TypeError("Package spec must be a non-empty string");
  }
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "" : spec.slice(at + 1);
  if (packageNameProblem(name)) {
    throw new TypeError(
      `Package name ${
        JSON.stringify(name)
      } is invalid; use lowercase letters, digits, - . _ and an optional @scope/`,
    );
  }
  return { name, range: range || "latest", explicit: range !== "" };
}

/**
 * Picks the version of a packument for a range or dist-tag: a preferred (locked) version
 * when it satisfies, else `latest` when it satisfies, else the highest satisfying.
 *
 * @example
 * ```ts
 * import { pickVersion } from "./resolve.ts";
 * // pickVersion(doc, "^1.0.0") → "1.4.2"
 * ```
 */
export function pickVersion(
  doc: Packument,
  range: string,
  preferred: string[] = [],
): VersionManifest {
  const versions = Object.keys(doc.versions);
  const tags = doc["dist-tags"] ?? {};
  if (tags[range] && doc.versions[tags[range]]) {
    return doc.versions[tags[range]];
  }
  const valid = semver.validRange(range);
  if (!valid) {
    throw new ResolveError(doc.name, range, versions.sort(semver.compareLoose));
  }
  for (const v of preferred) {
    if (doc.versions[v] && semver.satisfies(v, range)) return doc.versions[v];
  }
  const latest = tags.latest;
  if (latest && doc.versions[latest] && semver.satisfies(latest, range)) {
    return doc.versions[latest];
  }
  const best = semver.maxSatisfying(versions, range);
  if (!best) {
    throw new ResolveError(doc.name, range, versions.sort(semver.compareLoose));
  }
  return doc.versions[best];
}

function id(e: LockEntry): string {
  return `${e.name}@${e.version}`;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/bpf_modules/");
  return i < 0 ? "" : path.slice(0, i);
}

function childPath(parent: string, name: string): string {
  return parent ? `${parent}/bpf_modules/${name}` : `bpf_modules/${name}`;
}

/** Options of {@linkcode resolveTree}. */
export interface ResolveOptions {
  /** The previous lockfile: its versions are kept when they still satisfy. */
  previous?: Lockfile;
  /** Names whose locked versions must be ignored (`bpfpm update`). */
  update?: Set<string> | "all";
  /** Called as soon as a version is chosen, to start its download early. */
  onPick?: (manifest: VersionManifest) => void;
  /** The most packages a tree may hold before resolution gives up (default 10 000). */
  maxPackages?: number;
}

/**
 * The default bound on a resolved tree's size: far above any real probe's tree.
 *
 * @example A tighter bound
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { RegistryClient } from "./registry.ts";
 * import { MAX_PACKAGES, resolveTree } from "./resolve.ts";
 * const client = new RegistryClient(loadConfig());
 * await resolveTree(client, { tcplife: "^1" }, { maxPackages: MAX_PACKAGES / 10 });
 * ```
 */
export const MAX_PACKAGES = 10_000;

/**
 * Resolves direct dependency ranges into a lockfile (without `bpf` data, which comes from
 * the tarballs).
 *
 * @param client the registry client
 * @param deps the direct dependencies, name → range or tag
 * @param options previous lockfile, update set, early-download hook
 * @returns the resolved lockfile
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { RegistryClient } from "./registry.ts";
 * import { resolveTree } from "./resolve.ts";
 * const lock = await resolveTree(new RegistryClient(loadConfig()), { tcplife: "^1.0.0" });
 * console.log(Object.keys(lock.packages));
 * ```
 */
export async function resolveTree(
  client: RegistryClient,
  deps: Record<string, string>,
  options: ResolveOptions = {},
): Promise<Lockfile> {
  const preferredOf = new Map<string, string[]>();
  if (options.previous) {
    for (const e of Object.values(options.previous.packages)) {
      if (options.update === "all" || options.update?.has(e.name)) continue;
      const list = preferredOf.get(e.name) ?? [];
      list.push(e.version);
      preferredOf.set(e.name, list);
    }
  }
  for (const name of Object.keys(deps)) {
    if (!isPackageName(name)) {
      throw new ClientError(
        "EMANIFEST",
        `package.json depends on ${
          JSON.stringify(name)
        }, which is not a valid package name; fix its dependencies`,
      );
    }
  }
  const packages: Record<string, LockEntry> = {};
  const maxPackages = options.maxPackages ?? MAX_PACKAGES;
  let count = 0;
  const pick = async (
    name: string,
    range: string,
  ): Promise<VersionManifest> => {
    const doc = await client.packument(name);
    const m = pickVersion(doc, range, preferredOf.get(name));
    options.onPick?.(m);
    for (const dep of Object.keys(m.dependencies ?? {})) {
      client.packument(dep).catch(() => {});
    }
    return m;
  };
  let level: { parent: string; name: string; range: string }[] = Object.keys(
    deps,
  ).sort().map((
    name,
  ) => ({ parent: "", name, range: deps[name] }));
  while (level.length) {
    // Fetch every packument of this level at once; placement below stays sequential.
    const picks = await Promise.all(level.map((q) => pick(q.name, q.range)));
    const next: typeof level = [];
    for (let i = 0; i < level.length; i++) {
      const q = level[i];
      const m = picks[i];
      let visible: string | undefined;
      for (let p: string | null = q.parent;; p = p ? parentOf(p) : null) {
        if (p === null) break;
        const c = childPath(p, q.name);
        if (packages[c]) {
          visible = c;
          break;
        }
        if (!p) break;
      }
      const tagged = semver.validRange(q.range)
        ? undefined
        : (await client.packument(q.name))["dist-tags"]?.[q.range];
      const fits = (e: LockEntry | undefined) =>
        e !== undefined && e.name === q.name &&
        (tagged === undefined
          ? semver.satisfies(e.version, q.range)
          : e.version === tagged);
      if (visible && fits(packages[visible])) continue;
      // A cycle: an ancestor in the tree satisfies the range, so it is reused rather than
      // nested once more under itself (npm does the same). Without this an unsatisfiable
      // cycle (a@1 → b@^1, b@1 → a@^2, a@2 → b@^2, b@2 → a@^1) nests without end.
      let ancestor = false;
      for (let p = q.parent; p && !ancestor; p = parentOf(p)) {
        ancestor = fits(packages[p]);
      }
      if (ancestor) continue;
      const path = visible
        ? childPath(q.parent, q.name)
        : childPath("", q.name);
      // The dependent's own slot already holds another version: keep it (npm does the same).
      if (packages[path]) continue;
      if (!m.dist?.tarball || !m.dist.integrity) {
        throw new ClientError(
          "EMANIFEST",
          `${q.name}@${m.version} has no dist.tarball or no sha512 integrity in the registry's metadata; bpfpm installs only sha512-checked tarballs`,
        );
      }
      const dependencies = { ...(m.dependencies ?? {}) };
      for (const dep of Object.keys(dependencies)) {
        if (!isPackageName(dep)) {
          throw new ClientError(
            "EMANIFEST",
            `${q.name}@${m.version} depends on ${
              JSON.stringify(dep)
            }, which is not a valid package name; nothing was installed`,
          );
        }
      }
      if (++count > maxPackages) {
        throw new ClientError(
          "ERESOLVE",
          `Resolving ${
            Object.keys(deps).join(", ")
          } needs more than ${maxPackages} packages (still growing at ${q.name}@${m.version}, required by ${
            packages[q.parent] ? id(packages[q.parent]) : "package.json"
          }); check the dependency ranges of the packages named`,
        );
      }
      packages[path] = {
        // The name asked for, not the one the document claims: the tarball's own
        // package.json must then agree with it.
        name: q.name,
        version: m.version,
        resolved: m.dist.tarball,
        integrity: m.dist.integrity,
        dependencies: Object.keys(dependencies).length
          ? dependencies
          : undefined,
      };
      for (const dep of Object.keys(dependencies).sort()) {
        next.push({ parent: path, name: dep, range: dependencies[dep] });
      }
    }
    level = next;
  }
  return { lockfileVersion: 1, root: { dependencies: { ...deps } }, packages };
}
