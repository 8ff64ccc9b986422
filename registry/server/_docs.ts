/**
 * Builds a package's head row when it changes, and its packuments (full and abbreviated)
 * from its rows when they are read: each version's manifest is a row of its own, so a
 * publish writes only what it adds, and a server assembles a packument once per revision
 * (`routes/packages.ts` caches it). Tarball URLs carry {@linkcode BASE} in place of the
 * registry's URL.
 *
 * @module
 */
import semver from "semver";
import type { PackageRow, VersionRow } from "./store.ts";

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

/** What {@linkcode buildDoc} needs besides the version rows. */
export interface DocInput {
  name: string;
  rev: string;
  created: string;
  modified: string;
  distTags: Record<string, string>;
  owners: { name: string; email: string | null }[];
}

/**
 * Each version's abbreviated manifest, by its stored manifest text: a new revision's
 * document has every version, and only a new one has not been seen. Bounded.
 */
const abbreviatedMemo = new Map<string, string>();
let abbreviatedMemoBytes = 0;
const ABBREVIATED_MEMO_MAX = 64 * 1024 * 1024;

/** A version manifest as the full packument serves it (its deprecation merged in). */
function fullVersionText(v: DocVersion): string {
  if (!v.deprecated) return v.manifest;
  const m = JSON.parse(v.manifest) as Record<string, unknown>;
  m.deprecated = v.deprecated;
  return JSON.stringify(m);
}

/** A version manifest as the abbreviated packument serves it. */
function abbreviatedVersionText(v: DocVersion): string {
  const key = v.deprecated ? `${v.manifest}\n${v.deprecated}` : v.manifest;
  const hit = abbreviatedMemo.get(key);
  if (hit !== undefined) return hit;
  const m = JSON.parse(v.manifest) as Record<string, unknown>;
  if (v.deprecated) m.deprecated = v.deprecated;
  const a: Record<string, unknown> = {};
  for (const f of ABBREVIATED_FIELDS) if (m[f] !== undefined) a[f] = m[f];
  const text = JSON.stringify(a);
  if (abbreviatedMemoBytes > ABBREVIATED_MEMO_MAX) {
    abbreviatedMemo.clear();
    abbreviatedMemoBytes = 0;
  }
  abbreviatedMemo.set(key, text);
  abbreviatedMemoBytes += key.length + text.length;
  return text;
}

/** `{"k":v,...}` from members whose values are JSON text already. */
function objectText(members: [string, string][]): string {
  return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

/** A version row as the packuments need it: `readme` is only read for the latest version. */
export type DocVersion = Pick<
  VersionRow,
  "version" | "manifest" | "published" | "deprecated" | "readme"
>;

/** The parsed manifest of the version `latest` names, or an empty object. */
function latestManifestOf(
  versions: DocVersion[],
  latest: string,
): { row?: DocVersion; manifest: Record<string, unknown> } {
  const row = versions.find((v) => v.version === latest);
  return {
    row,
    manifest: row
      ? JSON.parse(fullVersionText(row)) as Record<string, unknown>
      : {},
  };
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
  input: Omit<DocInput, "owners"> & { owners: string[] },
  latestRow: DocVersion | undefined,
): PackageRow {
  const latest = input.distTags.latest ?? "";
  const { manifest } = latestManifestOf(latestRow ? [latestRow] : [], latest);
  return {
    name: input.name,
    rev: input.rev,
    created: input.created,
    modified: input.modified,
    distTags: input.distTags,
    owners: input.owners,
    description: String(manifest.description ?? ""),
    keywords: keywordsOf(manifest).map(String),
    latest,
  };
}

/**
 * Assembles a packument from the package's head and its version rows (oldest first).
 * The version manifests are stored as JSON text and the document is assembled from that
 * text: only the latest manifest (and an abbreviated one not seen before) is parsed.
 *
 * @param input The head's fields, the owners with their emails.
 * @param versions The version rows, oldest first.
 * @param abbreviated The abbreviated (`application/vnd.npm.install-v1+json`) document.
 * @returns The document's JSON text, with {@linkcode BASE} for the registry URL.
 */
export function buildDoc(
  input: DocInput,
  versions: DocVersion[],
  abbreviated: boolean,
): string {
  const j = JSON.stringify;
  if (abbreviated) {
    return objectText([
      ["name", j(input.name)],
      ["modified", j(input.modified)],
      ["dist-tags", j(input.distTags)],
      [
        "versions",
        objectText(versions.map((v) => [v.version, abbreviatedVersionText(v)])),
      ],
    ]);
  }
  const time: Record<string, string> = {
    created: input.created,
    modified: input.modified,
  };
  for (const v of versions) time[v.version] = v.published;
  const { row: latestRow, manifest: latestManifest } = latestManifestOf(
    versions,
    input.distTags.latest ?? "",
  );
  const maintainers = input.owners.map((o) => ({
    name: o.name,
    email: o.email ?? "",
  }));
  const full: [string, string][] = [
    ["_id", j(input.name)],
    ["_rev", j(input.rev)],
    ["name", j(input.name)],
    ["description", j(latestManifest.description ?? "")],
    ["dist-tags", j(input.distTags)],
    [
      "versions",
      objectText(versions.map((v) => [v.version, fullVersionText(v)])),
    ],
    ["time", j(time)],
    ["maintainers", j(maintainers)],
    ["readme", j(latestRow?.readme ?? "")],
    ["readmeFilename", j(latestRow?.readme ? "README.md" : "")],
    ["keywords", j(keywordsOf(latestManifest))],
  ];
  for (const f of PACKAGE_FIELDS) {
    if (latestManifest[f] !== undefined) full.push([f, j(latestManifest[f])]);
  }
  return objectText(full);
}
