/**
 * `bpfpm install`, `uninstall` and `update`: resolve (or take the lockfile as is), fetch
 * and verify every tarball (sha512, registry and publisher signatures, the tarball's own
 * package.json), show the declared permissions and what changed, then build the complete
 * new tree in a staging dir and switch to it with one rename. Nothing in the project
 * changes until every check has passed; no install script is ever run.
 *
 * @module
 */
import { basename, join } from "node:path";
import type { TarballEntry } from "../pack/mod.ts";
import { type ClientConfig, registryFor } from "./config.ts";
import { SignatureError } from "../common/errors.ts";
import { verifyPublisherSignature } from "../common/publisher_signature.ts";
import { ClientError } from "./errors.ts";
import { diffGrants, explainGrant, grantLines } from "./grants.ts";
import {
  type LockedBpf,
  type LockEntry,
  type Lockfile,
  lockMatches,
  readLockfile,
  writeLockfile,
} from "./lockfile.ts";
import {
  clearJournal,
  collectGarbage,
  inTree,
  lockProject,
  newTree,
  readProjectManifest,
  recoverProject,
  swapTree,
  writeJournal,
  writeProjectManifest,
} from "./project.ts";
import { RegistryClient } from "./registry.ts";
import { trustedKeys, verifyRegistrySignature } from "./signatures.ts";
import { Ui } from "./ui.ts";

/** Options of {@linkcode install}. */
export interface InstallOptions {
  /** Packages to add (`name`, `name@range`, `name@tag`). */
  add?: string[];
  /** Packages to remove. */
  remove?: string[];
  /** Re-resolve these (or all) ignoring their locked versions. */
  update?: string[] | "all";
  /** Install exactly the lockfile; fail if it does not match package.json. */
  frozenLockfile?: boolean;
  /** Accept changed permissions without asking. */
  yes?: boolean;
  /** Use only the cache. */
  offline?: boolean;
  /** Use cached metadata without revalidating. */
  preferOffline?: boolean;
  /** Refuse packages without a valid publisher signature by a trusted key. */
  requireSigned?: boolean;
  /** Where to report progress. */
  ui?: Ui;
  /** Parallel downloads (default 16). */
  concurrency?: number;
}

/** What an install did. */
export interface InstallResult {
  /** The lockfile now in effect. */
  lock: Lockfile;
  /** `name@version` newly installed. */
  added: string[];
  /** `name@version` no longer installed. */
  removed: string[];
  /** Tarballs downloaded (not from the cache). */
  downloaded: number;
}

async function pool<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let i = 0;
  const workers = Array.from(
    { length: Math.min(limit, items.length) },
    async () => {
      while (i < items.length) await fn(items[i++]);
    },
  );
  await Promise.all(workers);
}

/**
 * Hard-links a package's unpacked files into the tree (copying across filesystems). A
 * `bpf_modules` the tarball itself carries is skipped: dependencies come only from the
 * lockfile, never from inside another package.
 */
function linkInto(src: string, dst: string, root = true): void {
  // Deno's own calls: node:fs's wrappers cost several times more per file, and a tree has
  // one call per file.
  Deno.mkdirSync(dst, { recursive: true });
  for (const e of Deno.readDirSync(src)) {
    if (root && e.name === "bpf_modules") continue;
    const s = `${src}/${e.name}`;
    const d = `${dst}/${e.name}`;
    if (e.isDirectory) linkInto(s, d, false);
    else if (e.isFile) {
      try {
        Deno.linkSync(s, d);
      } catch {
        Deno.copyFileSync(s, d);
      }
    }
  }
}

/** `name@version` of a lock entry. */
function id(e: LockEntry): string {
  return `${e.name}@${e.version}`;
}

/**
 * Unpacks a package's tarball into the cache; a refused tarball (hostile, malformed, or
 * entries that clash on disk) is refused again with the package and the way out named.
 */
