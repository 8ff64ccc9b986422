/**
 * The registry's HTTP layer: a pure handler `(Request) => Promise<Response>` speaking
 * the npm registry protocol over a {@linkcode Store}. It keeps no state that matters
 * between requests (a packument cache is validated against the stored revision on
 * every request; the login rate limit is per process), so several processes on one
 * PostgreSQL serve consistently.
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import semver from "semver";
import type { TarballLimits } from "../pack/mod.ts";
import {
  hashPassword,
  newTokenSecret,
  randomHex,
  sha256Hex,
  SigningKey,
  verifyPassword,
} from "./_crypto.ts";
import { BASE, buildDocs, highestVersion } from "./_docs.ts";
import {
  ownRecord,
  packageNameProblem,
  parseJson,
  preparePublish,
  RegistryError,
  tagProblem,
  tarballFilename,
} from "./_publish.ts";
import { RateLimiter } from "./_rate_limit.ts";
import { PublishGate, type PublishLimits } from "./_publish_gate.ts";
import { keyProblem } from "../client/signatures.ts";
import {
  type PackageRow,
  type PublisherKeyRow,
  type Store,
  StoreConflictError,
  type StoreTx,
  type UserRow,
  type VersionRow,
} from "./store.ts";
import { renderIndex, renderNotFound, renderPackage } from "./ui.ts";

export { RegistryError };

/** Options of {@linkcode createRegistryHandler}. */
export interface RegistryHandlerOptions {
  /** Where packages, users and tokens live. */
  store: Store;
  /** The URL clients reach the registry at; by default each request's own origin. */
  publicUrl?: string;
  /** Tarball caps (compressed, unpacked, file count). */
  limits?: Partial<TarballLimits>;
  /** Largest request body, in bytes; by default the compressed cap × 4/3 plus 1 MiB. */
  maxBodySize?: number;
  /** Users who are admins (they may unpublish anything and manage orgs). */
  admins?: string[];
  /** Whether anyone may create an account (default true). */
  signup?: boolean;
  /** How long after publish an owner may unpublish a version (default 72 hours). */
  unpublishWindowMs?: number;
  /** Failed logins allowed per client and user name in 15 minutes (default 5). */
  loginFailures?: number;
  /** Login attempts (any outcome, including sign-ups) allowed per client per minute (default 120). */
  loginAttemptsPerMinute?: number;
  /** Publishes checked at once, waiting, and per user; over them a publish gets 429. */
  publishLimits?: Partial<PublishLimits>;
  /** The clock, for tests of the unpublish window. */
  now?: () => Date;
  /** Fault injection for crash tests: `publish-mid-transaction` kills the process there. */
  fault?: string;
}

/** Connection facts the handler may use (the client's address, for rate limits). */
export interface RequestInfo {
  /** The peer address. */
  remoteAddr?: { hostname?: string };
}

/** The handler. */
export type RegistryHandler = (
  req: Request,
  info?: RequestInfo,
) => Promise<Response>;

interface Auth {
  user: UserRow;
  readonly: boolean;
  tokenHash: string;
}

const JSON_TYPE = "application/json; charset=utf-8";
const ABBREV_TYPE = "application/vnd.npm.install-v1+json; charset=utf-8";
const HOUR = 3600_000;
const TARBALL_CACHE_ENTRY = 1024 * 1024;
/** How long a publish's body may take to arrive once it has its turn. */
const PUBLISH_BODY_TIMEOUT_MS = 60_000;
const TARBALL_CACHE_TOTAL = 64 * 1024 * 1024;

function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
  });
}

/** Whether an `If-None-Match` header (a list, weak or strong) names `etag`. */
function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header === etag || header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

function nextRev(prev: string | undefined): string {
  const n = prev ? parseInt(prev, 10) + 1 : 1;
  return `${n}-${randomHex(16)}`;
}

/** Splits a registry path into a package name and what follows it. */
function parsePackagePath(
  segments: string[],
): { name: string; rest: string[] } | null {
  if (!segments.length || !segments[0]) return null;
  const first = decodeURIComponent(segments[0]);
  if (first.startsWith("@")) {
    if (first.includes("/")) {
      return { name: first, rest: segments.slice(1).map(decodeURIComponent) };
    }
    if (segments.length < 2) return null;
    return {
      name: `${first}/${decodeURIComponent(segments[1])}`,
      rest: segments.slice(2).map(decodeURIComponent),
    };
  }
  return { name: first, rest: segments.slice(1).map(decodeURIComponent) };
}

function scopeOf(name: string): string | null {
  return name.startsWith("@") ? name.slice(1, name.indexOf("/")) : null;
}

function checkDeclaredLength(req: Request, max: number): void {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) {
    throw new RegistryError(
      413,
      `The request body is over the ${max}-byte limit`,
    );
  }
}

/**
 * Reads a request body up to `max` bytes; with `timeoutMs`, a body that has not
 * arrived whole by then is refused (408), so a stalled upload cannot hold a publish turn.
 */
