/**
 * The registry's storage interface. One SQL store implements it (`sql_store.ts`) on
 * SQLite (one file, the embedded default) and PostgreSQL (several stateless servers).
 * The registry's rules live in the handler; a store only reads rows and runs a function
 * inside one transaction, so a publish is all-or-nothing on both.
 *
 * @module
 */

import type { Packument } from "./_docs.ts";

/** A registry user. */
export interface UserRow {
  /** The login name. */
  name: string;
  /** Email, if given at sign-up. */
  email: string | null;
  /** `scrypt$N$r$p$salt$hash`. */
  passwordHash: string;
  /** Admins may unpublish anything and manage orgs. */
  admin: boolean;
  /** ISO time. */
  created: string;
}

/** An access token; only its SHA-256 is stored. */
export interface TokenRow {
  /** The public id (`npm token list` shows it). */
  key: string;
  /** Hex SHA-256 of the secret. */
  hash: string;
  /** The owner. */
  username: string;
  /** A read-only token cannot publish, tag, deprecate or unpublish. */
  readonly: boolean;
  /** ISO time. */
  created: string;
}

/**
 * A package's head row: its tags, owners and what search lists. The packuments are
 * assembled from it and the package's version rows (`_docs.ts`).
 */
export interface PackageRow {
  /** The package name. */
  name: string;
  /** CouchDB-style revision: `N-hex`. */
  rev: string;
  /** ISO time of the first publish. */
  created: string;
  /** ISO time of the last change. */
  modified: string;
  /** `dist-tags`, tag to version. */
  distTags: Record<string, string>;
  /** Owner user names. */
  owners: string[];
  /** The latest version's description. */
  description: string;
  /** The latest version's keywords. */
  keywords: string[];
  /** The version `latest` points at. */
  latest: string;
}

/** One published version. */
export interface VersionRow {
  /** The package name. */
  name: string;
  /** The exact version. */
  version: string;
  /** The version manifest served in the packument (JSON text). */
  manifest: string;
  /** The version's README. */
  readme: string;
  /** ISO time of publish. */
  published: string;
  /** Deprecation message, or null. */
  deprecated: string | null;
}

/** A member of an org (a scope owned by a group). */
export interface OrgMemberRow {
  /** The org name (a scope without `@`). */
  org: string;
  /** The member. */
  username: string;
  /** `owner`, `admin` or `developer`; all may publish in the scope. */
  role: string;
}

/**
 * A publisher key: the ed25519 key a user signs packages with (`bpfpm-signature.json`).
 * Revoking keeps the row, so a revoked key id is never registered again.
 */
export interface PublisherKeyRow {
  /** `ed25519:` and the first 32 hex digits of the SHA-256 of {@linkcode key}. */
  keyid: string;
  /** The public key, SPKI DER in base64. */
  key: string;
  /** The user it belongs to. */
  username: string;
  /** ISO time of registration. */
  created: string;
  /** ISO time of revocation, or null while the key is in force. */
  revoked: string | null;
}

/** A search hit. */
export interface SearchRow {
  /** The package name. */
  name: string;
  /** Latest description. */
  description: string;
  /** Latest keywords. */
  keywords: string[];
  /** Latest version. */
  latest: string;
  /** Last change, ISO time. */
  modified: string;
  /** Owners. */
  owners: string[];
}

/** Reads, outside or inside a transaction. */
export interface StoreReads {
  /** The package head, or null. */
  getPackage(name: string): Promise<PackageRow | null>;
  /** Only the revision, for cheap cache validation; null if absent. */
  getPackageRev(name: string): Promise<string | null>;
  /**
   * A packument (full or abbreviated, with `{{BASE}}` for the registry URL), assembled
   * from the head and version rows of one snapshot, with its revision; null if absent.
   */
  getPackageDoc(
    name: string,
    abbreviated: boolean,
  ): Promise<{ rev: string; doc: string } | null>;
  /**
   * A packument (full or abbreviated) for the registry URL `base`, assembled from the
   * head and version rows of one snapshot; null if absent. Parts made for an earlier
   * revision are reused, so a new revision costs what changed.
   */
  getPackument(
    name: string,
    abbreviated: boolean,
    base: string,
  ): Promise<Packument | null>;
  /** Every version of a package, oldest first. */
  getVersions(name: string): Promise<VersionRow[]>;
  /** The owners with their emails (null for a user who has none or is gone). */
  ownersWithEmail(
    owners: string[],
  ): Promise<{ name: string; email: string | null }[]>;
  /** One version's row, or null. */
  getVersion(name: string, version: string): Promise<VersionRow | null>;
  /** A tarball's bytes, or null. */
  getTarball(name: string, filename: string): Promise<Uint8Array | null>;
  /** A stored provenance bundle (JSON text), or null. */
  getAttestation(name: string, version: string): Promise<string | null>;
  /** Whether the version was published once and removed (numbers are never reused). */
  isVersionRemoved(name: string, version: string): Promise<boolean>;
  /** A user, or null. */
  getUser(name: string): Promise<UserRow | null>;
  /** How many users exist. */
  countUsers(): Promise<number>;
  /** A token by the SHA-256 of its secret, or null. */
  getTokenByHash(hash: string): Promise<TokenRow | null>;
  /** A user's tokens. */
  listTokens(username: string): Promise<TokenRow[]>;
  /** An org's members; empty when the org does not exist. */
  getOrgMembers(org: string): Promise<OrgMemberRow[]>;
  /** Packages whose name, description or keywords contain `text` (case-insensitive). */
  search(
    text: string,
    size: number,
    from: number,
  ): Promise<{ rows: SearchRow[]; total: number }>;
  /** A setting, or null. */
  getMeta(key: string): Promise<string | null>;
  /** A publisher key (revoked or not), or null. */
  getPublisherKey(keyid: string): Promise<PublisherKeyRow | null>;
  /** A user's publisher keys (revoked ones too), oldest first. */
  listPublisherKeys(username: string): Promise<PublisherKeyRow[]>;
}