async function unpack(
  client: RegistryClient,
  e: LockEntry,
  bytes: Uint8Array,
): ReturnType<RegistryClient["cache"]["unpack"]> {
  try {
    return await client.cache.unpack(e.integrity, bytes);
  } catch (cause) {
    const what = `${id(e)} cannot be installed: ${
      (cause as Error)?.message
    }; nothing was installed, ask its publisher for a fixed version`;
    if (cause instanceof ClientError && cause.code === "EEXTRACT") {
      throw new ClientError("EEXTRACT", what, { cause });
    }
    const { TarballError } = await import("../pack/mod.ts");
    if (!(cause instanceof TarballError)) throw cause;
    throw new TarballError(cause.reason, what, { path: cause.path, cause });
  }
}

/**
 * Installs the project's dependencies (plus `add`, minus `remove`).
 *
 * @param config the client configuration (its `projectDir` is the project)
 * @param options what to change and how strictly
 * @returns the new lockfile and what changed
 *
 * @example Add a probe package
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { install } from "./install.ts";
 * const { lock } = await install(loadConfig(), { add: ["tcplife@^1"], yes: true });
 * console.log(Object.keys(lock.packages));
 * ```
 */
export async function install(
  config: ClientConfig,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const release = lockProject(config.projectDir);
  try {
    return await installLocked(config, options);
  } finally {
    release();
  }
}

