/**
 * Builds a package's head row when it changes, and its packuments (full and abbreviated)
 * from its rows when they are read: each version's manifest is a row of its own, so a
 * publish writes only what it adds, and a server assembles a packument once per revision
 * (`routes/packages.ts` caches it). Tarball URLs carry {@linkcode BASE} in place of the
 * registry's URL.
 *
 * Assembling costs what changed, not the size of the document: each version's entry is
 * made once (its manifest never changes) and kept as UTF-8 with the URL in place; the
 * entries are grouped in blocks of about 128 KiB, each compressed once and reused by the
 * next revision while its entries are the same ones, so a publish costs one entry, the
 * last block, and the few head fields (`_stitched_gzip.ts` joins the blocks into one
 * gzip body).
 *
 * @module
 */
import semver from "semver";
import type { PackageRow, StoreReads, VersionRow } from "./store.ts";
import { gzipRuns, Run } from "./_stitched_gzip.ts";

/** Stands for the registry's public URL inside stored documents. */
export const BASE = "{{BPFPM_REGISTRY_BASE}}";

const ABBREVIATED_FIELDS = [
  "name",
  "version",
  "deprecated",
  "dependencies",
  "optionalDependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "bundleDependencies",
  "acceptDependencies",
  "bin",
  "directories",
  "dist",
  "engines",
  "cpu",
  "os",
  "libc",
  "funding",
  "license",
  "_hasShrinkwrap",
  "hasInstallScript",
  "bpf",
];

const PACKAGE_FIELDS = ["license", "homepage", "repository", "bugs", "author"];

/** The version `latest` should fall back to: the highest stable version, else the highest. */
export function highestVersion(versions: string[]): string | undefined {
  const sorted = [...versions].sort(semver.compareLoose);
  return sorted.filter((v) => !semver.prerelease(v)).pop() ?? sorted.pop();
}

/** The fields of a head row besides what a publish reads from the latest manifest. */
export type HeadInput = Pick<
  PackageRow,
  "name" | "rev" | "created" | "modified" | "distTags" | "owners"
>;

/** The parsed manifest of a version row, or an empty object. */
function manifestOf(row: Pick<VersionRow, "manifest"> | undefined) {
  return row ? JSON.parse(row.manifest) as Record<string, unknown> : {};
}

/** The latest manifest's keywords, as the packument and the head row list them. */
function keywordsOf(latest: Record<string, unknown>): unknown[] {
  return Array.isArray(latest.keywords) ? latest.keywords : [];
}

/**
 * The stored head of a package: what search lists and what the packuments are
 * assembled around. Only the latest version's manifest is read, so a publish writes a
 * few hundred bytes here whatever the size of the packument.
 *
 * @param input The package's name, revision, times, tags and owners.
 * @param latestRow The row of the version `latest` names (undefined if there is none).
 */
export function buildHead(
  input: HeadInput,
  latestRow: Pick<VersionRow, "manifest"> | undefined,
): PackageRow {
  const manifest = manifestOf(latestRow);
  return {
    ...input,
    description: String(manifest.description ?? ""),
    keywords: keywordsOf(manifest).map(String),
    latest: input.distTags.latest ?? "",
  };
}

/**
 * What one database's packuments are assembled from, kept between revisions:
 *
 * - each version's entry (`"1.0.0":{...}`, UTF-8, the URL in place) by what makes it:
 *   kind, registry URL, name, version and deprecation (or publish time, for `time`).
 *   Entries never go stale: a manifest is never changed and a version number never
 *   reused. Cleared when it passes its cap (documents keep what they use);
 * - each package's rows by revision ({@linkcode DocCache.rowsOf}), which a store
 *   validates against the stored revision and extends when it appends a version;
 * - each document's last list of entries, so that a revision whose version rows
 *   start with the same row objects looks up only the new ones (bounded like the
 *   entries).
 */
export class DocCache {
  #entries = new Map<string, Uint8Array>();
  #bytes = 0;
  #rows = new Map<string, PackumentRows>();
  #lists = new Map<
    string,
    { rows: DocRow[]; found: Uint8Array[]; bytes: number }
  >();
  #listBytes = 0;

