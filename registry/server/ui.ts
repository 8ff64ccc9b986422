/**
 * The registry's web pages, rendered on the server with no script: a package list with
 * search (and by keyword or maintainer), a package page per version with its README,
 * versions, maintainers, keywords, repository, declared grants, signatures, integrity,
 * size, dependencies and install command, and a view of a package's text files (where
 * the README's relative links lead when the package names no repository).
 *
 * Every value from a package is HTML-escaped. The README's Markdown is rendered by
 * `marked` (GitHub-flavoured: tables, task lists, strikethrough) with raw HTML shown as
 * text, then passed through `sanitize-html` with an allowlist of tags, attributes and
 * URL schemes (http, https, mailto), so neither a README nor a bug in the Markdown
 * library can place a script, a style or an event handler on the page.
 *
 * @module
 */
import { Marked, type Tokens } from "marked";
// @ts-types="npm:@types/sanitize-html@2.16.2"
import sanitizeHtml from "sanitize-html";
import type { SearchRow } from "./store.ts";

/** Escapes text for HTML content and attribute values. */
export function esc(s: unknown): string {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}

/** A package's repository as a web address, from `package.json`'s `repository`. */
export interface RepositoryLink {
  /** `https://host/owner/name`. */
  web: string;
  /** The package's directory inside the repository (`repository.directory`), or "". */
  directory: string;
}

const SHORTHAND_HOSTS: Record<string, string> = {
  github: "https://github.com/",
  gitlab: "https://gitlab.com/",
  bitbucket: "https://bitbucket.org/",
};

/** The path segments of `path` below `root` (a list), or null if it climbs out. */
function normalizePath(root: string[], path: string): string[] | null {
  const out = [...root];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (!out.length) return null;
      out.pop();
    } else out.push(seg);
  }
  return out;
}

/**
 * Reads `package.json`'s `repository` (a URL, `{ url, directory }`, or npm's
 * `github:owner/name` and `owner/name` shorthands) as a web address; null when it is
 * not one (no http(s) URL can be made of it).
 *
 * @example
 * ```ts
 * import { repositoryOf } from "./ui.ts";
 * repositoryOf({ url: "git+https://github.com/o/r.git", directory: "probes/x" });
 * // { web: "https://github.com/o/r", directory: "probes/x" }
 * ```
 */
export function repositoryOf(repo: unknown): RepositoryLink | null {
  let url: unknown = repo;
  let directory = "";
  if (repo && typeof repo === "object") {
    url = (repo as { url?: unknown }).url;
    const d = (repo as { directory?: unknown }).directory;
    if (typeof d === "string") {
      const parts = normalizePath([], d);
      if (!parts) return null;
      directory = parts.join("/");
    }
  }
  if (typeof url !== "string") return null;
  let u = url.trim();
  const short = /^(?:(github|gitlab|bitbucket):)?([\w.-]+\/[\w.-]+)$/.exec(u);
  if (short) u = SHORTHAND_HOSTS[short[1] ?? "github"] + short[2];
  u = u.replace(/^git\+/, "")
    .replace(/^git:\/\//, "https://")
    .replace(/^ssh:\/\/(?:[^@/]+@)?/, "https://")
    .replace(/^[\w.-]+@([\w.-]+):(?!\/)/, "https://$1/");
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    return null;
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return null;
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\.git$/, "");
  return { web: `${parsed.protocol}//${parsed.host}${path}`, directory };
}

/** The web address of a file at the repository's default branch. */
function repositoryFile(repo: RepositoryLink, path: string): string {
  const host = new URL(repo.web).host;
  const blob = host === "gitlab.com"
    ? "/-/blob/HEAD/"
    : host === "bitbucket.org"
    ? "/src/HEAD/"
    : "/blob/HEAD/";
  return repo.web + blob + path.split("/").map(encodeURIComponent).join("/");
}

/** Where a README's relative links lead. */
export interface LinkBase {
  /** The package name. */
  name: string;
  /** The version whose files the links name. */
  version: string;
  /** The repository, when the package names one. */
  repository: RepositoryLink | null;
  /** The directory, inside the package, of the file the links are in ("" or absent: its root). */
  dir?: string;
}

/** The web UI's address of a file in a package. */
export function packageFileUrl(
  name: string,
  version: string,
  path: string,
): string {
  return `/-/web/file/${name}/${encodeURIComponent(version)}/${
    path.split("/").map(encodeURIComponent).join("/")
  }`;
}

