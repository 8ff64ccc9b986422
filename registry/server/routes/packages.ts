/**
 * Packages: the packument (full and abbreviated, cached per revision), one version's
 * manifest, publish, document updates (deprecate, owners, removing versions) and
 * unpublishing a whole package.
 *
 * @module
 */
import semver from "semver";
import { BASE, type Packument } from "../_docs.ts";
import {
  ABBREV_TYPE,
  checkDeclaredLength,
  etagMatches,
  json,
  JSON_TYPE,
  readObject,
} from "../_http.ts";
import { ownRecord, preparePublish } from "../_publish.ts";
import { RegistryError } from "../../common/errors.ts";
import { tarballFilename } from "../../common/names.ts";
import { fault } from "../_test_hooks.ts";
import {
  type Auth,
  type Registry,
  type RequestContext,
  type Route,
  scopeOf,
} from "../_context.ts";
import { StoreConflictError, type StoreTx, type VersionRow } from "../store.ts";
import { checkSigningKey } from "./publisher_keys.ts";

/** How long a publish's body may take to arrive once it has its turn. */
const PUBLISH_BODY_TIMEOUT_MS = 60_000;

interface CachedDoc {
  rev: string;
  base: string;
  doc: Packument;
  etag: string;
  generation?: number;
}

/** Cached packuments: at most this many, and this many bytes (plain), oldest out first. */
const CACHE_MAX_DOCS = 2000;
const CACHE_MAX_BYTES = 256 * 1024 * 1024;

/** Reads a request body to its end (for at most the publish body timeout), keeping nothing. */
async function discardBody(req: Request): Promise<void> {
  if (!req.body) return;
  const reader = req.body.getReader();
  const timer = setTimeout(
    () => reader.cancel().catch(() => {}),
    PUBLISH_BODY_TIMEOUT_MS,
  );
  try {
    while (!(await reader.read()).done) { /* dropped */ }
  } catch {
    /* the client went away */
  } finally {
    clearTimeout(timer);
  }
}

/** The version `tag` points at: own keys only, so `constructor` is just a name. */
export function tagOf(
  tags: Record<string, string>,
  tag: string,
): string | undefined {
  return Object.hasOwn(tags, tag) ? tags[tag] : undefined;
}

