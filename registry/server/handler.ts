/**
 * The registry's HTTP layer: a pure handler `(Request) => Promise<Response>` speaking
 * the npm registry protocol over a `Store`. A route table maps method and
 * path to one module per resource (`routes/`); they share a {@linkcode Registry}
 * (store, policy, authentication, the one ownership check). It keeps no state that
 * matters between requests (a packument cache is validated against the stored
 * revision on every request; the login rate limit and the publish gate are per
 * process), so several processes on one PostgreSQL serve consistently.
 *
 * @module
 */
import { packageNameProblem } from "../common/names.ts";
import { RegistryError } from "../common/errors.ts";
import { Registry, type RegistryHandlerOptions } from "./_context.ts";
import { json } from "./_http.ts";
import { type RequestContext, type RouteHandler, Router } from "./_router.ts";
import { distTagRoutes } from "./routes/dist_tags.ts";
import { npmMetaRoutes } from "./routes/npm_meta.ts";
import { orgRoutes } from "./routes/orgs.ts";
import { packageRoutes } from "./routes/packages.ts";
import { publisherKeyRoutes } from "./routes/publisher_keys.ts";
import { searchRoutes } from "./routes/search.ts";
import { tarballRoutes } from "./routes/tarballs.ts";
import { userRoutes } from "./routes/users.ts";
import { webRoutes } from "./routes/web.ts";

export { RegistryError };

type Found =
  | { handler: RouteHandler; params: Record<string, string> }
  | { handler: RouteHandler; params: Record<string, string>; badName: true };
type NotFound = { notAllowed: true } | null;
export type { RegistryHandlerOptions };

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

/**
 * Creates the registry handler: loads (or creates, once for all servers sharing the
 * store) the signing key and marks the configured admins.
 *
 * @param options The store and policy.
 * @returns The handler.
 *
 * @example
 * ```ts
 * import { openSqliteStore } from "./sql_store.ts";
 * import { createRegistryHandler } from "./handler.ts";
 * const handler = await createRegistryHandler({ store: openSqliteStore(":memory:") });
 * const res = await handler(new Request("http://localhost/-/ping"));
 * ```
 */
export async function createRegistryHandler(
  options: RegistryHandlerOptions,
): Promise<RegistryHandler> {
  const registry = await Registry.open(options);
  // Matched in order: `/:pkg` never takes `-`, so the package routes can come last.
  const router = new Router([
    ...webRoutes(registry),
    ...npmMetaRoutes(registry),
    ...searchRoutes(registry),
    ...userRoutes(registry),
    ...orgRoutes(registry),
    ...distTagRoutes(registry),
    ...publisherKeyRoutes(registry),
    ...tarballRoutes(registry),
    ...packageRoutes(registry),
  ]);

  // The routes of recent GET and HEAD paths (packuments, tarballs: the hot paths), with
  // their package name checked; bounded, and parameters are never changed by handlers.
  const recent = new Map<string, Found>();

  function findRoute(method: string, path: string): Found | NotFound {
    const cacheable = method === "GET" || method === "HEAD";
    const key = `${method} ${path}`;
    const hit = cacheable ? recent.get(key) : undefined;
    if (hit) return hit;
    const m = router.find(method, path);
    if (!m || "notAllowed" in m) return m;
    const pkg = m.params.pkg;
    const found: Found = pkg !== undefined && packageNameProblem(pkg)
      ? { ...m, badName: true }
      : m;
    if (cacheable) {
      if (recent.size >= 10_000) recent.clear();
      recent.set(key, found);
    }
    return found;
  }

  async function route(req: Request, info?: RequestInfo): Promise<Response> {
    // Split the URL by hand: the hot path (a packument or tarball GET) needs no URL object.
    const raw = req.url;
    const slash = raw.indexOf("/", raw.indexOf("//") + 2);
    const mark = raw.indexOf("?", slash);
    const path = mark < 0 ? raw.slice(slash) : raw.slice(slash, mark);
    const method = req.method;
    const found = findRoute(method, path);
    if (!found || "notAllowed" in found) {
      if (path.startsWith("/-/") || !found) {
        return json(found ? 405 : 404, {
          error: found
            ? `${method} is not allowed here`
            : `Not found: ${method} ${path}`,
        });
      }
      return json(405, { error: `${method} ${path} is not supported` });
    }
    const { params } = found;
    if ("badName" in found) {
      return json(404, {
        error: `Not found: ${params.pkg} is not a package name`,
      });
    }
    let url: URL | undefined;
    const ctx: RequestContext = {
      req,
      method,
      path,
      query: mark < 0 ? "" : raw.slice(mark + 1),
      origin: raw.slice(0, slash),
      ip: info?.remoteAddr?.hostname ?? "unknown",
      params,
      get url() {
        return url ??= new URL(raw);
      },
    };
    return await found.handler(ctx);
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