async function installLocked(
  config: ClientConfig,
  options: InstallOptions,
): Promise<InstallResult> {
  const ui = options.ui ?? new Ui();
  const dir = config.projectDir;
  recoverProject(dir);
  const { manifest } = readProjectManifest(dir);
  const originalDeps = JSON.stringify(manifest.dependencies ?? {});
  const deps: Record<string, string> = { ...(manifest.dependencies ?? {}) };
  const saveAsCaret = new Set<string>();
  // The resolver and semver load only when something must be resolved: an install from
  // the lockfile starts faster without them.
  const { parseSpec, validRange } = options.add?.length
    ? await import("./resolve.ts")
    : { parseSpec: undefined, validRange: undefined };
  for (const raw of options.add ?? []) {
    const spec = parseSpec!(raw);
    deps[spec.name] = spec.range;
    if (!spec.explicit || !validRange!(spec.range)) {
      saveAsCaret.add(spec.name);
    }
  }
  for (const name of options.remove ?? []) {
    if (!(name in deps)) {
      throw new ClientError(
        "ENOTDEP",
        `${name} is not a dependency of ${dir}; bpfpm list shows what is installed`,
      );
    }
    delete deps[name];
  }
  if (
    options.frozenLockfile &&
    (options.add?.length || options.remove?.length || options.update)
  ) {
    throw new TypeError(
      "--frozen-lockfile installs the lockfile as is; it cannot add, remove or update packages",
    );
  }

  let downloaded = 0;
  const client = new RegistryClient(config, {
    offline: options.offline,
    preferOffline: options.preferOffline,
    onDownload: () => downloaded++,
  });
  const old = readLockfile(dir);
  let lock: Lockfile;
  let resolved = false;
  const early = new Map<string, Promise<Uint8Array>>();
  const fetchTarball = (
    e: { name: string; version: string; resolved: string; integrity: string },
  ) => {
    let p = early.get(e.integrity);
    if (!p) {
      p = client.tarball(e.resolved, e.integrity, `${e.name}@${e.version}`);
      early.set(e.integrity, p);
      p.catch(() => {});
    }
    return p;
  };
  if (options.frozenLockfile) {
    if (!lockMatches(old, deps)) {
      throw new ClientError(
        "ELOCKFILE",
        old
          ? "bpfpm.lock does not match package.json's dependencies; run bpfpm install without --frozen-lockfile and commit the new lockfile"
          : "--frozen-lockfile needs a bpfpm.lock; run bpfpm install once and commit it",
      );
    }
    lock = structuredClone(old);
  } else if (
    !options.add?.length && !options.update && lockMatches(old, deps)
  ) {
    lock = structuredClone(old);
  } else {
    const update = options.update === "all"
      ? "all"
      : new Set(options.update ?? []);
    // Overlap with the network: the tarball parser and the default registry's keys are
    // needed as soon as the first tarball arrives.
    import("../pack/mod.ts").catch(() => {});
    client.registryKeys(registryFor(config, "")).catch(() => {});
    for (const name of Object.keys(deps)) {
      client.packument(name).catch(() => {});
    }
    const { resolveTree } = await import("./resolve.ts");
    lock = await resolveTree(client, deps, {
      previous: old,
      update,
      onPick: (m) => {
        if (m.dist?.tarball && m.dist.integrity) {
          fetchTarball({
            name: m.name,
            version: m.version,
            resolved: m.dist.tarball,
            integrity: m.dist.integrity,
          });
        }
      },
    });
    resolved = true;
    for (const name of saveAsCaret) {
      const v = lock.packages[`bpf_modules/${name}`].version;
      deps[name] = `^${v}`;
    }
    lock.root.dependencies = { ...deps };
  }

  const entries = Object.entries(lock.packages).sort((
    [a],
    [b],
  ) => (a < b ? -1 : 1));
  const bar = ui.progress("fetch", entries.length);
  const unpacked = new Map<string, string>();
  const trusted = options.requireSigned
    ? trustedKeys(config.configDir)
    : new Set<string>();
  const keyLookups = new Map<string, Promise<KeyRecord | null>>();
  try {
    await pool(entries, options.concurrency ?? 16, async ([path, e]) => {
      const spec = id(e);
      const bytes = await fetchTarball(e);
      const { dir: src, packageJson, entries: fresh } = await unpack(
        client,
        e,
        bytes,
      );
      if (packageJson.name !== e.name || packageJson.version !== e.version) {
        throw new ClientError(
          "EMANIFEST",
          `The tarball of ${spec} contains ${packageJson.name}@${packageJson.version}; the registry serves a mismatched tarball, nothing was installed`,
        );
      }
      if (resolved) {
        const doc = await client.packument(e.name);
        const m = doc.versions[e.version];
        const keys = await client.registryKeys(registryFor(config, e.name));
        if (m) verifyRegistrySignature(m, keys, e.integrity);
        if (m?.deprecated) ui.warn(`${spec} is deprecated: ${m.deprecated}`);
      }
      const checks = await tarballChecks(client, e, packageJson, bytes, fresh);
      if (checks.publisherError) {
        throw new SignatureError(spec, "publisher", checks.publisherError, {
          reason: "bad-signature",
        });
      }
      e.publisherKey = checks.publisherKey ?? undefined;
      if (options.requireSigned) {
        await checkPublisher(client, config, e, trusted, keyLookups);
      }
      const bpf = packageJson.bpf as Record<string, unknown> | undefined;
      if (bpf !== undefined) {
        if (checks.bpfErrors?.length) {
          throw new ClientError(
            "EMANIFEST",
            `${spec} has an invalid bpf manifest: ${
              checks.bpfErrors.join("; ")
            }; nothing was installed`,
          );
        }
        const locked: LockedBpf = { entry: bpf.entry as string };
        if (bpf.grants) locked.grants = bpf.grants as LockedBpf["grants"];
        if (bpf.deno) locked.deno = bpf.deno as string[];
        e.bpf = locked;
      } else e.bpf = undefined;
      unpacked.set(path, src);
      bar.tick();
    });
  } finally {
    bar.done();
  }

  const oldByName = new Map<string, LockEntry>();
  for (const e of Object.values(old?.packages ?? {})) oldByName.set(e.name, e);
  let needsConsent = false;
  for (const [, e] of entries) {
    const before = oldByName.get(e.name);
    const lines = grantLines(e.bpf);
    const diff = diffGrants(before?.bpf, e.bpf);
    const keyChanged = before?.publisherKey !== undefined &&
      before.publisherKey !== e.publisherKey;
    if (keyChanged) {
      // A different publisher key for a package signed before: possibly a takeover.
      ui.info(
        `${id(e)} is signed by ${e.publisherKey ?? "nobody"}, ${before!.name}@${
          before!.version
        } was signed by ${before!.publisherKey}`,
      );
      needsConsent = true;
    }
    if (!lines.length && !diff.removed.length) continue;
    if (
      !before || before.version !== e.version || diff.added.length ||
      diff.removed.length
    ) {
      ui.info(
        `${id(e)}${
          before && before.version !== e.version
            ? ` (was ${before.version})`
            : ""
        } declares:${lines.length ? "" : " no permissions"}`,
      );
      for (const l of lines) {
        ui.info(
          `  ${diff.added.includes(l) && before ? "+ " : "  "}${
            explainGrant(l)
          }`,
        );
      }
      for (const l of diff.removed) ui.info(`  - ${explainGrant(l)}`);
      if (diff.added.length) needsConsent = true;
    }
  }
  if (needsConsent && !options.yes) {
    if (!ui.interactive) {
      throw new ClientError(
        "EGRANTS",
        "These packages declare new permissions or changed publisher keys; nothing was installed. Review them above and pass --yes to accept",
      );
    }
    if (!ui.confirm("Grant these permissions?")) {
      throw new ClientError(
        "EGRANTS",
        "Permissions not accepted; nothing was installed",
      );
    }
  }

  const tree = newTree(dir);
  for (const [path] of entries) {
    linkInto(unpacked.get(path)!, inTree(tree, path));
  }
  const oldIds = new Set(Object.values(old?.packages ?? {}).map(id));
  const newIds = new Set(entries.map(([, e]) => id(e)));
  const sorted: Record<string, string> = {};
  for (const k of Object.keys(deps).sort()) sorted[k] = deps[k];
  writeJournal(dir, { tree: basename(tree), lock, dependencies: sorted });
  // The commit point: one rename. What follows is rolled forward by recoverProject if the
  // process dies before it is done.
  swapTree(dir, tree);
  writeLockfile(dir, lock);
  if (JSON.stringify(deps) !== originalDeps) {
    manifest.dependencies = sorted;
    writeProjectManifest(dir, manifest);
  }
  clearJournal(dir);
  collectGarbage(dir);
  return {
    lock,
    added: [...newIds].filter((x) => !oldIds.has(x)).sort(),
    removed: [...oldIds].filter((x) => !newIds.has(x)).sort(),
    downloaded,
  };
}

