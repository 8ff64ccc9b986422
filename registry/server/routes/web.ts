/**
 * The web UI's routes: the package list with search (`/`) and a package's page
 * (`/-/web/package/:name`); `ui.ts` renders them.
 *
 * @module
 */
import { BASE } from "../_docs.ts";
import { html } from "../_http.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";
import { renderIndex, renderNotFound, renderPackage } from "../ui.ts";

/** The web UI routes. */
export function webRoutes(registry: Registry): Route[] {
  const { store } = registry;

  async function index(ctx: RequestContext): Promise<Response> {
    const q = ctx.url.searchParams.get("q") ?? "";
    const { rows, total } = await store.search(q, 100, 0);
    return html(
      renderIndex({ query: q, rows, total, base: registry.baseOf(ctx.origin) }),
    );
  }

  async function packagePage(ctx: RequestContext): Promise<Response> {
    const name = ctx.params.name;
    const pkg = await store.getPackage(name);
    if (!pkg) return html(renderNotFound(name), 404);
    const base = registry.baseOf(ctx.origin);
    return html(
      renderPackage(JSON.parse(pkg.fullDoc.replaceAll(BASE, base)), base),
    );
  }

  return [
    { method: "GET", path: "/", handler: index },
    { method: "GET", path: "/-/web/package/*name", handler: packagePage },
  ];
}
