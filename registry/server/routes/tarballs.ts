/**
 * Tarballs: download (immutable, cached in memory while only this process writes the
 * store) and the removal of one version by its tarball (npm's unpublish of a version).
 *
 * @module
 */
import { etagMatches, json } from "../_http.ts";
import { tarballFilename } from "../../common/names.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";

const TARBALL_CACHE_ENTRY = 1024 * 1024;
const TARBALL_CACHE_TOTAL = 64 * 1024 * 1024;

/** The tarball routes. */
export function tarballRoutes(registry: Registry): Route[] {
  const { store } = registry;
  // Tarballs of a store only this process writes, valid until its next commit.
  const cache = new Map<string, { generation: number; data: Uint8Array }>();
  let cacheBytes = 0;

  async function getTarball(ctx: RequestContext): Promise<Response> {
    const { pkg: name, file } = ctx.params;
    const key = `${name}/${file}`;
    const generation = store.localGeneration?.();
    const hit = cache.get(key);
    let data: Uint8Array | null;
    if (hit && generation !== undefined && hit.generation === generation) {
      data = hit.data;
    } else {
      data = await store.getTarball(name, file);
      if (hit) {
        cache.delete(key);
        cacheBytes -= hit.data.length;
      }
      if (
        data && generation !== undefined && data.length <= TARBALL_CACHE_ENTRY
      ) {
        for (const [k, v] of cache) {
          if (cacheBytes + data.length <= TARBALL_CACHE_TOTAL) break;
          cache.delete(k);
          cacheBytes -= v.data.length;
        }
        cache.set(key, { generation, data });
        cacheBytes += data.length;
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
    if (etagMatches(ctx.req.headers.get("if-none-match"), etag)) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(data as Uint8Array<ArrayBuffer>, { headers });
  }

  async function deleteTarball(ctx: RequestContext): Promise<Response> {
    const { pkg: name, file } = ctx.params;
    const auth = await registry.requireUser(ctx.req, true);
    await store.transaction(async (tx) => {
      const pkg = await registry.requireOwner(tx, auth, name, {
        allowMissing: true,
      });
      if (!pkg) return;
      const versions = await tx.getVersions(name);
      const v = versions.find((r) => tarballFilename(name, r.version) === file);
      if (!v) return;
      registry.mayUnpublish(auth, v);
      await tx.removeVersion(name, v.version, file);
      await registry.saveAfterRemoval(
        tx,
        pkg,
        pkg.owners,
        versions.filter((r) => r !== v),
      );
    });
    return json(200, { ok: true });
  }

  return [
    { method: ["GET", "HEAD"], path: "/:pkg/-/:file", handler: getTarball },
    {
      method: "DELETE",
      path: "/:pkg/-/:file/-rev/:rev",
      handler: deleteTarball,
    },
  ];
}
