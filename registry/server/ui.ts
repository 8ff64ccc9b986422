/**
 * The registry's web pages, rendered on the server with no script: a package list with
 * search, and a package page with its README, versions, declared grants and install
 * command. Every value from a package is HTML-escaped; the README's Markdown is turned
 * into a small safe subset (headings, paragraphs, lists, code, emphasis, http(s) links).
 *
 * @module
 */
import type { SearchRow } from "./store.ts";

function esc(s: unknown): string {
  return String(s ?? "").replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}

function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
    .replace(
      /\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g,
      (_m, label, href) =>
        `<a href="${href}" rel="nofollow noopener">${label}</a>`,
    );
}

/** Renders a safe subset of Markdown. */
export function renderMarkdown(md: string): string {
  const out: string[] = [];
  const lines = md.replace(/\r\n?/g, "\n").split("\n");
  let para: string[] = [];
  let list: string[] | null = null;
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join(" "))}</p>`);
    para = [];
    if (list) {
      out.push(`<ul>${list.map((l) => `<li>${inline(l)}</li>`).join("")}</ul>`);
    }
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*(```|~~~)/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (
        i++;
        i < lines.length && !lines[i].trim().startsWith(fence[1]);
        i++
      ) code.push(lines[i]);
      out.push(`<pre><code>${esc(code.join("\n"))}</code></pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flush();
      const level = Math.min(h[1].length + 1, 6);
      out.push(`<h${level}>${inline(h[2])}</h${level}>`);
      continue;
    }
    const li = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (li) {
      if (para.length) flush();
      (list ??= []).push(li[1]);
      continue;
    }
    if (!line.trim()) {
      flush();
      continue;
    }
    if (list) flush();
    para.push(line.trim());
  }
  flush();
  return out.join("\n");
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
.cols{display:grid;grid-template-columns:1fr 300px;gap:24px}
aside section{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:10px 14px;margin-bottom:14px}
aside h2{font-size:14px;margin:0 0 6px;text-transform:uppercase;color:#555}
pre{background:#f0f0f0;padding:10px;overflow:auto;border-radius:4px}
aside pre{white-space:pre-wrap;word-break:break-all}
code{font-family:ui-monospace,monospace;font-size:13px}
.risky{color:#b00020;font-weight:600}table{border-collapse:collapse;width:100%}
td{padding:2px 6px;border-bottom:1px solid #eee;font-size:13px}
.deprecated{color:#b00020}
</style></head><body>
<header><a href="/">bpfpm registry</a>
<form action="/" method="get"><input name="q" placeholder="Search probes" aria-label="Search"></form></header>
<main>${body}</main></body></html>`;
}

/** The front page: packages matching `query` (all when empty). */
export function renderIndex(
  opts: { query: string; rows: SearchRow[]; total: number; base: string },
): string {
  const heading = opts.query
    ? `${opts.total} package${opts.total === 1 ? "" : "s"} matching “${
      esc(opts.query)
    }”`
    : `${opts.total} package${opts.total === 1 ? "" : "s"}`;
  const items = opts.rows.map((r) =>
    `<div class="pkg"><h3><a href="/-/web/package/${esc(r.name)}">${
      esc(r.name)
    }</a>
<span class="muted">${esc(r.latest)}</span></h3>
<div>${esc(r.description)}</div>
<div class="muted">${r.keywords.map(esc).join(" · ")}${
      r.keywords.length ? " — " : ""
    }updated ${esc(r.modified.slice(0, 10))} by ${
      r.owners.map(esc).join(", ")
    }</div></div>`
  ).join("\n");
  return page(
    opts.query ? `${opts.query} - bpfpm registry` : "bpfpm registry",
    `<h1>${heading}</h1>\n${
      items ||
      "<p>No packages yet: publish one with <code>bpfpm publish</code>.</p>"
    }`,
  );
}

function grantsHtml(bpf: Record<string, unknown> | undefined): string {
  if (!bpf) {
    return "<p class=muted>Not a probe package (no <code>bpf</code> manifest).</p>";
  }
  const g = (bpf.grants ?? {}) as {
    attach?: { kind: string; target?: string }[];
    helpers?: string[];
    mapMemory?: unknown;
  };
  const k = (bpf.kernel ?? {}) as {
    btf?: boolean;
    minVersion?: string;
    tracepoints?: string[];
  };
  const rows: string[] = [];
  for (const a of g.attach ?? []) {
    rows.push(
      `<tr><td>attach</td><td>${esc(a.kind)}${
        a.target ? ` <code>${esc(a.target)}</code>` : ""
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
    rows.push(`<tr><td>tracepoint</td><td><code>${esc(t)}</code></td></tr>`);
  }
  return `<p>Entry <code>${esc(bpf.entry)}</code></p><table class="grants">${
    rows.join("")
  }</table>`;
}

/** A package page from its full packument. */
export function renderPackage(
  doc: Record<string, unknown>,
  base: string,
): string {
  const name = String(doc.name);
  const tags = (doc["dist-tags"] ?? {}) as Record<string, string>;
  const versions = (doc.versions ?? {}) as Record<
    string,
    Record<string, unknown>
  >;
  const time = (doc.time ?? {}) as Record<string, string>;
  const latest = versions[tags.latest] ?? {};
  const order = Object.keys(versions).sort((a, b) =>
    (time[b] ?? "").localeCompare(time[a] ?? "")
  );
  const versionRows = order.map((v) =>
    `<tr><td>${esc(v)}${
      Object.entries(tags).filter(([, x]) => x === v).map(([t]) =>
        ` <span class="muted">${esc(t)}</span>`
      ).join("")
    }</td><td class="muted">${
      esc((time[v] ?? "").slice(0, 10))
    }</td><td class="deprecated">${
      versions[v].deprecated ? `deprecated: ${esc(versions[v].deprecated)}` : ""
    }</td></tr>`
  ).join("");
  const maintainers = ((doc.maintainers ?? []) as { name: string }[]).map((m) =>
    esc(m.name)
  ).join(", ");
  const body = `<h1>${esc(name)} <span class="muted">${
    esc(tags.latest)
  }</span></h1>
<p>${esc(doc.description)}</p>
${
    latest.deprecated
      ? `<p class="deprecated">Deprecated: ${esc(latest.deprecated)}</p>`
      : ""
  }
<div class="cols"><article class="readme">${
    doc.readme
      ? renderMarkdown(String(doc.readme))
      : "<p class=muted>No README.</p>"
  }</article>
<aside>
<section><h2>Install</h2><pre><code>bpfpm install ${esc(name)}</code></pre>
<pre><code>npm install ${esc(name)} --registry ${
    esc(base)
  }</code></pre></section>
<section class="grants-section"><h2>Declared grants</h2>${
    grantsHtml(latest.bpf as Record<string, unknown> | undefined)
  }</section>
<section><h2>Versions</h2><table class="versions">${versionRows}</table></section>
<section><h2>Maintainers</h2><p>${maintainers}</p>
${
    latest.license
      ? `<h2>License</h2><p>${esc(latest.license)}</p>`
      : ""
  }</section>
</aside></div>`;
  return page(`${name} - bpfpm registry`, body);
}

/** The page for a package that does not exist. */
export function renderNotFound(name: string): string {
  return page(
    "Not found - bpfpm registry",
    `<h1>No package named ${esc(name)}</h1>`,
  );
}