  /** The entry made under `key`, if any. */
  get(key: string): Uint8Array | undefined {
    return this.#entries.get(key);
  }

  /** Makes (and keeps) the entry `text` under `key`. */
  keep(key: string, text: string): Uint8Array {
    const bytes = encoder.encode(text);
    if (this.#bytes > ENTRIES_MAX) {
      this.#entries.clear();
      this.#bytes = 0;
    }
    this.#entries.set(key, bytes);
    this.#bytes += key.length + bytes.length;
    return bytes;
  }

  /** A package's rows as last kept (check `head.rev` against the stored revision). */
  rowsOf(name: string): PackumentRows | undefined {
    return this.#rows.get(name);
  }

  /** Keeps a package's rows (without the README), or forgets them. */
  setRows(name: string, rows: PackumentRows | undefined): void {
    this.#rows.delete(name);
    if (!rows) return;
    if (this.#rows.size >= PACKAGES_MAX) {
      this.#rows.delete(this.#rows.keys().next().value!);
    }
    this.#rows.set(name, rows);
  }

  /** The entries a document was last assembled from, by its version rows. */
  lastList(key: string): { rows: DocRow[]; found: Uint8Array[] } | undefined {
    return this.#lists.get(key);
  }

  /** Keeps the entries a document was assembled from (oldest out past the caps). */
  setList(key: string, rows: DocRow[], found: Uint8Array[]): void {
    const drop = (k: string) => {
      this.#listBytes -= this.#lists.get(k)?.bytes ?? 0;
      this.#lists.delete(k);
    };
    drop(key);
    const bytes = found.reduce((n, e) => n + e.length, 0);
    while (
      this.#lists.size &&
      (this.#lists.size >= PACKAGES_MAX ||
        this.#listBytes + bytes > ENTRIES_MAX)
    ) drop(this.#lists.keys().next().value!);
    this.#lists.set(key, { rows, found, bytes });
    this.#listBytes += bytes;
  }
}

/** Packages (and documents) whose rows and entry lists are kept. */
const PACKAGES_MAX = 2000;
const ENTRIES_MAX = 64 * 1024 * 1024;

const encoder = new TextEncoder();

/** A version manifest's text as a packument serves it (its deprecation merged in). */
function versionText(
  manifest: string,
  deprecated: string | null,
  abbreviated: boolean,
): string {
  if (!abbreviated && !deprecated) return manifest;
  const m = JSON.parse(manifest) as Record<string, unknown>;
  if (deprecated) m.deprecated = deprecated;
  if (!abbreviated) return JSON.stringify(m);
  const a: Record<string, unknown> = {};
  for (const f of ABBREVIATED_FIELDS) if (m[f] !== undefined) a[f] = m[f];
  return JSON.stringify(a);
}

/**
 * A block of consecutive entries of one list, compressed as one run. A block is
 * closed once it holds {@linkcode BLOCK_BYTES}: its entries are then fixed, and the
 * entries after it start another, so appending to a list leaves every closed block
 * as it was.
 */
interface Block {
  run: Run;
  entries: Uint8Array[];
  /** Whether it starts its list (and so carries the list's lead, not a comma). */
  first: boolean;
  closed: boolean;
}

const BLOCK_BYTES = 128 * 1024;

/** The last block made starting with each entry (entries are kept by the documents). */
const blocksByFirst = new WeakMap<Uint8Array, Block>();

/**
 * The runs of a list: the entries joined by commas, `lead` before the first. Blocks of
 * an earlier revision are reused when they hold the same entries (closed, or the
 * list's whole rest); others are made.
 */
function listRuns(list: Uint8Array[], lead: Uint8Array, out: Run[]): void {
  let i = 0;
  while (i < list.length) {
    const first = i === 0;
    const known = blocksByFirst.get(list[i]);
    if (
      known && known.first === first &&
      (known.closed || i + known.entries.length === list.length) &&
      known.entries.every((e, k) => list[i + k] === e)
    ) {
      out.push(known.run);
      i += known.entries.length;
      continue;
    }
    const start = i;
    let size = 0;
    while (i < list.length && size < BLOCK_BYTES) size += list[i++].length + 1;
    const taken = list.slice(start, i);
    const plain = new Uint8Array(size - 1 + (first ? lead.length : 1));
    let at = 0;
    for (const e of taken) {
      const sep = at === 0 ? (first ? lead : COMMA) : COMMA;
      plain.set(sep, at);
      at += sep.length;
      plain.set(e, at);
      at += e.length;
    }
    // A closed block serves every later revision: compressed hard, once. The open one
    // is made again by each revision: compressed fast.
    const closed = size >= BLOCK_BYTES;
    const block = {
      run: new Run(plain, closed ? 9 : 1),
      entries: taken,
      first,
      closed,
    };
    blocksByFirst.set(list[start], block);
    out.push(block.run);
  }
}

const COMMA = encoder.encode(",");
const NOTHING = new Uint8Array(0);

/** A packument of one revision for one registry URL: its bytes and its gzip body. */
export class Packument {
  /** The revision it shows. */
  readonly rev: string;
  /** Its length in bytes. */
  readonly size: number;
  #runs: Run[];
  #bytes?: Uint8Array;
  #gzip?: Uint8Array;

  /**
   * @param rev The revision.
   * @param runs The document's runs, in order.
   *
   * @example
   * ```ts
   * import { Packument } from "./_docs.ts";
   * import { Run } from "./_stitched_gzip.ts";
   * const doc = new Packument("1-a", [new Run(new TextEncoder().encode("{}"))]);
   * console.log(doc.size); // 2
   * ```
   */
  constructor(rev: string, runs: Run[]) {
    this.rev = rev;
    this.#runs = runs;
    this.size = runs.reduce((n, r) => n + r.plain.length, 0);
  }

  /** The document's bytes; joined once. */
  get bytes(): Uint8Array {
    if (!this.#bytes) {
      this.#bytes = new Uint8Array(this.size);
      let at = 0;
      for (const r of this.#runs) {
        this.#bytes.set(r.plain, at);
        at += r.plain.length;
      }
    }
    return this.#bytes;
  }

  /** The document gzipped; made once, compressing only the runs not compressed before. */
  get gzip(): Uint8Array {
    return this.#gzip ??= gzipRuns(this.#runs);
  }
}

/**
 * What a package's packuments are assembled from, read in one snapshot: the head and
 * the small columns of every version, oldest first. The manifests, which never change
 * once stored, are read apart, and only those not assembled before.
 */
export interface PackumentRows {
  /** The package's head, and the README of the version `latest` names (empty unless asked for). */
  head: HeadInput & { readme: string };
  /** The versions, oldest first. */
  versions: DocRow[];
}

/** A version row's small columns (never changed in place: a change makes a new row). */
export type DocRow = Pick<VersionRow, "version" | "published" | "deprecated">;

/** What {@linkcode assemblePackument} reads besides the rows. */
export interface DocReads extends Pick<StoreReads, "ownersWithEmail"> {
  /** The stored manifests (JSON text) of some versions of a package, by version. */
  getManifests(name: string, versions: string[]): Promise<Map<string, string>>;
}

/**
 * Assembles a packument from a package's rows. Entries made before are reused; the
 * manifests of the others (and, for the full document, the latest one's) are read.
 * A version whose manifest is gone (removed since the rows were read) is left out.
 *
 * @param store Where manifests and owners' emails are read.
 * @param cache The database's entries.
 * @param rows The head and version rows of one snapshot.
 * @param abbreviated The abbreviated (`application/vnd.npm.install-v1+json`) document.
 * @param base The registry URL that replaces {@linkcode BASE} (BASE itself keeps it).
 * @returns The document.
 *
 * @example
 * ```ts
 * import { assemblePackument, DocCache } from "./_docs.ts";
 * const store = {
 *   getManifests: () => Promise.resolve(new Map([["1.0.0", '{"version":"1.0.0"}']])),
 *   ownersWithEmail: () => Promise.resolve([]),
 * };
 * const head = {
 *   name: "a", rev: "1-x", created: "", modified: "", distTags: { latest: "1.0.0" },
 *   owners: [], readme: "",
 * };
 * const versions = [{ version: "1.0.0", published: "", deprecated: null }];
 * const doc = await assemblePackument(store, new DocCache(), { head, versions }, true, "");
 * console.log(new TextDecoder().decode(doc.bytes));
 * ```
 */
export async function assemblePackument(
  store: DocReads,
  cache: DocCache,
  rows: PackumentRows,
  abbreviated: boolean,
  base: string,
): Promise<Packument> {
  const { head } = rows;
  const kind = abbreviated ? "a" : "f";
  const keyOf = (v: DocRow) =>
    `${kind}\0${base}\0${head.name}@${v.version}\0${v.deprecated ?? ""}`;
  // The rows a store kept for the last revision start this one's: their entries are
  // the last document's.
  const listKey = `${kind}\0${base}\0${head.name}`;
  const last = cache.lastList(listKey);
  let same = 0;
  if (last) {
    const n = Math.min(last.rows.length, rows.versions.length);
    while (same < n && last.rows[same] === rows.versions[same]) same++;
  }
  const found: (Uint8Array | undefined)[] = rows.versions.map((v, i) =>
    i < same ? last!.found[i] : cache.get(keyOf(v))
  );
  const latest = head.distTags.latest ?? "";
  const wanted = rows.versions.filter((v, i) =>
    !found[i] || (!abbreviated && v.version === latest)
  ).map((v) => v.version);
  const manifests = wanted.length
    ? await store.getManifests(head.name, wanted)
    : new Map<string, string>();
  const j = JSON.stringify;
  const text = (s: string) => new Run(encoder.encode(s.replaceAll(BASE, base)));
  const list: Uint8Array[] = [];
  const present: typeof rows.versions = [];
  rows.versions.forEach((v, i) => {
    let entry = found[i];
    if (!entry) {
      const manifest = manifests.get(v.version);
      if (manifest === undefined) return;
      entry = found[i] = cache.keep(
        keyOf(v),
        `${j(v.version)}:${versionText(manifest, v.deprecated, abbreviated)}`
          .replaceAll(BASE, base),
      );
    }
    list.push(entry);
    present.push(v);
  });
  if (present.length === rows.versions.length) {
    cache.setList(listKey, rows.versions, list);
  }
  const runs: Run[] = [];
  if (abbreviated) {
    runs.push(
      text(
        `{"name":${j(head.name)},"modified":${j(head.modified)},"dist-tags":${
          j(head.distTags)
        },"versions":{`,
      ),
    );
    listRuns(list, NOTHING, runs);
    runs.push(text("}}"));
    return new Packument(head.rev, runs);
  }
  const latestText = present.some((v) => v.version === latest)
    ? manifests.get(latest)
    : undefined;
  const latestManifest = manifestOf(
    latestText === undefined ? undefined : { manifest: latestText },
  );
  const times = present.map((v) => {
    const key = `t\0${head.name}@${v.version}\0${v.published}`;
    return cache.get(key) ??
      cache.keep(key, `${j(v.version)}:${j(v.published)}`);
  });
  const maintainers = (await store.ownersWithEmail(head.owners)).map((o) => ({
    name: o.name,
    email: o.email ?? "",
  }));
  runs.push(
    text(
      `{"_id":${j(head.name)},"_rev":${j(head.rev)},"name":${
        j(head.name)
      },"description":${j(latestManifest.description ?? "")},"dist-tags":${
        j(head.distTags)
      },"versions":{`,
    ),
  );
  listRuns(list, NOTHING, runs);
  runs.push(
    text(
      `},"time":{"created":${j(head.created)},"modified":${j(head.modified)}`,
    ),
  );
  listRuns(times, COMMA, runs);
  const readme = latestText === undefined ? "" : head.readme;
  let tail = `},"maintainers":${j(maintainers)},"readme":${
    j(readme)
  },"readmeFilename":${j(readme ? "README.md" : "")},"keywords":${
    j(keywordsOf(latestManifest))
  }`;
  for (const f of PACKAGE_FIELDS) {
    if (latestManifest[f] !== undefined) {
      tail += `,${j(f)}:${j(latestManifest[f])}`;
    }
  }
  runs.push(text(`${tail}}`));
  return new Packument(head.rev, runs);
}