/** Outcomes of the checks that depend only on a tarball's bytes, cached beside it. */
interface TarballChecks {
  /** The verified publisher key id, or null when unsigned. */
  publisherKey: string | null;
  /** Why the publisher signature failed, or null. */
  publisherError: string | null;
  /** Problems of the bpf manifest, or null when there is none. */
  bpfErrors: string[] | null;
}

async function tarballChecks(
  client: RegistryClient,
  e: LockEntry,
  packageJson: Record<string, unknown>,
  bytes: Uint8Array,
  fresh: TarballEntry[] | undefined,
): Promise<TarballChecks> {
  const cached = client.cache.readMeta<TarballChecks>(e.integrity);
  if (cached) return cached;
  const files = fresh ??
    (await (await import("../pack/mod.ts")).inspectTarball(bytes)).entries;
  const checks: TarballChecks = {
    publisherKey: null,
    publisherError: null,
    bpfErrors: null,
  };
  try {
    checks.publisherKey = verifyPublisherSignature(e.name, e.version, files) ??
      null;
  } catch (err) {
    if (!(err instanceof SignatureError)) throw err;
    checks.publisherError = err.message;
  }
  if (packageJson.bpf !== undefined) {
    // ajv is costly to load: only a tarball seen for the first time pays for it.
    const { validateBpfManifest } = await import("../manifest.ts");
    const v = validateBpfManifest(packageJson.bpf);
    checks.bpfErrors = v.ok ? [] : v.errors;
  }
  client.cache.writeMeta(e.integrity, checks);
  return checks;
}

