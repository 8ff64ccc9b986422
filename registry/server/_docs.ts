/**
 * Builds the packuments (full and abbreviated) from a package's rows. They are built
 * once per change, inside the changing transaction, and stored, so a `GET /:pkg` is
 * one row read. Tarball URLs carry {@linkcode BASE} in place of the registry's URL.
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

/** What {@linkcode buildDocs} needs besides the version rows. */
export interface DocInput {
  name: string;
  rev: string;
  created: string;
  modified: string;
  distTags: Record<string, string>;
  owners: { name: string; email: string | null }[];
}

/**
 * Each version's abbreviated manifest, by its stored manifest text: a publish rebuilds
 * the documents of every version, and only the new one has not been seen. Bounded.
 */
const abbreviatedMemo = new Map<string, string>();
let abbreviatedMemoBytes = 0;
const ABBREVIATED_MEMO_MAX = 64 * 1024 * 1024;

/** A version manifest as the full packument serves it (its deprecation merged in). */
function fullVersionText(v: VersionRow): string {
  if (!v.deprecated) return v.manifest;
  const m = JSON.parse(v.manifest) as Record<string, unknown>;
  m.deprecated = v.deprecated;
  return JSON.stringify(m);
}

/** A version manifest as the abbreviated packument serves it. */
function abbreviatedVersionText(v: VersionRow): string {
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

/**
 * Rebuilds the stored head of a package from its versions. The version manifests are
 * stored as JSON text, and the documents are assembled from that text: only the latest
 * manifest (and an abbreviated one not seen before) is parsed, so a publish to a package
 * with a large packument costs little more than writing it.
 */
export function buildDocs(input: DocInput, versions: VersionRow[]): PackageRow {
  const time: Record<string, string> = {
    created: input.created,
    modified: input.modified,
  };
  for (const v of versions) time[v.version] = v.published;
  const latest = input.distTags.latest ?? "";
  const latestRow = versions.find((v) => v.version === latest);
  const latestManifest = latestRow
    ? JSON.parse(fullVersionText(latestRow)) as Record<string, unknown>
    : {};
  const maintainers = input.owners.map((o) => ({
    name: o.name,
    email: o.email ?? "",
  }));
  const keywords = Array.isArray(latestManifest.keywords)
    ? latestManifest.keywords
    : [];
  const j = JSON.stringify;
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
    ["keywords", j(keywords)],
  ];
  for (const f of PACKAGE_FIELDS) {
    if (latestManifest[f] !== undefined) full.push([f, j(latestManifest[f])]);
  }
  const abbrev: [string, string][] = [
    ["name", j(input.name)],
    ["modified", j(input.modified)],
    ["dist-tags", j(input.distTags)],
    [
      "versions",
      objectText(versions.map((v) => [v.version, abbreviatedVersionText(v)])),
    ],
  ];
  return {
    name: input.name,
    rev: input.rev,
    created: input.created,
    modified: input.modified,
    distTags: input.distTags,
    owners: input.owners.map((o) => o.name),
    description: String(latestManifest.description ?? ""),
    keywords: keywords.map(String),
    latest,
    fullDoc: objectText(full),
    abbrevDoc: objectText(abbrev),
  };
}