async function readBody(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<Uint8Array> {
  checkDeclaredLength(req, max);
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => {});
    }, timeoutMs)
    : undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > max) {
        reader.cancel().catch(() => {});
        throw new RegistryError(
          413,
          `The request body is over the ${max}-byte limit`,
        );
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new RegistryError(
      408,
      `The request body did not arrive within ${
        timeoutMs / 1000
      } s: send it without pauses`,
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

async function readJson(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<unknown> {
  const bytes = await readBody(req, max, timeoutMs);
  return parseJson(new TextDecoder().decode(bytes), "The request body");
}

async function readObject(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<Record<string, unknown>> {
  const v = await readJson(req, max, timeoutMs);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RegistryError(400, "The request body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

/**
 * Creates the registry handler: loads (or creates, once for all servers sharing the
 * store) the signing key and marks the configured admins.
 *
 * @param options The store and policy.
 * @returns The handler.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "./sqlite_store.ts";
 * import { createRegistryHandler } from "./handler.ts";
 * const handler = await createRegistryHandler({ store: new SqliteStore(":memory:") });
 * const res = await handler(new Request("http://localhost/-/ping"));
 * ```
 */
export async function createRegistryHandler(
  options: RegistryHandlerOptions,
): Promise<RegistryHandler> {
  const store = options.store;
  const limits = options.limits ?? {};
  const maxCompressed = limits.maxCompressedSize ?? 16 * 1024 * 1024;
  const maxBody = options.maxBodySize ??
    Math.ceil(maxCompressed * 4 / 3) + 1024 * 1024;
  const admins = new Set(options.admins ?? []);
  const signup = options.signup ?? true;
  const unpublishWindow = options.unpublishWindowMs ?? 72 * HOUR;
  const now = options.now ?? (() => new Date());
  const publishGate = new PublishGate(options.publishLimits);
  const limiter = new RateLimiter(
    options.loginFailures ?? 5,
    15 * 60_000,
    options.loginAttemptsPerMinute ?? 120,
    60_000,
  );
  // Tarballs of a store only this process writes, valid until its next commit.
  const tarballCache = new Map<
    string,
    { generation: number; data: Uint8Array }
  >();
  let tarballCacheBytes = 0;
  const cache = new Map<
    string,
    {
      rev: string;
      base: string;
      bytes: Uint8Array;
      gzip?: Uint8Array;
      etag: string;
      generation?: number;
    }
  >();

  const key = await store.transaction(async (tx) => {
    for (const a of admins) if (await tx.getUser(a)) await tx.setAdmin(a, true);
    return await tx.setMetaIfAbsent("signing_key", SigningKey.generatePem());
  });
  const signingKey = new SigningKey(key);

  function baseOf(url: URL | string): string {
    return (options.publicUrl ?? (typeof url === "string" ? url : url.origin))
      .replace(/\/+$/, "");
  }

  async function authenticate(req: Request): Promise<Auth | null> {
    const h = req.headers.get("authorization");
    if (!h) return null;
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) return null;
    const hash = sha256Hex(m[1]);
    const token = await store.getTokenByHash(hash);
    if (!token) {
      throw new RegistryError(
        401,
        "Invalid or revoked token: log in again (npm login)",
      );
    }
    const user = await store.getUser(token.username);
    if (!user) {
      throw new RegistryError(401, "The token's user no longer exists");
    }
    return { user, readonly: token.readonly, tokenHash: hash };
  }

  async function requireUser(req: Request, write: boolean): Promise<Auth> {
    const auth = await authenticate(req);
    if (!auth) {
      throw new RegistryError(
        401,
        "Log in first: this needs a token (npm login)",
      );
    }
    if (write && auth.readonly) {
      throw new RegistryError(
        403,
        "This token is read-only: use a publish token for this",
      );
    }
    return auth;
  }

  async function canCreateIn(
    tx: StoreTx,
    user: UserRow,
    name: string,
  ): Promise<boolean> {
    const scope = scopeOf(name);
    if (!scope || user.admin) return true;
    if (scope === user.name) return true;
    return (await tx.getOrgMembers(scope)).some((m) =>
      m.username === user.name
    );
  }

  async function ownersWithEmail(tx: StoreTx, owners: string[]) {
    const out = [];
    for (const o of owners) {
      out.push({ name: o, email: (await tx.getUser(o))?.email ?? null });
    }
    return out;
  }

  async function save(
    tx: StoreTx,
    name: string,
    created: string,
    prevRev: string | undefined,
    distTags: Record<string, string>,
    owners: string[],
    versions: VersionRow[],
  ): Promise<string> {
    const rev = nextRev(prevRev);
    const doc = buildDocs({
      name,
      rev,
      created,
      modified: now().toISOString(),
      distTags,
      owners: await ownersWithEmail(tx, owners),
    }, versions);
    await tx.putPackage(doc);
    return rev;
  }

  /**
   * Saves a package after versions were removed: tags of removed versions go, `latest`
   * moves to the highest version left, and with none left the package goes.
   */
  async function saveAfterRemoval(
    tx: StoreTx,
    pkg: PackageRow,
    owners: string[],
    versions: VersionRow[],
  ): Promise<string> {
    if (!versions.length) {
      await tx.deletePackage(pkg.name);
      return "";
    }
    const live = new Set(versions.map((v) => v.version));
    const tags = ownRecord(Object.fromEntries(
      Object.entries(pkg.distTags).filter(([, v]) => live.has(v)),
    ));
    if (!tags.latest) tags.latest = highestVersion([...live])!;
    return await save(
      tx,
      pkg.name,
      pkg.created,
      pkg.rev,
      tags,
      owners,
      versions,
    );
  }

  function mayUnpublish(auth: Auth, v: VersionRow): void {
    if (auth.user.admin) return;
    if (now().getTime() - Date.parse(v.published) > unpublishWindow) {
      throw new RegistryError(
        403,
        `${v.name}@${v.version} was published more than 72 hours ago: only an admin can unpublish it (deprecate it instead)`,
      );
    }
  }

  /**
   * Runs a package document write (a publish or an update) in a turn of the publish
   * gate: the user is known and the declared size checked before the wait, the body is
   * read only in the turn.
   */
  async function withPublishTurn(
    req: Request,
    fn: (auth: Auth, body: Record<string, unknown>) => Promise<Response>,
  ): Promise<Response> {
    checkDeclaredLength(req, maxBody);
    const auth = await requireUser(req, true);
    const leave = await publishGate.enter(auth.user.name);
    try {
      return await fn(
        auth,
        await readObject(req, maxBody, PUBLISH_BODY_TIMEOUT_MS),
      );
    } finally {
      leave();
    }
  }

  function fault(point: string) {
    if (options.fault === point) Deno.kill(Deno.pid, "SIGKILL");
  }

  // ---- packuments and tarballs

  async function getPackument(
    req: Request,
    origin: string,
    query: string,
    name: string,
  ): Promise<Response> {
    const write = /(^|&)write=true(&|$)/.test(query);
    const abbreviated = !write &&
      (req.headers.get("accept") ?? "").includes(
        "application/vnd.npm.install-v1+json",
      );
    const base = baseOf(origin);
    const kind = abbreviated ? "a" : "f";
    const cacheKey = `${kind}:${name}`;
    const generation = store.localGeneration?.();
    let hit = cache.get(cacheKey);
    // A store that only this process writes tells us when anything changed; otherwise
    // (PostgreSQL) the stored revision is read on every request, so no server is stale.
    if (
      !hit || generation === undefined || hit.generation !== generation ||
      write || hit.base !== base
    ) {
      const rev = await store.getPackageRev(name);
      if (!rev) return json(404, { error: `Package ${name} not found` });
      if (!hit || hit.rev !== rev || hit.base !== base) {
        const pkg = await store.getPackage(name);
        if (!pkg) return json(404, { error: `Package ${name} not found` });
        const body = (abbreviated ? pkg.abbrevDoc : pkg.fullDoc).replaceAll(
          BASE,
          base,
        );
        if (cache.size > 2000) cache.delete(cache.keys().next().value!);
        hit = {
          rev: pkg.rev,
          base,
          bytes: new TextEncoder().encode(body),
          generation,
          etag: `"${pkg.rev}-${kind}"`,
        };
      } else {
        hit = { ...hit, generation };
      }
      cache.set(cacheKey, hit);
    }
    const headers: Record<string, string> = {
      "content-type": abbreviated ? ABBREV_TYPE : JSON_TYPE,
      etag: hit.etag,
      vary: "accept, accept-encoding",
      "cache-control": write
        ? "no-cache"
        : "public, max-age=0, must-revalidate",
    };
    if (!write && etagMatches(req.headers.get("if-none-match"), hit.etag)) {
      return new Response(null, { status: 304, headers });
    }
    // npm asks for gzip; a large packument is compressed once per revision, not per request.
    if (
      hit.bytes.length > 4096 &&
      /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")
    ) {
      hit.gzip ??= new Uint8Array(gzipSync(hit.bytes));
      headers["content-encoding"] = "gzip";
      return new Response(hit.gzip as Uint8Array<ArrayBuffer>, { headers });
    }
    return new Response(hit.bytes as Uint8Array<ArrayBuffer>, { headers });
  }

  async function getVersion(
    url: URL,
    name: string,
    spec: string,
  ): Promise<Response> {
    const pkg = await store.getPackage(name);
    if (!pkg) return json(404, { error: `Package ${name} not found` });
    const doc = JSON.parse(pkg.fullDoc.replaceAll(BASE, baseOf(url))) as {
      versions: Record<string, unknown>;
    };
    const version = tagOf(pkg.distTags, spec) ??
      semver.maxSatisfying(Object.keys(doc.versions), spec) ?? spec;
    const m = Object.hasOwn(doc.versions, version)
      ? doc.versions[version]
      : undefined;
    if (!m) return json(404, { error: `Version ${spec} of ${name} not found` });
    return json(200, m);
  }

  async function getTarball(
    req: Request,
    name: string,
    file: string,
  ): Promise<Response> {
    const key = `${name}/${file}`;
    const generation = store.localGeneration?.();
    const hit = tarballCache.get(key);
    let data: Uint8Array | null;
    if (hit && generation !== undefined && hit.generation === generation) {
      data = hit.data;
    } else {
      data = await store.getTarball(name, file);
      if (hit) {
        tarballCache.delete(key);
        tarballCacheBytes -= hit.data.length;
      }
      if (
        data && generation !== undefined && data.length <= TARBALL_CACHE_ENTRY
      ) {
        for (const [k, v] of tarballCache) {
          if (tarballCacheBytes + data.length <= TARBALL_CACHE_TOTAL) break;
          tarballCache.delete(k);
          tarballCacheBytes -= v.data.length;
        }
        tarballCache.set(key, { generation, data });
        tarballCacheBytes += data.length;
      }
    }
    if (!data) {
      return json(404, { error: `Tarball ${file} of ${name} not found` });
    }
    const etag = `"${key}"`;
    const headers = {
      "content-type": "application/octet-stream",
      etag,
      "cache-control": "public, max-age=31536000, immutable",
    };
    if (etagMatches(req.headers.get("if-none-match"), etag)) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(data as Uint8Array<ArrayBuffer>, { headers });
  }

  // ---- publish and document updates

  async function publish(
    auth: Auth,
    name: string,
    body: Record<string, unknown>,
  ): Promise<Response> {
    const prepared = await preparePublish(name, body, limits);
    try {
      await store.transaction(async (tx) => {
        await tx.lockPackage(name);
        const pkg = await tx.getPackage(name);
        if (pkg) {
          if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
            throw new RegistryError(
              403,
              `You do not own ${name}: ask an owner to run npm owner add ${auth.user.name} ${name}`,
            );
          }
        } else if (!(await canCreateIn(tx, auth.user, name))) {
          throw new RegistryError(
            403,
            `Scope @${
              scopeOf(name)
            } belongs to another user or org: publish under @${auth.user.name}/ instead`,
          );
        }
        if (prepared.publisherKeyid) {
          await checkSigningKey(tx, auth.user, prepared.publisherKeyid);
        }
        if (await tx.isVersionRemoved(name, prepared.version)) {
          throw new RegistryError(
            403,
            `${name}@${prepared.version} was unpublished and its version number cannot be reused: bump the version`,
          );
        }
        const versions = await tx.getVersions(name);
        if (versions.some((v) => v.version === prepared.version)) {
          throw new RegistryError(
            403,
            `You cannot publish over the previously published version ${prepared.version} of ${name}: bump the version`,
          );
        }
        const published = now().toISOString();
        const owners = pkg?.owners ?? [auth.user.name];
        const manifest = {
          ...prepared.manifest,
          _npmUser: { name: auth.user.name, email: auth.user.email ?? "" },
          maintainers: (await ownersWithEmail(tx, owners)).map((o) => ({
            name: o.name,
            email: o.email ?? "",
          })),
          dist: {
            ...(prepared.manifest.dist as Record<string, unknown>),
            signatures: [{
              keyid: signingKey.keyid,
              sig: signingKey.sign(name, prepared.version, prepared.integrity),
            }],
            ...(prepared.attestation
              ? {
                attestations: {
                  url:
                    `${BASE}/-/npm/v1/attestations/${name}@${prepared.version}`,
                  provenance: {
                    predicateType: "https://slsa.dev/provenance/v1",
                  },
                },
              }
              : {}),
          },
        };
        const row: VersionRow = {
          name,
          version: prepared.version,
          manifest: JSON.stringify(manifest),
          readme: prepared.readme,
          published,
          deprecated: null,
        };
        await tx.insertVersion(row);
        fault("publish-mid-transaction");
        await tx.putTarball(name, prepared.filename, prepared.tarball);
        if (prepared.attestation) {
          await tx.putAttestation(name, prepared.version, prepared.attestation);
        }
        const distTags = ownRecord(pkg?.distTags);
        for (const t of prepared.tags) distTags[t] = prepared.version;
        if (!distTags.latest) distTags.latest = prepared.version;
        await save(
          tx,
          name,
          pkg?.created ?? published,
          pkg?.rev,
          distTags,
          owners,
          [...versions, row],
        );
      });
    } catch (e) {
      if (e instanceof StoreConflictError) {
        throw new RegistryError(
          403,
          `You cannot publish over the previously published version ${prepared.version} of ${name}: bump the version`,
          { cause: e },
        );
      }
      throw e;
    }
    return json(201, { ok: true, id: name, success: true });
  }

  async function update(
    auth: Auth,
    name: string,
    body: Record<string, unknown>,
    rev: string | undefined,
  ): Promise<Response> {
    const newRev = await store.transaction(async (tx) => {
      await tx.lockPackage(name);
      const pkg = await tx.getPackage(name);
      if (!pkg) throw new RegistryError(404, `Package ${name} not found`);
      const wantRev = rev ??
        (typeof body._rev === "string" ? body._rev : undefined);
      if (wantRev && wantRev !== pkg.rev) {
        throw new RegistryError(
          409,
          `The package changed since it was read (rev ${wantRev}, now ${pkg.rev}): try again`,
        );
      }
      if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
        throw new RegistryError(403, `You do not own ${name}`);
      }
      let versions = await tx.getVersions(name);
      let owners = pkg.owners;
      const incoming = body.versions as
        | Record<string, Record<string, unknown>>
        | undefined;
      if (incoming && typeof incoming === "object") {
        for (const v of Object.keys(incoming)) {
          if (!versions.some((r) => r.version === v)) {
            throw new RegistryError(
              400,
              `Version ${v} is not published: publish it with npm publish`,
            );
          }
        }
        const kept: VersionRow[] = [];
        for (const v of versions) {
          if (!Object.hasOwn(incoming, v.version)) {
            mayUnpublish(auth, v);
            await tx.removeVersion(
              name,
              v.version,
              tarballFilename(name, v.version),
            );
            continue;
          }
          const d = incoming[v.version]?.deprecated;
          const dep = typeof d === "string" && d !== "" ? d : null;
          if (dep !== v.deprecated) {
            await tx.setDeprecated(name, v.version, dep);
            v.deprecated = dep;
          }
          kept.push(v);
        }
        versions = kept;
      }
      if (Array.isArray(body.maintainers)) {
        const names = [
          ...new Set(
            (body.maintainers as unknown[]).map((m) =>
              typeof m === "string"
                ? m
                : String((m as { name?: unknown })?.name ?? "")
            ),
          ),
        ];
        if (!names.length) {
          throw new RegistryError(400, "A package needs at least one owner");
        }
        for (const n of names) {
          if (!(await tx.getUser(n))) {
            throw new RegistryError(400, `No user named ${JSON.stringify(n)}`);
          }
        }
        owners = names;
      }
      return await saveAfterRemoval(tx, pkg, owners, versions);
    });
    return json(200, { ok: true, id: name, rev: newRev });
  }

  async function unpublishAll(
    req: Request,
    name: string,
    rev: string,
  ): Promise<Response> {
    const auth = await requireUser(req, true);
    await store.transaction(async (tx) => {
      await tx.lockPackage(name);
      const pkg = await tx.getPackage(name);
      if (!pkg) throw new RegistryError(404, `Package ${name} not found`);
      if (rev !== pkg.rev) {
        throw new RegistryError(
          409,
          `The package changed since it was read: try again`,
        );
      }
      if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
        throw new RegistryError(403, `You do not own ${name}`);
      }
      for (const v of await tx.getVersions(name)) mayUnpublish(auth, v);
      await tx.deletePackage(name);
    });
    return json(200, { ok: true });
  }

  async function deleteTarball(
    req: Request,
    name: string,
    file: string,
  ): Promise<Response> {
    const auth = await requireUser(req, true);
    await store.transaction(async (tx) => {
      await tx.lockPackage(name);
      const pkg = await tx.getPackage(name);
      if (!pkg) return;
      if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
        throw new RegistryError(403, `You do not own ${name}`);
      }
      const versions = await tx.getVersions(name);
      const v = versions.find((r) => tarballFilename(name, r.version) === file);
      if (!v) return;
      mayUnpublish(auth, v);
      await tx.removeVersion(name, v.version, file);
      await saveAfterRemoval(
        tx,
        pkg,
        pkg.owners,
        versions.filter((r) => r !== v),
      );
    });
    return json(200, { ok: true });
  }

  // ---- dist-tags

  async function distTags(
    req: Request,
    name: string,
    tag: string | undefined,
  ): Promise<Response> {
    if (req.method === "GET") {
      const pkg = await store.getPackage(name);
      if (!pkg) return json(404, { error: `Package ${name} not found` });
      return json(200, tag ? tagOf(pkg.distTags, tag) ?? null : pkg.distTags);
    }
    if (!tag) {
      throw new RegistryError(
        405,
        "Name a tag: /-/package/:pkg/dist-tags/:tag",
      );
    }
    const auth = await requireUser(req, true);
    let version: string | undefined;
    if (req.method === "PUT" || req.method === "POST") {
      const v = await readJson(req, 4096);
      if (typeof v !== "string") {
        throw new RegistryError(
          400,
          "The body must be a JSON string: the version",
        );
      }
      version = v;
      const p = tagProblem(tag);
      if (p) throw new RegistryError(400, p);
    } else if (req.method === "DELETE") {
      if (tag === "latest") {
        throw new RegistryError(
          400,
          "The latest tag cannot be removed: point it elsewhere",
        );
      }
    } else throw new RegistryError(405, `${req.method} is not allowed here`);
    const tags = await store.transaction(async (tx) => {
      await tx.lockPackage(name);
      const pkg = await tx.getPackage(name);
      if (!pkg) throw new RegistryError(404, `Package ${name} not found`);
      if (!auth.user.admin && !pkg.owners.includes(auth.user.name)) {
        throw new RegistryError(403, `You do not own ${name}`);
      }
      const versions = await tx.getVersions(name);
      const t = ownRecord(pkg.distTags);
      if (version !== undefined) {
        if (!versions.some((v) => v.version === version)) {
          throw new RegistryError(
            400,
            `Version ${version} of ${name} is not published`,
          );
        }
        t[tag] = version;
      } else {
        if (!Object.hasOwn(t, tag)) {
          throw new RegistryError(404, `${name} has no tag ${tag}`);
        }
        delete t[tag];
      }
      await save(tx, name, pkg.created, pkg.rev, t, pkg.owners, versions);
      return t;
    });
    return json(200, tags);
  }

  // ---- users and tokens

  async function issueToken(tx: StoreTx, username: string, readonly: boolean) {
    const secret = newTokenSecret();
    const row = {
      key: crypto.randomUUID(),
      hash: sha256Hex(secret),
      username,
      readonly,
      created: now().toISOString(),
    };
    await tx.insertToken(row);
    return { secret, row };
  }

  async function checkPassword(
    ip: string,
    name: string,
    password: string,
    user: UserRow,
  ) {
    startAttempt(ip, name);
    if (!(await verifyPassword(password, user.passwordHash))) {
      throw new RegistryError(401, "Wrong user name or password");
    }
    limiter.succeeded(ip, name);
  }

  /** Counts a login attempt as it starts (a password check as a failure until it passes). */
  function startAttempt(ip: string, name?: string): void {
    const wait = limiter.start(ip, name);
    if (wait) {
      throw new RegistryError(
        429,
        `Too many login attempts: wait ${Math.ceil(wait / 1000)} s`,
      );
    }
  }

  async function login(
    req: Request,
    ip: string,
    name: string,
  ): Promise<Response> {
    const body = await readObject(req, 64 * 1024);
    const password = body.password;
    if (typeof password !== "string") {
      throw new RegistryError(400, "A password is required");
    }
    if (body.name !== undefined && body.name !== name) {
      throw new RegistryError(
        400,
        "The user name in the body differs from the URL",
      );
    }
    const existing = await store.getUser(name);
    if (existing) {
      await checkPassword(ip, name, password, existing);
      const { secret } = await store.transaction((tx) =>
        issueToken(tx, name, false)
      );
      return json(201, {
        ok: true,
        id: `org.couchdb.user:${name}`,
        rev: "1",
        token: secret,
      });
    }
    startAttempt(ip);
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) {
      throw new RegistryError(
        400,
        "A user name is 1-64 lowercase letters, digits, '.', '_' or '-'",
      );
    }
    if (password.length < 8) {
      throw new RegistryError(400, "A password needs at least 8 characters");
    }
    const requester = await authenticate(req).catch(() => null);
    if (!signup && !requester?.user.admin) {
      throw new RegistryError(
        403,
        "Sign-up is closed on this registry: ask an admin for an account",
      );
    }
    const passwordHash = await hashPassword(password);
    const email = typeof body.email === "string"
      ? body.email.slice(0, 256)
      : null;
    try {
      const { secret } = await store.transaction(async (tx) => {
        if ((await tx.getOrgMembers(name)).length) {
          throw new RegistryError(
            409,
            `${name} is an org name: choose another user name`,
          );
        }
        const first = (await tx.countUsers()) === 0 && admins.size === 0;
        await tx.createUser({
          name,
          email,
          passwordHash,
          admin: admins.has(name) || first,
          created: now().toISOString(),
        });
        return await issueToken(tx, name, false);
      });
      return json(201, {
        ok: true,
        id: `org.couchdb.user:${name}`,
        rev: "1",
        token: secret,
      });
    } catch (e) {
      if (e instanceof StoreConflictError) {
        throw new RegistryError(409, `User ${name} already exists`);
      }
      throw e;
    }
  }

  async function loginBasic(
    req: Request,
    ip: string,
    name: string,
  ): Promise<Response> {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
    if (!m) {
      throw new RegistryError(401, "Basic authentication is required here");
    }
    let decoded: string;
    try {
      decoded = atob(m[1]);
    } catch {
      throw new RegistryError(
        400,
        "Authorization: Basic must carry base64 of user:password",
      );
    }
    const [user, ...pw] = decoded.split(":");
    if (user !== name) {
      throw new RegistryError(401, "The user name differs from the URL");
    }
    const row = await store.getUser(name);
    if (!row) throw new RegistryError(401, "Wrong user name or password");
    await checkPassword(ip, name, pw.join(":"), row);
    const { secret } = await store.transaction((tx) =>
      issueToken(tx, name, false)
    );
    return json(201, {
      ok: true,
      id: `org.couchdb.user:${name}`,
      rev: "1",
      token: secret,
    });
  }

  async function tokens(
    req: Request,
    ip: string,
    rest: string[],
  ): Promise<Response> {
    const auth = await requireUser(req, false);
    if (req.method === "GET" && !rest.length) {
      const list = await store.listTokens(auth.user.name);
      return json(200, {
        objects: list.map((t) => ({
          token: t.key.slice(0, 8),
          key: t.key,
          readonly: t.readonly,
          cidr_whitelist: [],
          created: t.created,
          updated: t.created,
        })),
        total: list.length,
        urls: {},
      });
    }
    if (req.method === "POST" && !rest.length) {
      if (auth.readonly) {
        throw new RegistryError(403, "A read-only token cannot create tokens");
      }
      const body = await readObject(req, 64 * 1024);
      if (typeof body.password !== "string") {
        throw new RegistryError(400, "A password is required");
      }
      if (
        Array.isArray(body.cidr_whitelist) && body.cidr_whitelist.length
      ) {
        throw new RegistryError(
          400,
          "CIDR-restricted tokens are not supported by this registry: create the token without --cidr",
        );
      }
      await checkPassword(ip, auth.user.name, body.password, auth.user);
      const { secret, row } = await store.transaction((tx) =>
        issueToken(tx, auth.user.name, body.readonly === true)
      );
      return json(201, {
        token: secret,
        key: row.key,
        readonly: row.readonly,
        cidr_whitelist: [],
        created: row.created,
        updated: row.created,
      });
    }
    if (req.method === "DELETE" && rest.length === 2 && rest[0] === "token") {
      const ok = await store.transaction((tx) =>
        tx.deleteToken(auth.user.name, rest[1])
      );
      if (!ok) throw new RegistryError(404, "No such token");
      return new Response(null, { status: 204 });
    }
    throw new RegistryError(405, `${req.method} is not allowed here`);
  }

  async function orgs(req: Request, org: string): Promise<Response> {
    const members = await store.getOrgMembers(org);
    if (req.method === "GET") {
      if (!members.length) return json(404, { error: `Org ${org} not found` });
      return json(
        200,
        Object.fromEntries(members.map((m) => [m.username, m.role])),
      );
    }
    const auth = await requireUser(req, true);
    const isOwner = members.some((m) =>
      m.username === auth.user.name && m.role === "owner"
    );
    if (!auth.user.admin && !isOwner) {
      throw new RegistryError(
        403,
        members.length
          ? `Only an owner of ${org} can change its members`
          : `Only an admin can create the org ${org}`,
      );
    }
    const body = await readObject(req, 64 * 1024);
    const user = String(body.user ?? "");
    if (!(await store.getUser(user))) {
      throw new RegistryError(400, `No user named ${JSON.stringify(user)}`);
    }
    if (!members.length && (await store.getUser(org))) {
      throw new RegistryError(
        409,
        `${org} is a user name: an org cannot take it`,
      );
    }
    if (req.method === "PUT") {
      const role = String(body.role ?? "developer");
      if (!["owner", "admin", "developer"].includes(role)) {
        throw new RegistryError(400, "role must be owner, admin or developer");
      }
      await store.transaction((tx) =>
        tx.setOrgMember({ org, username: user, role })
      );
      return json(200, { org: { name: org }, user, role });
    }
    if (req.method === "DELETE") {
      await store.transaction((tx) => tx.removeOrgMember(org, user));
      return new Response(null, { status: 204 });
    }
    throw new RegistryError(405, `${req.method} is not allowed here`);
  }

  // ---- publisher keys

  /** A signed publish must not use a key registered to someone else, or a revoked one. */
  async function checkSigningKey(
    tx: StoreTx,
    user: UserRow,
    keyid: string,
  ): Promise<void> {
    const k = await tx.getPublisherKey(keyid);
    if (!k) return;
    if (k.username !== user.name) {
      throw new RegistryError(
        403,
        `The package is signed with publisher key ${keyid}, which is registered to ${k.username}: sign it with your own key (bpfpm publish uses the key in your config dir)`,
        { code: "foreign-publisher-key" },
      );
    }
    if (k.revoked) {
      throw new RegistryError(
        403,
        `The package is signed with publisher key ${keyid}, which you revoked on ${k.revoked}: move publisher_ed25519.pem out of your config dir so bpfpm makes a new key, and publish again`,
        { code: "revoked-publisher-key" },
      );
    }
  }

  function keyJson(k: PublisherKeyRow): Record<string, unknown> {
    return {
      keyid: k.keyid,
      key: k.key,
      user: k.username,
      created: k.created,
      ...(k.revoked ? { revoked: k.revoked } : {}),
    };
  }

  async function publisherKeys(
    req: Request,
    url: URL,
    rest: string[],
  ): Promise<Response> {
    const method = req.method;
    if (!rest.length) {
      if (method !== "GET") {
        throw new RegistryError(405, `${method} is not allowed here`);
      }
      const user = url.searchParams.get("user");
      if (!user) {
        throw new RegistryError(
          400,
          "Say whose keys to list: /-/bpfpm/v1/keys?user=NAME",
        );
      }
      if (!(await store.getUser(user))) {
        return json(404, { error: `No user named ${user}` });
      }
      const keys = await store.listPublisherKeys(user);
      return json(200, { user, keys: keys.map(keyJson) });
    }
    if (rest.length !== 1) {
      return json(404, { error: `Not found: ${method} ${url.pathname}` });
    }
    const keyid = rest[0];
    if (method === "GET" || method === "HEAD") {
      const k = await store.getPublisherKey(keyid);
      if (!k) {
        return json(404, { error: `No publisher key ${keyid} is registered` });
      }
      if (k.revoked) {
        return json(410, {
          ...keyJson(k),
          error:
            `Publisher key ${keyid} was revoked by ${k.username} on ${k.revoked}`,
        });
      }
      return json(200, keyJson(k));
    }
    if (method === "PUT") {
      const auth = await requireUser(req, true);
      const body = await readObject(req, 64 * 1024);
      if (body.keyid !== undefined && body.keyid !== keyid) {
        throw new RegistryError(
          400,
          `The body names key ${
            JSON.stringify(body.keyid)
          } but the URL names ${keyid}`,
        );
      }
      if (typeof body.key !== "string" || typeof body.proof !== "string") {
        throw new RegistryError(
          400,
          'Send { keyid, key, proof }: key is the SPKI public key in base64, proof its signature of "bpfpm publisher key <keyid> belongs to <user>" (bpfpm publish sends both)',
        );
      }
      const problem = keyProblem(keyid, body.key, auth.user.name, body.proof);
      if (problem) throw new RegistryError(400, problem);
      const row: PublisherKeyRow = {
        keyid,
        key: body.key,
        username: auth.user.name,
        created: now().toISOString(),
        revoked: null,
      };
      const register = () =>
        store.transaction(async (tx) => {
          const k = await tx.getPublisherKey(keyid);
          if (!k) {
            await tx.insertPublisherKey(row);
            return { status: 201, k: row };
          }
          if (k.username !== auth.user.name) {
            throw new RegistryError(
              409,
              `Publisher key ${keyid} is registered to another user: a key belongs to one user, so make your own (move publisher_ed25519.pem out of your config dir)`,
              { code: "key-taken" },
            );
          }
          if (k.revoked) {
            throw new RegistryError(
              410,
              `Publisher key ${keyid} was revoked on ${k.revoked} and cannot be registered again: move publisher_ed25519.pem out of your config dir so bpfpm makes a new key`,
              { code: "key-revoked" },
            );
          }
          return { status: 200, k };
        });
      // Two registrations of one new key race on the primary key: the loser reads the winner.
      const r = await register().catch((e) => {
        if (e instanceof StoreConflictError) return register();
        throw e;
      });
      return json(r.status, keyJson(r.k));
    }
    if (method === "DELETE") {
      const auth = await requireUser(req, true);
      const r = await store.transaction(async (tx) => {
        const k = await tx.getPublisherKey(keyid);
        if (!k) {
          throw new RegistryError(
            404,
            `No publisher key ${keyid} is registered`,
          );
        }
        if (k.username !== auth.user.name && !auth.user.admin) {
          throw new RegistryError(
            403,
            `Publisher key ${keyid} belongs to ${k.username}: only they (or an admin) can revoke it`,
          );
        }
        const at = now().toISOString();
        await tx.revokePublisherKey(keyid, at);
        return { ...k, revoked: k.revoked ?? at };
      });
      return json(200, keyJson(r));
    }
    throw new RegistryError(405, `${method} is not allowed here`);
  }

  async function search(url: URL): Promise<Response> {
    const text = (url.searchParams.get("text") ?? "").slice(0, 200);
    const size = Math.min(250, Math.max(1, countParam(url, "size", 20)));
    const from = countParam(url, "from", 0);
    const { rows, total } = await store.search(text, size, from);
    const base = baseOf(url);
    return json(200, {
      objects: rows.map((r) => ({
        package: {
          name: r.name,
          scope: scopeOf(r.name) ?? "unscoped",
          version: r.latest,
          description: r.description,
          keywords: r.keywords,
          date: r.modified,
          links: { npm: `${base}/-/web/package/${r.name}` },
          publisher: { username: r.owners[0] ?? "" },
          maintainers: r.owners.map((o) => ({ username: o })),
        },
        score: {
          final: 1,
          detail: { quality: 1, popularity: 1, maintenance: 1 },
        },
        searchScore: 1,
      })),
      total,
      time: new Date().toUTCString(),
    });
  }

  // ---- the router

  async function route(req: Request, info?: RequestInfo): Promise<Response> {
    // Split the URL by hand: the hot path (a packument or tarball GET) needs no URL object.
    const raw = req.url;
    const slash = raw.indexOf("/", raw.indexOf("//") + 2);
    const mark = raw.indexOf("?", slash);
    const origin = raw.slice(0, slash);
    const path = mark < 0 ? raw.slice(slash) : raw.slice(slash, mark);
    const query = mark < 0 ? "" : raw.slice(mark + 1);
    const method = req.method;
    const ip = info?.remoteAddr?.hostname ?? "unknown";
    if (
      !path.startsWith("/-/") && path !== "/" &&
      (method === "GET" || method === "HEAD")
    ) {
      const parsed = parsePackagePath(path.slice(1).split("/"));
      if (parsed && !parsed.rest.length) {
        return await getPackument(req, origin, query, parsed.name);
      }
      if (parsed && parsed.rest.length === 2 && parsed.rest[0] === "-") {
        return await getTarball(req, parsed.name, parsed.rest[1]);
      }
    }
    const url = new URL(raw);
    if (path === "/" && method === "GET") {
      const q = url.searchParams.get("q") ?? "";
      const { rows, total } = await store.search(q, 100, 0);
      return html(renderIndex({ query: q, rows, total, base: baseOf(url) }));
    }
    if (path.startsWith("/-/")) {
      const seg = path.slice(3).split("/");
      const p = seg.join("/");
      if (p === "ping") return json(200, {});
      if (p === "whoami") {
        const auth = await requireUser(req, false);
        return json(200, { username: auth.user.name });
      }
      if (p === "v1/login") {
        return json(404, {
          error: "Web login is not supported: use legacy login",
        });
      }
      if (p === "v1/search" && method === "GET") return await search(url);
      if (p === "npm/v1/keys") {
        return json(200, {
          keys: [{
            expires: null,
            keyid: signingKey.keyid,
            keytype: "ecdsa-sha2-nistp256",
            scheme: "ecdsa-sha2-nistp256",
            key: signingKey.publicKey,
          }],
        });
      }
      if (
        p === "npm/v1/security/advisories/bulk" ||
        p === "npm/v1/security/audits/quick"
      ) {
        return json(200, {});
      }
      if (seg[0] === "bpfpm" && seg[1] === "v1" && seg[2] === "keys") {
        return await publisherKeys(
          req,
          url,
          seg.slice(3).filter(Boolean).map(decodeURIComponent),
        );
      }
      if (seg[0] === "npm" && seg[1] === "v1" && seg[2] === "tokens") {
        return await tokens(req, ip, seg.slice(3).map(decodeURIComponent));
      }
      if (
        seg[0] === "npm" && seg[1] === "v1" && seg[2] === "attestations" &&
        seg.length >= 4
      ) {
        const spec = decodeURIComponent(seg.slice(3).join("/"));
        const at = spec.lastIndexOf("@");
        const bundle = at > 0
          ? await store.getAttestation(spec.slice(0, at), spec.slice(at + 1))
          : null;
        if (!bundle) return json(404, { error: "No attestations" });
        return json(200, {
          attestations: [{
            predicateType: "https://slsa.dev/provenance/v1",
            bundle: JSON.parse(bundle),
          }],
        });
      }
      if (
        seg[0] === "user" && seg[1] === "token" && seg.length === 3 &&
        method === "DELETE"
      ) {
        const auth = await requireUser(req, false);
        const secret = decodeURIComponent(seg[2]);
        await store.transaction((tx) =>
          tx.deleteToken(auth.user.name, sha256Hex(secret))
        );
        return json(200, { ok: true });
      }
      if (seg[0] === "user" && seg[1]?.startsWith("org.couchdb.user:")) {
        const name = decodeURIComponent(
          seg[1].slice("org.couchdb.user:".length),
        );
        if (seg.length === 2 && method === "PUT") {
          return await login(req, ip, name);
        }
        if (seg.length === 4 && seg[2] === "-rev" && method === "PUT") {
          return await loginBasic(req, ip, name);
        }
        if (seg.length === 2 && method === "GET") {
          const u = await store.getUser(name);
          if (!u) return json(404, { error: `No user named ${name}` });
          return json(200, {
            _id: `org.couchdb.user:${name}`,
            name,
            email: u.email ?? "",
          });
        }
      }
      if (seg[0] === "package") {
        const parsed = parsePackagePath(seg.slice(1));
        if (
          parsed && parsed.rest[0] === "dist-tags" && parsed.rest.length <= 2
        ) {
          return await distTags(req, parsed.name, parsed.rest[1]);
        }
      }
      if (seg[0] === "org" && seg.length === 3 && seg[2] === "user") {
        return await orgs(req, decodeURIComponent(seg[1]));
      }
      if (seg[0] === "web" && seg[1] === "package" && method === "GET") {
        const name = decodeURIComponent(seg.slice(2).join("/"));
        const pkg = await store.getPackage(name);
        if (!pkg) return html(renderNotFound(name), 404);
        return html(
          renderPackage(
            JSON.parse(pkg.fullDoc.replaceAll(BASE, baseOf(url))),
            baseOf(url),
          ),
        );
      }
      return json(404, { error: `Not found: ${method} ${path}` });
    }
    const parsed = parsePackagePath(path.slice(1).split("/"));
    if (!parsed) return json(404, { error: `Not found: ${method} ${path}` });
    const { name, rest } = parsed;
    if (packageNameProblem(name)) {
      return json(404, { error: `Not found: ${name} is not a package name` });
    }
    if (!rest.length) {
      if (method === "GET" || method === "HEAD") {
        return await getPackument(req, url.origin, url.search.slice(1), name);
      }
      if (method === "PUT") {
        return await withPublishTurn(req, async (auth, body) => {
          if (body._attachments) return await publish(auth, name, body);
          return await update(auth, name, body, undefined);
        });
      }
    }
    if (rest.length === 2 && rest[0] === "-rev") {
      if (method === "PUT") {
        return await withPublishTurn(
          req,
          (auth, body) => update(auth, name, body, rest[1]),
        );
      }
      if (method === "DELETE") return await unpublishAll(req, name, rest[1]);
    }
    if (
      rest.length === 2 && rest[0] === "-" &&
      (method === "GET" || method === "HEAD")
    ) {
      return await getTarball(req, name, rest[1]);
    }
    if (
      rest.length === 4 && rest[0] === "-" && rest[2] === "-rev" &&
      method === "DELETE"
    ) {
      return await deleteTarball(req, name, rest[1]);
    }
    if (rest.length === 1 && method === "GET") {
      return await getVersion(url, name, rest[0]);
    }
    return json(405, { error: `${method} ${path} is not supported` });
  }

  return async (req, info) => {
    try {
      return await route(req, info);
    } catch (e) {
      if (e instanceof RegistryError) {
        const headers: Record<string, string> = e.status === 401
          ? { "www-authenticate": 'Bearer realm="bpfpm"' }
          : e.status === 429
          ? { "retry-after": "5" }
          : {};
        return json(e.status, {
          error: e.message,
          ...(e.code ? { code: e.code } : {}),
        }, headers);
      }
      if (e instanceof URIError) {
        return json(400, { error: "Malformed percent-encoding in the URL" });
      }
      console.error("registry: internal error:", e);
      return json(500, { error: "Internal server error" });
    }
  };
}

/** The version `tag` points at: own keys only, so `constructor` is just a name. */
function tagOf(tags: Record<string, string>, tag: string): string | undefined {
  return Object.hasOwn(tags, tag) ? tags[tag] : undefined;
}

/** A whole-number query parameter (a count or an offset), or a 400 naming it. */
function countParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^[0-9]{1,9}$/.test(raw)) {
    throw new RegistryError(
      400,
      `${name}=${
        raw.slice(0, 40)
      } is not a whole number below 1000000000: give ${name} as digits, such as ${name}=${fallback}`,
    );
  }
  return Number(raw);
}

function html(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      "x-content-type-options": "nosniff",
    },
  });
}
