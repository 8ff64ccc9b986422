/**
 * The tables, shared by both backends (`BLOB` is `BYTEA` on PostgreSQL).
 *
 * @module
 */
export function schemaSql(blob: "BLOB" | "BYTEA"): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS users (
      name TEXT PRIMARY KEY, email TEXT, password_hash TEXT NOT NULL,
      admin INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS tokens (
      key TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, username TEXT NOT NULL,
      readonly INTEGER NOT NULL, created TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS tokens_user ON tokens (username)`,
    `CREATE TABLE IF NOT EXISTS org_members (
      org TEXT NOT NULL, username TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (org, username))`,
    `CREATE TABLE IF NOT EXISTS packages (
      name TEXT PRIMARY KEY, rev TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
      dist_tags TEXT NOT NULL, owners TEXT NOT NULL, description TEXT NOT NULL,
      keywords TEXT NOT NULL, latest TEXT NOT NULL, full_doc TEXT NOT NULL,
      abbrev_doc TEXT NOT NULL)`,
    // full_doc and abbrev_doc are written empty: the packuments are assembled from the
    // version rows when read (_docs.ts). The columns stay so older files keep working.
    `CREATE TABLE IF NOT EXISTS versions (
      name TEXT NOT NULL, version TEXT NOT NULL, manifest TEXT NOT NULL, readme TEXT NOT NULL,
      published TEXT NOT NULL, deprecated TEXT, PRIMARY KEY (name, version))`,
    `CREATE TABLE IF NOT EXISTS tarballs (
      name TEXT NOT NULL, filename TEXT NOT NULL, data ${blob} NOT NULL,
      PRIMARY KEY (name, filename))`,
    `CREATE TABLE IF NOT EXISTS attestations (
      name TEXT NOT NULL, version TEXT NOT NULL, bundle TEXT NOT NULL,
      PRIMARY KEY (name, version))`,
    `CREATE TABLE IF NOT EXISTS removed_versions (
      name TEXT NOT NULL, version TEXT NOT NULL, removed TEXT NOT NULL,
      PRIMARY KEY (name, version))`,
    `CREATE TABLE IF NOT EXISTS publisher_keys (
      keyid TEXT PRIMARY KEY, key TEXT NOT NULL, username TEXT NOT NULL,
      created TEXT NOT NULL, revoked TEXT)`,
    `CREATE INDEX IF NOT EXISTS publisher_keys_user ON publisher_keys (username)`,
  ];
}

/** Row shape shared by both drivers for `packages`. */
export interface RawPackage {
  name: string;
  rev: string;
  created: string;
  modified: string;
  dist_tags: string;
  owners: string;
  description: string;
  keywords: string;
  latest: string;
}

export function packageFromRaw(r: RawPackage) {
  return {
    name: r.name,
    rev: r.rev,
    created: r.created,
    modified: r.modified,
    distTags: JSON.parse(r.dist_tags),
    owners: JSON.parse(r.owners),
    description: r.description,
    keywords: JSON.parse(r.keywords),
    latest: r.latest,
  };
}

/** A `publisher_keys` row from either driver. */
export function publisherKeyFromRaw(r: Record<string, unknown>) {
  return {
    keyid: r.keyid as string,
    key: r.key as string,
    username: r.username as string,
    created: r.created as string,
    revoked: (r.revoked as string | null) ?? null,
  };
}

/** Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`. */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