/** The package routes. */
export function packageRoutes(registry: Registry): Route[] {
  const { store } = registry;
  const cache = new Map<string, CachedDoc>();
  let cachedBytes = 0;

  /** Files a packument (the key moves to the newest end), evicting the oldest over the caps. */
  function remember(key: string, entry: CachedDoc): void {
    const old = cache.get(key);
    if (old) {
      cache.delete(key);
      cachedBytes -= old.doc.size;
    }
    while (
      cache.size && (cache.size >= CACHE_MAX_DOCS ||
        cachedBytes + entry.doc.size > CACHE_MAX_BYTES)
    ) {
      const [k, v] = cache.entries().next().value!;
      cache.delete(k);
      cachedBytes -= v.doc.size;
    }
    cache.set(key, entry);
    cachedBytes += entry.doc.size;
  }

  const reloads = new Map<string, Promise<CachedDoc | null>>();

  /** Revalidates (and if changed, reassembles) a cached packument; null when there is none. */
  async function reload(
    name: string,
    abbreviated: boolean,
    base: string,
    generation: number | undefined,
  ): Promise<CachedDoc | null> {
    const kind = abbreviated ? "a" : "f";
    const cacheKey = `${kind}:${name}`;
    let hit = cache.get(cacheKey);
    const rev = await store.getPackageRev(name);
    if (!rev) return null;
    if (!hit || hit.rev !== rev || hit.base !== base) {
      const doc = await store.getPackument(name, abbreviated, base);
      if (!doc) return null;
      hit = {
        rev: doc.rev,
        base,
        doc,
        generation,
        etag: `"${doc.rev}-${kind}"`,
      };
    } else {
      hit = { ...hit, generation };
    }
    remember(cacheKey, hit);
    return hit;
  }

  async function getPackument(ctx: RequestContext): Promise<Response> {
    const { req, query } = ctx;
    const name = ctx.params.pkg;
    const write = /(^|&)write=true(&|$)/.test(query);
    const abbreviated = !write &&
      (req.headers.get("accept") ?? "").includes(
        "application/vnd.npm.install-v1+json",
      );
    const base = registry.baseOf(ctx.origin);
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
      // After a publish, the clients waiting on this packument share one reload.
      const key = `${cacheKey}\n${base}\n${generation}\n${write}`;
      let loading = reloads.get(key);
      if (!loading) {
        loading = reload(name, abbreviated, base, generation).finally(() =>
          reloads.delete(key)
        );
        reloads.set(key, loading);
      }
      const loaded = await loading;
      if (!loaded) return json(404, { error: `Package ${name} not found` });
      hit = loaded;
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
    // npm asks for gzip; a large packument is compressed once per revision, and then
    // only in the blocks the revision changed.
    if (
      hit.doc.size > 4096 &&
      /\bgzip\b/.test(req.headers.get("accept-encoding") ?? "")
    ) {
      headers["content-encoding"] = "gzip";
      return new Response(hit.doc.gzip as Uint8Array<ArrayBuffer>, { headers });
    }
    return new Response(hit.doc.bytes as Uint8Array<ArrayBuffer>, { headers });
  }

  async function getVersion(ctx: RequestContext): Promise<Response> {
    const { pkg: name, version: spec } = ctx.params;
    const pkg = await store.getPackageDoc(name, false);
    if (!pkg) return json(404, { error: `Package ${name} not found` });
    const doc = JSON.parse(
      pkg.doc.replaceAll(BASE, registry.baseOf(ctx.origin)),
    ) as {
      versions: Record<string, unknown>;
      "dist-tags": Record<string, string>;
    };
    const version = tagOf(doc["dist-tags"], spec) ??
      semver.maxSatisfying(Object.keys(doc.versions), spec) ?? spec;
    const m = Object.hasOwn(doc.versions, version)
      ? doc.versions[version]
      : undefined;
    if (!m) return json(404, { error: `Version ${spec} of ${name} not found` });
    return json(200, m);
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
    checkDeclaredLength(req, registry.maxBody);
    const auth = await registry.requireUser(req, true);
    const leave = await registry.publishGate.enter(auth.user.name).catch(
      async (e) => {
        // Refused before reading: the body (within the declared cap) is dropped unread
        // and unkept, so the connection stays usable for the client's next request.
        await discardBody(req);
        throw e;
      },
    );
    try {
      return await fn(
        auth,
        await readObject(req, registry.maxBody, PUBLISH_BODY_TIMEOUT_MS),
      );
    } finally {
      leave();
    }
  }

  async function publish(
    auth: Auth,
    name: string,
    body: Record<string, unknown>,
  ): Promise<Response> {
    const prepared = await preparePublish(name, body, registry.limits);
    const { signingKey } = registry;
    // Signed before the transaction: publishes take turns in it, not in this.
    const sig = await signingKey.sign(
      name,
      prepared.version,
      prepared.integrity,
    );
    try {
      await store.transaction(async (tx) => {
        const pkg = await registry.requireOwner(tx, auth, name, {
          allowMissing: true,
          hint: `: ask an owner to run npm owner add ${auth.user.name} ${name}`,
        });
        if (!pkg && !(await registry.canCreateIn(tx, auth.user, name))) {
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
        const owners = pkg?.owners ?? [auth.user.name];
        const [removed, existing, withEmail] = await Promise.all([
          tx.isVersionRemoved(name, prepared.version),
          tx.getVersion(name, prepared.version),
          tx.ownersWithEmail(owners),
        ]);
        if (removed) {
          throw new RegistryError(
            403,
            `${name}@${prepared.version} was unpublished and its version number cannot be reused: bump the version`,
          );
        }
        if (existing) {
          throw new RegistryError(
            403,
            `You cannot publish over the previously published version ${prepared.version} of ${name}: bump the version`,
          );
        }
        const published = registry.now().toISOString();
        const manifest = {
          ...prepared.manifest,
          _npmUser: { name: auth.user.name, email: auth.user.email ?? "" },
          maintainers: withEmail.map((
            o,
          ) => ({
            name: o.name,
            email: o.email ?? "",
          })),
          dist: {
            ...(prepared.manifest.dist as Record<string, unknown>),
            signatures: [{
              keyid: signingKey.keyid,
              sig,
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
        await registry.save(
          tx,
          name,
          pkg?.created ?? published,
          pkg?.rev,
          distTags,
          owners,
          [row],
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
      const pkg = await registry.requireOwner(tx, auth, name, {
        rev: rev ?? (typeof body._rev === "string" ? body._rev : undefined),
      });
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
            registry.mayUnpublish(auth, v);
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
        owners = await maintainerNames(tx, body.maintainers);
      }
      return await registry.saveAfterRemoval(tx, pkg, owners, versions);
    });
    return json(200, { ok: true, id: name, rev: newRev });
  }

  async function unpublishAll(ctx: RequestContext): Promise<Response> {
    const { pkg: name, rev } = ctx.params;
    const auth = await registry.requireUser(ctx.req, true);
    await store.transaction(async (tx) => {
      await registry.requireOwner(tx, auth, name, { rev });
      for (const v of await tx.getVersions(name)) {
        registry.mayUnpublish(auth, v);
      }
      await tx.deletePackage(name);
    });
    return json(200, { ok: true });
  }

  async function getAttestation(ctx: RequestContext): Promise<Response> {
    const spec = ctx.params.spec;
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

  return [
    {
      method: "GET",
      path: "/-/npm/v1/attestations/*spec",
      handler: getAttestation,
    },
    { method: ["GET", "HEAD"], path: "/:pkg", handler: getPackument },
    {
      method: "PUT",
      path: "/:pkg",
      handler: (ctx) =>
        withPublishTurn(
          ctx.req,
          (auth, body) =>
            body._attachments
              ? publish(auth, ctx.params.pkg, body)
              : update(auth, ctx.params.pkg, body, undefined),
        ),
    },
    {
      method: "PUT",
      path: "/:pkg/-rev/:rev",
      handler: (ctx) =>
        withPublishTurn(
          ctx.req,
          (auth, body) => update(auth, ctx.params.pkg, body, ctx.params.rev),
        ),
    },
    { method: "DELETE", path: "/:pkg/-rev/:rev", handler: unpublishAll },
    { method: "GET", path: "/:pkg/:version", handler: getVersion },
  ];
}

/** The owners a document's `maintainers` names (strings or `{ name }`), all existing users. */
async function maintainerNames(
  tx: StoreTx,
  maintainers: unknown[],
): Promise<string[]> {
  const names = [
    ...new Set(
      maintainers.map((m) =>
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
  return names;
}
