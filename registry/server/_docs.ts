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

/** Rebuilds the stored head of a package from its versions. */
export function buildDocs(input: DocInput, versions: VersionRow[]): PackageRow {
  const manifests: Record<string, Record<string, unknown>> = {};
  const time: Record<string, string> = {
    created: input.created,
    modified: input.modified,
  };
  for (const v of versions) {
    const m = JSON.parse(v.manifest) as Record<string, unknown>;
    if (v.deprecated) m.deprecated = v.deprecated;
    manifests[v.version] = m;
    time[v.version] = v.published;
  }
  const latest = input.distTags.latest ?? "";
  const latestManifest = manifests[latest] ?? {};
  const latestRow = versions.find((v) => v.version === latest);
  const maintainers = input.owners.map((o) => ({
    name: o.name,
    email: o.email ?? "",
  }));
  const full: Record<string, unknown> = {
    _id: input.name,
    _rev: input.rev,
    name: input.name,
    description: latestManifest.description ?? "",
    "dist-tags": input.distTags,
    versions: manifests,
    time,
    maintainers,
    readme: latestRow?.readme ?? "",
    readmeFilename: latestRow?.readme ? "README.md" : "",
    keywords: Array.isArray(latestManifest.keywords)
      ? latestManifest.keywords
      : [],
  };
  for (const f of PACKAGE_FIELDS) {
    if (latestManifest[f] !== undefined) full[f] = latestManifest[f];
  }
  const abbrevVersions: Record<string, Record<string, unknown>> = {};
  for (const [v, m] of Object.entries(manifests)) {
    const a: Record<string, unknown> = {};
    for (const f of ABBREVIATED_FIELDS) if (m[f] !== undefined) a[f] = m[f];
    abbrevVersions[v] = a;
  }
  const abbrev = {
    name: input.name,
    modified: input.modified,
    "dist-tags": input.distTags,
    versions: abbrevVersions,
  };
  return {
    name: input.name,
    rev: input.rev,
    created: input.created,
    modified: input.modified,
    distTags: input.distTags,
    owners: input.owners.map((o) => o.name),
    description: String(latestManifest.description ?? ""),
    keywords: (full.keywords as unknown[]).map(String),
    latest,
    fullDoc: JSON.stringify(full),
    abbrevDoc: JSON.stringify(abbrev),
  };
}
