/**
 * The web UI's routes: the package list with search, by keyword (`/?keyword=`) or by
 * maintainer (`/?maintainer=`); a package's page (`/-/web/package/:name`, `?v=` for a
 * version other than the latest); and a package's text file
 * (`/-/web/file/:pkg/:version/*path`, where a README's relative links lead). `ui.ts`
 * renders them.
 *
 * @module
 */
import { BASE } from "../_docs.ts";
import { html } from "../_http.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";
import {
  type PublisherFacts,
  renderFile,
  renderIndex,
  renderNotFound,
  renderPackage,
  repositoryOf,
} from "../ui.ts";
import { inspectTarball, type TarballEntry } from "../../pack/mod.ts";
import { verifyPublisherSignature } from "../../common/publisher_signature.ts";
import type { SearchRow } from "../store.ts";

/** How many packages a keyword or maintainer page looks through. */
const FILTER_SCAN = 5000;

/** The web UI routes. */
export function webRoutes(registry: Registry): Route[] {
  const { store } = registry;
  // A version's tarball facts, keyed by name@version and integrity (a version's tarball
  // never changes; the key also covers an unpublished and republished-never version).
  const facts = new Map<
    string,
    { publisher: PublisherFacts; size: number }
  >();

  async function index(ctx: RequestContext): Promise<Response> {
    const params = ctx.url.searchParams;
    const q = params.get("q") ?? "";
    const keyword = params.get("keyword") ?? undefined;
    const maintainer = params.get("maintainer") ?? undefined;
    const base = registry.baseOf(ctx.origin);
    if (keyword === undefined && maintainer === undefined) {
      const { rows, total } = await store.search(q, 100, 0);
      return html(renderIndex({ query: q, rows, total, base }));
    }
    const { rows } = await store.search(keyword ?? "", FILTER_SCAN, 0);
    const hits: SearchRow[] = rows.filter((r) =>
      keyword !== undefined
        ? r.keywords.includes(keyword)
        : r.owners.includes(maintainer!)
    );
    return html(
      renderIndex({
        query: "",
        keyword,
        maintainer,
        rows: hits.slice(0, 100),
        total: hits.length,
        base,
      }),
    );
  }

  async function tarballEntries(
    name: string,
    manifest: Record<string, unknown>,
  ): Promise<{ entries: TarballEntry[]; size: number } | null> {
    const url = (manifest.dist as { tarball?: unknown } | undefined)?.tarball;
    if (typeof url !== "string") return null;
    const file = decodeURIComponent(url.slice(url.lastIndexOf("/") + 1));
    const data = await store.getTarball(name, file);
    if (!data) return null;
    const { entries } = await inspectTarball(data, registry.limits);
    return { entries, size: data.length };
  }

  async function publisherOf(
    name: string,
    version: string,
    manifest: Record<string, unknown>,
  ): Promise<{ publisher: PublisherFacts; size?: number }> {
    const integrity = String(
      (manifest.dist as { integrity?: unknown } | undefined)?.integrity,
    );
    const key = `${name}@${version} ${integrity}`;
    const hit = facts.get(key);
    if (hit) return hit;
    const tar = await tarballEntries(name, manifest);
    if (!tar) return { publisher: null };
    const keyid = verifyPublisherSignature(name, version, tar.entries);
    let publisher: PublisherFacts = null;
    if (keyid) {
      const row = await store.getPublisherKey(keyid);
      publisher = {
        keyid,
        user: row?.username,
        revoked: row?.revoked ?? undefined,
      };
    }
    const found = { publisher, size: tar.size };
    if (facts.size >= 1000) facts.clear();
    // A revocation changes what the page says: keep only unrevoked or unsigned facts
    // for as long as the process lives, and look a signed one's key up again each time.
    if (!keyid) facts.set(key, found);
    return found;
  }

  async function packagePage(ctx: RequestContext): Promise<Response> {
    const name = ctx.params.name;
    const pkg = await store.getPackageDoc(name, false);
    if (!pkg) return html(renderNotFound(name), 404);
    const base = registry.baseOf(ctx.origin);
    const doc = JSON.parse(pkg.doc.replaceAll(BASE, base));
    const tags = (doc["dist-tags"] ?? {}) as Record<string, string>;
    const version = ctx.url.searchParams.get("v") ?? tags.latest;
    const manifest = doc.versions?.[version] as
      | Record<string, unknown>
      | undefined;
    if (!manifest) {
      return html(renderNotFound(`${name}@${version}`), 404);
    }
    const readme = version === tags.latest
      ? String(doc.readme ?? "")
      : (await store.getVersions(name)).find((r) => r.version === version)
        ?.readme ?? "";
    const { publisher, size } = await publisherOf(name, version, manifest);
    return html(
      renderPackage(doc, {
        version,
        readme,
        publisher,
        tarballSize: size,
      }),
    );
  }

  async function filePage(ctx: RequestContext): Promise<Response> {
    const { pkg: name, version, path } = ctx.params;
    const row = (await store.getVersions(name)).find((r) =>
      r.version === version
    );
    const spec = `${name}@${version}`;
    if (!row) return html(renderNotFound(spec), 404);
    const manifest = JSON.parse(row.manifest) as Record<string, unknown>;
    const tar = await tarballEntries(name, manifest);
    const entry = tar?.entries.find((e) =>
      e.type === "file" && e.path === `package/${path}`
    );
    if (!entry) return html(renderNotFound(`${spec}/${path}`), 404);
    return html(
      renderFile(
        name,
        version,
        path,
        entry.data ?? new Uint8Array(),
        repositoryOf(manifest.repository),
      ),
    );
  }

  return [
    { method: "GET", path: "/", handler: index },
    { method: "GET", path: "/-/web/package/*name", handler: packagePage },
    {
      method: "GET",
      path: "/-/web/file/:pkg/:version/*path",
      handler: filePage,
    },
  ];
}