/** Writes, only inside {@linkcode Store.transaction}. */
export interface StoreTx extends StoreReads {
  /**
   * Serialises writers of one package until commit: after this, no other transaction
   * changes `name` (PostgreSQL: an advisory lock; SQLite: the write lock is already held).
   */
  lockPackage(name: string): Promise<void>;
  /** Inserts or replaces the package head. */
  putPackage(row: PackageRow): Promise<void>;
  /** Deletes the package head, its versions and tarballs (names of removed versions stay). */
  deletePackage(name: string): Promise<void>;
  /** Inserts a version; fails if it exists. */
  insertVersion(row: VersionRow): Promise<void>;
  /** Sets or clears a deprecation message. */
  setDeprecated(
    name: string,
    version: string,
    message: string | null,
  ): Promise<void>;
  /** Deletes a version and its tarball, and records its number as used. */
  removeVersion(name: string, version: string, tarball: string): Promise<void>;
  /** Stores a tarball. */
  putTarball(name: string, filename: string, data: Uint8Array): Promise<void>;
  /** Stores a provenance bundle. */
  putAttestation(name: string, version: string, bundle: string): Promise<void>;
  /** Creates a user; fails if the name is taken. */
  createUser(row: UserRow): Promise<void>;
  /** Grants or removes admin. */
  setAdmin(name: string, admin: boolean): Promise<void>;
  /** Stores a token. */
  insertToken(row: TokenRow): Promise<void>;
  /** Deletes a token by its key or its hash; returns whether one was deleted. */
  deleteToken(username: string, keyOrHash: string): Promise<boolean>;
  /** Adds or updates an org member. */
  setOrgMember(row: OrgMemberRow): Promise<void>;
  /** Removes an org member. */
  removeOrgMember(org: string, username: string): Promise<void>;
  /** Registers a publisher key; fails (StoreConflictError) if its key id exists. */
  insertPublisherKey(row: PublisherKeyRow): Promise<void>;
  /** Marks a publisher key revoked at `at` unless it already is; returns whether it changed. */
  revokePublisherKey(keyid: string, at: string): Promise<boolean>;
  /** Sets a setting unless it is already set; returns the value in force. */
  setMetaIfAbsent(key: string, value: string): Promise<string>;
}

/** A storage backend. */
export interface Store extends StoreReads {
  /** `sqlite` or `postgres`. */
  readonly kind: string;
  /**
   * Runs `fn` in one transaction: committed if it resolves, rolled back if it throws
   * (or if the process dies before commit).
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * A number that changes whenever this store commits, offered only by a store that no
   * other process can write (SQLite holds a lock file for that); undefined otherwise
   * (PostgreSQL, where other servers write). It lets the handler serve a cached
   * packument without asking the database.
   */
  localGeneration?(): number;
  /** Closes connections. */
  close(): Promise<void>;
}

/** A write conflicted with a row that already exists (such as the same version twice). */
export class StoreConflictError extends Error {
  /**
   * @param message What conflicted.
   * @param options The driver's error.
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreConflictError";
  }
}

/** A database row as either driver returns it. */
type StoreRow = Record<string, unknown>;

/**
 * A `users` row as a {@link UserRow}, or null when there is none; both backends map rows so.
 *
 * @example
 * ```ts
 * import { toUser } from "./store.ts";
 * toUser({ name: "al", email: null, password_hash: "h", admin: 0, created: "t" });
 * ```
 */
export function toUser(r: StoreRow | undefined): UserRow | null {
  if (!r) return null;
  return {
    name: r.name as string,
    email: (r.email as string | null) ?? null,
    passwordHash: r.password_hash as string,
    admin: Number(r.admin) === 1,
    created: r.created as string,
  };
}

/**
 * A `tokens` row as a {@link TokenRow}.
 *
 * @example
 * ```ts
 * import { toToken } from "./store.ts";
 * toToken({ key: "k", hash: "h", username: "al", readonly: 1, created: "t" });
 * ```
 */
export function toToken(r: StoreRow): TokenRow {
  return {
    key: r.key as string,
    hash: r.hash as string,
    username: r.username as string,
    readonly: Number(r.readonly) === 1,
    created: r.created as string,
  };
}

/**
 * A `versions` row as a {@link VersionRow}.
 *
 * @example
 * ```ts
 * import { toVersion } from "./store.ts";
 * toVersion({ name: "p", version: "1.0.0", manifest: "{}", readme: "", published: "t" });
 * ```
 */
export function toVersion(r: StoreRow): VersionRow {
  return {
    name: r.name as string,
    version: r.version as string,
    manifest: r.manifest as string,
    readme: r.readme as string,
    published: r.published as string,
    deprecated: (r.deprecated as string | null) ?? null,
  };
}