/**
 * Resolves a link found in a README: `#anchor`, http(s) and mailto stay; a relative
 * path is resolved against the package's directory in its repository, or, without a
 * repository, against the package's own files (the registry's file view); anything
 * else (another scheme, a path that climbs out of what it is resolved against) is
 * null, and the link is shown as its text.
 *
 * @example
 * ```ts
 * import { resolveLink } from "./ui.ts";
 * resolveLink("../../README.md", {
 *   name: "x",
 *   version: "1.0.0",
 *   repository: { web: "https://github.com/o/r", directory: "probes/x" },
 * }); // "https://github.com/o/r/blob/HEAD/README.md"
 * ```
 */
export function resolveLink(href: string, base: LinkBase): string | null {
  const h = href.trim();
  if (!h) return null;
  if (h.startsWith("#")) return h;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(h);
  if (scheme) {
    return ["http", "https", "mailto"].includes(scheme[1].toLowerCase())
      ? h
      : null;
  }
  if (h.startsWith("//") || h.startsWith("\\")) return null;
  const cut = h.search(/[?#]/);
  const path = cut < 0 ? h : h.slice(0, cut);
  const hash = cut >= 0 && h[cut] === "#" ? h.slice(cut) : "";
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  const inPackage = (base.dir ?? "").split("/").filter(Boolean);
  if (base.repository) {
    const root = [
      ...base.repository.directory.split("/").filter(Boolean),
      ...inPackage,
    ];
    const parts = normalizePath(decoded.startsWith("/") ? [] : root, decoded);
    return parts
      ? repositoryFile(base.repository, parts.join("/")) + hash
      : null;
  }
  const parts = decoded.startsWith("/")
    ? null
    : normalizePath(inPackage, decoded);
  if (!parts || !parts.length) return null;
  return packageFileUrl(base.name, base.version, parts.join("/")) + hash;
}

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    ...sanitizeHtml.defaults.allowedTags.filter((t) => t !== "img"),
    "del",
  ],
  allowedAttributes: {
    a: ["href", "title", "rel"],
    th: ["align"],
    td: ["align"],
    ol: ["start"],
    span: ["class", "title"],
  },
  allowedClasses: { span: ["unlinked"] },
  allowedSchemes: ["http", "https", "mailto"],
  allowedSchemesAppliedToAttributes: ["href"],
  allowProtocolRelative: false,
  transformTags: {
    a: (tagName, attribs) => ({
      tagName,
      attribs: attribs.href?.startsWith("/") || attribs.href?.startsWith("#")
        ? attribs
        : { ...attribs, rel: "nofollow noopener noreferrer" },
    }),
  },
};

/**
 * Renders a README's Markdown (GitHub-flavoured) to sanitized HTML: raw HTML in it is
 * shown as text, headings start at `<h2>` (the page's title is the `<h1>`), relative
 * links are resolved by {@linkcode resolveLink}, images (which the page's CSP would not
 * load) become links to the image.
 *
 * @example
 * ```ts
 * import { renderMarkdown } from "./ui.ts";
 * renderMarkdown("| a |\n|---|\n| 1 |\n\n[docs](docs/x.md)", {
 *   name: "x",
 *   version: "1.0.0",
 *   repository: null,
 * }); // a <table>, and a link to /-/web/file/x/1.0.0/docs/x.md
 * ```
 */
