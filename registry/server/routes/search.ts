/**
 * Search (`npm search`): `GET /-/v1/search?text=&size=&from=`.
 *
 * @module
 */
import { countParam, json } from "../_http.ts";
import {
  type Registry,
  type RequestContext,
  type Route,
  scopeOf,
} from "../_context.ts";

/** The search route. */
export function searchRoutes(registry: Registry): Route[] {
  async function search(ctx: RequestContext): Promise<Response> {
    const url = ctx.url;
    const text = (url.searchParams.get("text") ?? "").slice(0, 200);
    const size = Math.min(250, Math.max(1, countParam(url, "size", 20)));
    const from = countParam(url, "from", 0);
    const { rows, total } = await registry.store.search(text, size, from);
    const base = registry.baseOf(ctx.origin);
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

  return [{ method: "GET", path: "/-/v1/search", handler: search }];
}