/** A publisher key as the registry records it (`GET /-/bpfpm/v1/keys/:keyid`). */
interface KeyRecord {
  /** Whose key it is. */
  user: string;
  /** When its owner revoked it, if they did. */
  revoked?: string;
}

/**
 * Looks a publisher key up once per install: the record on 200 (in force) or 410
 * (revoked), null when the registry does not know it or has no such endpoint.
 */
function lookUpKey(
  client: RegistryClient,
  registry: string,
  keyid: string,
  memo: Map<string, Promise<KeyRecord | null>>,
): Promise<KeyRecord | null> {
  const k = `${registry} ${keyid}`;
  let p = memo.get(k);
  if (!p) {
    p = client.json<{ user?: unknown; revoked?: unknown }>(
      registry,
      `-/bpfpm/v1/keys/${encodeURIComponent(keyid)}`,
      { what: `Publisher key ${keyid}`, allow: [400, 404, 405, 410] },
    ).then(({ status, body }) => {
      if ((status !== 200 && status !== 410) || typeof body.user !== "string") {
        return null;
      }
      return status === 410
        ? {
          user: body.user,
          revoked: String(body.revoked ?? "an unknown date"),
        }
        : { user: body.user };
    }).catch(() => null); // offline or unreachable: only trusted_keys can vouch
    memo.set(k, p);
  }
  return p;
}

/** The user names in a packument's `maintainers` (objects, or npm's `name <email>` strings). */
function maintainerNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.map((m) =>
    typeof m === "string"
      ? m.replace(/\s*[<(].*$/, "").trim()
      : String((m as { name?: unknown })?.name ?? "")
  ).filter(Boolean);
}

/**
 * The `--require-signed` rule for one package: it is signed, the signature verifies (done
 * before), the key is not revoked, and either the user trusts the key (`bpfpm trust`) or
 * the registry has it registered to one of the package's maintainers.
 */
async function checkPublisher(
  client: RegistryClient,
  config: ClientConfig,
  e: LockEntry,
  trusted: Set<string>,
  memo: Map<string, Promise<KeyRecord | null>>,
): Promise<void> {
  const spec = id(e);
  const keyid = e.publisherKey;
  if (!keyid) {
    throw new SignatureError(
      spec,
      "publisher",
      `${spec} has no publisher signature and --require-signed is set; ask its publisher to publish a signed version`,
      { reason: "unsigned" },
    );
  }
  const registry = registryFor(config, e.name);
  const record = await lookUpKey(client, registry, keyid, memo);
  if (record?.revoked) {
    throw new SignatureError(
      spec,
      "publisher",
      `${spec} is signed by ${keyid}, a key ${record.user} revoked on ${record.revoked}; do not install it, ask for a version signed with their new key`,
      { reason: "revoked-key", keyid },
    );
  }
  if (trusted.has(keyid)) return;
  if (!record) {
    throw new SignatureError(
      spec,
      "publisher",
      `${spec} is signed by ${keyid}, a key ${registry} does not have registered and your trusted_keys (${
        join(config.configDir, "trusted_keys")
      }) does not list; run bpfpm trust ${keyid} if you trust its publisher`,
      { reason: "unknown-key", keyid },
    );
  }
  const doc = await client.packument(e.name, true);
  const maintainers = maintainerNames(doc.maintainers);
  if (!maintainers.includes(record.user)) {
    throw new SignatureError(
      spec,
      "publisher",
      `${spec} is signed by ${keyid}, the key of ${record.user}, who is not a maintainer of ${e.name} (maintainers: ${
        maintainers.join(", ") || "none listed"
      }); do not install it, or run bpfpm trust ${keyid} if you trust ${record.user} for it`,
      { reason: "not-maintainer", keyid },
    );
  }
}