export function renderMarkdown(md: string, base: LinkBase): string {
  const marked = new Marked({
    gfm: true,
    async: false,
    walkTokens(token) {
      if (token.type === "heading") {
        (token as Tokens.Heading).depth = Math.min(
          (token as Tokens.Heading).depth + 1,
          6,
        );
      }
    },
    renderer: {
      html(token: Tokens.HTML | Tokens.Tag): string {
        return esc(token.text);
      },
      link(token: Tokens.Link): string {
        const text = this.parser.parseInline(token.tokens);
        const href = resolveLink(token.href, base);
        if (href === null) {
          return `<span class="unlinked" title="${
            esc(token.href)
          }">${text}</span>`;
        }
        const title = token.title ? ` title="${esc(token.title)}"` : "";
        return `<a href="${esc(href)}"${title}>${text}</a>`;
      },
      image(token: Tokens.Image): string {
        const href = resolveLink(token.href, base);
        const label = `image: ${esc(token.text || token.href)}`;
        return href === null
          ? `<span class="unlinked">[${label}]</span>`
          : `<a href="${esc(href)}">[${label}]</a>`;
      },
    },
  });
  const html = marked.parse(md.replace(/\r\n?/g, "\n"), { async: false });
  return sanitizeHtml(html as string, SANITIZE);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#23272f;color:#fff;padding:12px 24px;display:flex;gap:24px;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
header form{flex:1;display:flex}
header input{flex:1;max-width:480px;padding:6px 10px;border-radius:4px;border:0;font:inherit}
main{max-width:1000px;margin:24px auto;padding:0 24px}
.pkg{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:12px 16px;margin:10px 0}
.pkg h3{margin:0 0 4px}.muted{color:#666;font-size:13px}
.cols{display:grid;grid-template-columns:minmax(0,1fr) 300px;gap:24px}
aside section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px;margin-bottom:14px}
aside h2{font-size:14px;margin:0 0 6px;text-transform:uppercase;color:#555}
pre{background:#f0f0f0;padding:10px;overflow:auto;border-radius:4px}
aside pre,aside code,.digest{white-space:pre-wrap;word-break:break-all}
code{font-family:ui-monospace,monospace;font-size:13px}
.risky{color:#b00020;font-weight:600}table{border-collapse:collapse;width:100%}
td,th{padding:2px 6px;border-bottom:1px solid #eee;font-size:13px;text-align:left}
.readme table{width:auto}.readme td,.readme th{border:1px solid #ddd;padding:4px 8px}
.deprecated{color:#b00020}.unlinked{border-bottom:1px dotted #999}
.tag{display:inline-block;background:#eef;border-radius:3px;padding:0 6px;margin:0 4px 4px 0;font-size:13px}
</style></head><body>
<header><a href="/">bpfpm registry</a>
<form action="/" method="get"><input name="q" placeholder="Search probes" aria-label="Search"></form></header>
<main>${body}</main></body></html>`;
}

function webPackage(name: string, version?: string): string {
  return `/-/web/package/${esc(name)}${
    version ? `?v=${esc(encodeURIComponent(version))}` : ""
  }`;
}

function keywordLink(k: string): string {
  return `<a class="tag" href="/?keyword=${esc(encodeURIComponent(k))}">${
    esc(k)
  }</a>`;
}

function maintainerLink(m: string): string {
  return `<a href="/?maintainer=${esc(encodeURIComponent(m))}">${esc(m)}</a>`;
}

/** What the front page lists: a search, or the packages with a keyword or maintainer. */
export interface IndexFilter {
  /** Free text. */
  query: string;
  /** An exact keyword. */
  keyword?: string;
  /** An owner's user name. */
  maintainer?: string;
}

/** The front page: packages matching the filter (all when empty). */
export function renderIndex(
  opts: IndexFilter & { rows: SearchRow[]; total: number; base: string },
): string {
  const n = `${opts.total} package${opts.total === 1 ? "" : "s"}`;
  const what = opts.keyword !== undefined
    ? `${n} with keyword “${esc(opts.keyword)}”`
    : opts.maintainer !== undefined
    ? `${n} maintained by ${esc(opts.maintainer)}`
    : opts.query
    ? `${n} matching “${esc(opts.query)}”`
    : n;
  const items = opts.rows.map((r) =>
    `<div class="pkg"><h3><a href="${webPackage(r.name)}">${esc(r.name)}</a>
<span class="muted">${esc(r.latest)}</span></h3>
<div>${esc(r.description)}</div>
<div class="muted">${r.keywords.map(keywordLink).join("")}updated ${
      esc(r.modified.slice(0, 10))
    } by ${r.owners.map(maintainerLink).join(", ")}</div></div>`
  ).join("\n");
  const filtered = opts.query || opts.keyword !== undefined ||
    opts.maintainer !== undefined;
  const title = opts.keyword ?? opts.maintainer ?? opts.query;
  return page(
    title ? `${title} - bpfpm registry` : "bpfpm registry",
    `<h1>${what}</h1>\n${
      items ||
      (filtered
        ? "<p>No package matches.</p>"
        : "<p>No packages yet: publish one with <code>bpfpm publish</code>.</p>")
    }`,
  );
}

function grantsHtml(bpf: Record<string, unknown> | undefined): string {
  if (!bpf) {
    return "<p class=muted>Not a probe package (no <code>bpf</code> manifest).</p>";
  }
  const g = (bpf.grants ?? {}) as {
    attach?: { kind: string; target?: string; optional?: boolean }[];
    helpers?: string[];
    mapMemory?: unknown;
  };
  const k = (bpf.kernel ?? {}) as {
    btf?: boolean;
    minVersion?: string;
    tracepoints?: (string | { name: string; optional?: boolean })[];
  };
  const optional = (o: { optional?: boolean }) =>
    o.optional ? " (optional)" : "";
  const rows: string[] = [];
  for (const a of g.attach ?? []) {
    rows.push(
      `<tr><td>attach</td><td>${esc(a.kind)}${
        a.target ? ` <code>${esc(a.target)}</code>${optional(a)}` : ""
      }</td></tr>`,
    );
  }
  for (const h of g.helpers ?? []) {
    rows.push(`<tr><td>helper</td><td class="risky">${esc(h)}</td></tr>`);
  }
  if (g.mapMemory !== undefined) {
    rows.push(`<tr><td>map memory</td><td>${esc(g.mapMemory)}</td></tr>`);
  }
  for (const d of (bpf.deno as string[] | undefined) ?? []) {
    rows.push(`<tr><td>deno</td><td><code>${esc(d)}</code></td></tr>`);
  }
  if (k.btf) rows.push(`<tr><td>kernel</td><td>BTF</td></tr>`);
  if (k.minVersion) {
    rows.push(`<tr><td>kernel</td><td>≥ ${esc(k.minVersion)}</td></tr>`);
  }
  for (const t of k.tracepoints ?? []) {
    const n = typeof t === "string" ? { name: t } : t;
    rows.push(
      `<tr><td>tracepoint</td><td><code>${esc(n.name)}</code>${
        optional(n)
      }</td></tr>`,
    );
  }
  return `<p>Entry <code>${esc(bpf.entry)}</code></p><table class="grants">${
    rows.join("")
  }</table>`;
}

/** A byte count for people: `1.2 kB`. */
function bytes(n: unknown): string {
  const v = Number(n);
  if (!Number.isFinite(v) || v < 0) return "";
  if (v < 1000) return `${v} B`;
  const units = ["kB", "MB", "GB"];
  let x = v / 1000;
  let i = 0;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return `${x.toFixed(1)} ${units[i]}`;
}

/** A version's publisher signature as the registry checked it. */
export type PublisherFacts =
  | { keyid: string; user?: string; revoked?: string }
  | null;

/** What a package page shows beyond the packument: one version's tarball facts. */
export interface VersionFacts {
  /** The version shown. */
  version: string;
  /** Its README (the packument carries only the latest one's). */
  readme: string;
  /** Its verified publisher signature; null when unsigned. */
  publisher: PublisherFacts;
  /** The tarball's size in bytes, when read. */
  tarballSize?: number;
}

function dependencyRows(m: Record<string, unknown>): string {
  const rows: string[] = [];
  for (
    const [field, label] of [
      ["dependencies", ""],
      ["optionalDependencies", "optional"],
      ["peerDependencies", "peer"],
    ]
  ) {
    const deps = m[field];
    if (!deps || typeof deps !== "object") continue;
    for (const [dep, range] of Object.entries(deps)) {
      rows.push(
        `<tr><td><a href="${webPackage(dep)}">${esc(dep)}</a></td><td><code>${
          esc(range)
        }</code></td><td class="muted">${label}</td></tr>`,
      );
    }
  }
  return rows.length
    ? `<table class="dependencies">${rows.join("")}</table>`
    : "<p class=muted>No dependencies.</p>";
}

function signatureHtml(
  dist: Record<string, unknown>,
  publisher: PublisherFacts,
): string {
  const registrySigs = Array.isArray(dist.signatures)
    ? dist.signatures as { keyid?: unknown; sig?: unknown }[]
    : [];
  const pub = publisher
    ? `<p class="publisher-signature">Signed by the publisher: key <code>${
      esc(publisher.keyid)
    }</code>${publisher.user ? ` of ${maintainerLink(publisher.user)}` : ""}${
      publisher.revoked
        ? ` <span class="deprecated">(revoked ${
          esc(publisher.revoked.slice(0, 10))
        })</span>`
        : ""
    }</p>`
    : `<p class="publisher-signature muted">No publisher signature.</p>`;
  const reg = registrySigs.map((s) =>
    `<p class="registry-signature">Registry signature: key <code>${
      esc(s.keyid)
    }</code><br><code class="digest muted">${esc(s.sig)}</code></p>`
  ).join("");
  return pub + reg;
}

/**
 * A package page from its full packument, for one version (the latest unless `facts`
 * names another).
 */
export function renderPackage(
  doc: Record<string, unknown>,
  facts: VersionFacts,
): string {
  const name = String(doc.name);
  const tags = (doc["dist-tags"] ?? {}) as Record<string, string>;
  const versions = (doc.versions ?? {}) as Record<
    string,
    Record<string, unknown>
  >;
  const time = (doc.time ?? {}) as Record<string, string>;
  const shown = facts.version;
  const m = versions[shown] ?? {};
  const isLatest = shown === tags.latest;
  const dist = (m.dist ?? {}) as Record<string, unknown>;
  const repository = repositoryOf(m.repository ?? doc.repository);
  const order = Object.keys(versions).sort((a, b) =>
    (time[b] ?? "").localeCompare(time[a] ?? "")
  );
  const versionRows = order.map((v) =>
    `<tr${v === shown ? ' class="shown"' : ""}><td><a href="${
      webPackage(name, v === tags.latest ? undefined : v)
    }">${esc(v)}</a>${
      Object.entries(tags).filter(([, x]) => x === v).map(([t]) =>
        ` <span class="muted">${esc(t)}</span>`
      ).join("")
    }</td><td class="muted">${
      esc((time[v] ?? "").slice(0, 10))
    }</td><td class="deprecated">${
      versions[v].deprecated ? `deprecated: ${esc(versions[v].deprecated)}` : ""
    }</td></tr>`
  ).join("");
  const maintainers = ((m.maintainers ?? doc.maintainers ?? []) as {
    name: string;
  }[]).map((x) => maintainerLink(x.name)).join(", ");
  const keywords = Array.isArray(m.keywords)
    ? (m.keywords as unknown[]).map((k) => keywordLink(String(k))).join("")
    : "";
  const spec = isLatest ? name : `${name}@${shown}`;
  const sizes = [
    dist.unpackedSize !== undefined
      ? `${bytes(dist.unpackedSize)} unpacked`
      : "",
    dist.fileCount !== undefined ? `${esc(dist.fileCount)} files` : "",
    facts.tarballSize !== undefined
      ? `${bytes(facts.tarballSize)} tarball`
      : "",
  ].filter(Boolean).join(" · ");
  const body = `<h1>${esc(name)} <span class="muted">${esc(shown)}${
    isLatest
      ? ""
      : ` (latest: <a href="${webPackage(name)}">${esc(tags.latest)}</a>)`
  }</span></h1>
<p>${esc(m.description ?? doc.description)}</p>
${
    m.deprecated
      ? `<p class="deprecated">Deprecated: ${esc(m.deprecated)}</p>`
      : ""
  }
<div class="cols"><article class="readme">${
    facts.readme
      ? renderMarkdown(facts.readme, { name, version: shown, repository })
      : "<p class=muted>No README.</p>"
  }</article>
<aside>
<section><h2>Install</h2><pre class="install"><code>bpfpm install ${
    esc(spec)
  }</code></pre></section>
${
    repository
      ? `<section><h2>Repository</h2><p><a class="repository" href="${
        esc(repository.web)
      }" rel="nofollow noopener noreferrer">${
        esc(repository.web.replace(/^https?:\/\//, ""))
      }</a></p></section>`
      : ""
  }
<section class="grants-section"><h2>Declared grants</h2>${
    grantsHtml(m.bpf as Record<string, unknown> | undefined)
  }</section>
<section class="signatures"><h2>Signatures</h2>${
    signatureHtml(dist, facts.publisher)
  }</section>
<section><h2>Integrity</h2><p><code class="digest integrity">${
    esc(dist.integrity)
  }</code></p>${sizes ? `<p class="size">${sizes}</p>` : ""}</section>
<section><h2>Dependencies</h2>${dependencyRows(m)}</section>
<section><h2>Versions</h2><table class="versions">${versionRows}</table></section>
<section><h2>Maintainers</h2><p class="maintainers">${maintainers}</p>
${keywords ? `<h2>Keywords</h2><p class="keywords">${keywords}</p>` : ""}
${m.license ? `<h2>License</h2><p>${esc(m.license)}</p>` : ""}</section>
</aside></div>`;
  return page(`${spec} - bpfpm registry`, body);
}

/**
 * One file of a package: Markdown rendered as the README is, other text in a `<pre>`,
 * and a line for a file that is not UTF-8 text.
 */
export function renderFile(
  name: string,
  version: string,
  path: string,
  data: Uint8Array,
  repository: RepositoryLink | null,
): string {
  let text: string | null;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    text = null;
  }
  const dir = path.split("/").slice(0, -1).join("/");
  const content = text === null
    ? `<p class=muted>Not a text file (${bytes(data.length)}).</p>`
    : /\.(md|markdown)$/i.test(path)
    ? `<article class="readme">${
      renderMarkdown(text, { name, version, repository, dir })
    }</article>`
    : `<pre><code>${esc(text)}</code></pre>`;
  return page(
    `${path} - ${name}@${version} - bpfpm registry`,
    `<h1><a href="${webPackage(name, version)}">${esc(name)}@${
      esc(version)
    }</a> / ${esc(path)}</h1>\n${content}`,
  );
}

/** The page for a package (or file) that does not exist. */
export function renderNotFound(name: string): string {
  return page(
    "Not found - bpfpm registry",
    `<h1>No package named ${esc(name)}</h1>`,
  );
}
