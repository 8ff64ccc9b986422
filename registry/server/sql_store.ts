/**
 * The one SQL store: every query of the {@linkcode Store} interface written once, with
 * `?` placeholders and SQL both SQLite and PostgreSQL speak (`ON CONFLICT`, `excluded`).
 * What differs lives in a small {@linkcode SqlDialect}: placeholders, the blob type and
 * its values, how a unique-key conflict is reported, the per-package writer lock, and
 * how transactions run. {@linkcode openSqliteStore} (one file, the embedded default)
 * and {@linkcode connectPostgresStore} (several stateless servers) make one.
 *
 * @module
 */
import {
  likePattern,
  packageFromRaw,
  publisherKeyFromRaw,
  type RawPackage,
} from "./_schema.ts";
import { SqliteDialect } from "./_sqlite.ts";
import {
  assemblePackument,
  BASE,
  DocCache,
  type DocRow,
  type Packument,
  type PackumentRows,
} from "./_docs.ts";
import {
  type OrgMemberRow,
  type PackageRow,
  type PublisherKeyRow,
  type SearchRow,
  type Store,
  type StoreReads,
  type StoreTx,
  type TokenRow,
  toToken,
  toUser,
  toVersion,
  type UserRow,
  type VersionRow,
} from "./store.ts";

/** A result row. */
export type SqlRow = Record<string, unknown>;

/** A connection (or a transaction's connection) that runs one statement. */
export interface SqlConn {
  /**
   * Runs `sql` (with `?` placeholders) and returns its rows and the number of rows it
   * changed; a unique-key conflict throws `StoreConflictError`.
   */
  query(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }>;
}

/** What differs between the databases. */
export interface SqlDialect {
  /** `sqlite` or `postgres`. */
  readonly kind: string;
  /** The connection plain reads use (they see committed data only). */
  readonly reads: SqlConn;
  /** The statement that serialises writers of one package until commit, or null when the write lock already does. */
  readonly lockPackageSql: string | null;
  /** A blob as the driver hands it back, as bytes. */
  blob(value: unknown): Uint8Array;
  /** Runs `fn` in one transaction on a connection of its own. */
  transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T>;
  /** See {@linkcode Store.localGeneration}. */
  localGeneration?(): number;
  /** Closes connections. */
  close(): Promise<void>;
}

/** Each database's packument entries (see {@linkcode DocCache}). */
const docCaches = new WeakMap<SqlDialect, DocCache>();

class SqlReads implements StoreReads {
  protected conn: SqlConn;
  protected dialect: SqlDialect;
  constructor(conn: SqlConn, dialect: SqlDialect) {
    this.conn = conn;
    this.dialect = dialect;
  }
  protected async rows(sql: string, ...args: unknown[]): Promise<SqlRow[]> {
    return (await this.conn.query(sql, args)).rows;
  }
  protected async one(
    sql: string,
    ...args: unknown[]
  ): Promise<SqlRow | undefined> {
    return (await this.conn.query(sql, args)).rows[0];
  }
  protected async changes(sql: string, ...args: unknown[]): Promise<number> {
    return (await this.conn.query(sql, args)).changes;
  }
  async getPackage(name: string): Promise<PackageRow | null> {
    const r = await this.one(
      `SELECT name, rev, created, modified, dist_tags, owners, description, keywords, latest
       FROM packages WHERE name = ?`,
      name,
    );
    return r ? packageFromRaw(r as unknown as RawPackage) : null;
  }
  async getPackageRev(name: string): Promise<string | null> {
    const r = await this.one(`SELECT rev FROM packages WHERE name = ?`, name);
    return r ? (r.rev as string) : null;
  }
  /**
   * The head and the versions' small columns in one statement (so one snapshot on both
   * databases), the head first; the manifests are read apart, and only those not
   * assembled before (`_docs.ts`).
   */
  protected async getPackumentRows(
    name: string,
    withReadme: boolean,
  ): Promise<PackumentRows | null> {
    // Rows kept for the stored revision are those rows: every change makes a revision.
    const kept = withReadme ? undefined : this.docCache.rowsOf(name);
    if (kept && kept.head.rev === await this.getPackageRev(name)) return kept;
    const rows = await this.rows(
      `SELECT 0 AS k, rev AS a, created AS b, modified AS c, dist_tags AS d, owners AS e,
         ${
        withReadme
          ? "(SELECT readme FROM versions v WHERE v.name = packages.name AND v.version = packages.latest)"
          : "''"
      } AS f
       FROM packages WHERE name = ?
       UNION ALL
       SELECT 1, version, published, deprecated, NULL, NULL, NULL FROM versions WHERE name = ?
       ORDER BY k, b, a`,
      name,
      name,
    );
    const head = rows[0];
    if (!head || Number(head.k) !== 0) return null;
    const read: PackumentRows = {
      head: {
        name,
        rev: head.a as string,
        created: head.b as string,
        modified: head.c as string,
        distTags: JSON.parse(head.d as string),
        owners: JSON.parse(head.e as string),
        readme: (head.f as string | null) ?? "",
      },
      versions: rows.slice(1).map((r) => ({
        version: r.a as string,
        published: r.b as string,
        deprecated: (r.c as string | null) ?? null,
      })),
    };
    if (!withReadme) this.docCache.setRows(name, read);
    return read;
  }
  /** This database's packument caches. */
  protected get docCache(): DocCache {
    let cache = docCaches.get(this.dialect);
    if (!cache) docCaches.set(this.dialect, cache = new DocCache());
    return cache;
  }
  /**
   * The stored manifests of some versions, by version: many are read in one statement
   * for the package, a few one by one.
   */
  async getManifests(
    name: string,
    versions: string[],
  ): Promise<Map<string, string>> {
    const found = versions.length > 8
      ? await this.rows(
        `SELECT version, manifest FROM versions WHERE name = ?`,
        name,
      )
      : (await Promise.all(versions.map((v) =>
        this.rows(
          `SELECT version, manifest FROM versions WHERE name = ? AND version = ?`,
          name,
          v,
        )
      ))).flat();
    return new Map(
      found.map((r) => [r.version as string, r.manifest as string]),
    );
  }
  async getPackument(
    name: string,
    abbreviated: boolean,
    base: string,
  ): Promise<Packument | null> {
    const rows = await this.getPackumentRows(name, !abbreviated);
    if (!rows) return null;
    return await assemblePackument(
      this,
      this.docCache,
      rows,
      abbreviated,
      base,
    );
  }
  /** A packument's text, with {@linkcode BASE} for the registry URL. */
  async getPackageDoc(
    name: string,
    abbreviated: boolean,
  ): Promise<{ rev: string; doc: string } | null> {
    const doc = await this.getPackument(name, abbreviated, BASE);
    return doc && { rev: doc.rev, doc: new TextDecoder().decode(doc.bytes) };
  }
  async ownersWithEmail(
    owners: string[],
  ): Promise<{ name: string; email: string | null }[]> {
    const users = await Promise.all(owners.map((o) => this.getUser(o)));
    return owners.map((name, i) => ({ name, email: users[i]?.email ?? null }));
  }
  async getVersions(name: string): Promise<VersionRow[]> {
    return (await this.rows(
      `SELECT * FROM versions WHERE name = ? ORDER BY published, version`,
      name,
    )).map(toVersion);
  }
  async getVersion(name: string, version: string): Promise<VersionRow | null> {
    const r = await this.one(
      `SELECT * FROM versions WHERE name = ? AND version = ?`,
      name,
      version,
    );
    return r ? toVersion(r) : null;
  }
  async getTarball(name: string, filename: string): Promise<Uint8Array | null> {
    const r = await this.one(
      `SELECT data FROM tarballs WHERE name = ? AND filename = ?`,
      name,
      filename,
    );
    return r ? this.dialect.blob(r.data) : null;
  }
  async getAttestation(name: string, version: string): Promise<string | null> {
    const r = await this.one(
      `SELECT bundle FROM attestations WHERE name = ? AND version = ?`,
      name,
      version,
    );
    return r ? (r.bundle as string) : null;
  }
  async isVersionRemoved(name: string, version: string): Promise<boolean> {
    return !!(await this.one(
      `SELECT 1 FROM removed_versions WHERE name = ? AND version = ?`,
      name,
      version,
    ));
  }
  async getUser(name: string): Promise<UserRow | null> {
    return toUser(await this.one(`SELECT * FROM users WHERE name = ?`, name));
  }
  async countUsers(): Promise<number> {
    return Number((await this.one(`SELECT count(*) AS n FROM users`))!.n);
  }
  async getTokenByHash(hash: string): Promise<TokenRow | null> {
    const r = await this.one(`SELECT * FROM tokens WHERE hash = ?`, hash);
    return r ? toToken(r) : null;
  }
  async listTokens(username: string): Promise<TokenRow[]> {
    return (await this.rows(
      `SELECT * FROM tokens WHERE username = ? ORDER BY created`,
      username,
    )).map(toToken);
  }
  async getOrgMembers(org: string): Promise<OrgMemberRow[]> {
    return (await this.rows(
      `SELECT * FROM org_members WHERE org = ? ORDER BY username`,
      org,
    )).map((r) => ({
      org: r.org as string,
      username: r.username as string,
      role: r.role as string,
    }));
  }
  async search(
    text: string,
    size: number,
    from: number,
  ): Promise<{ rows: SearchRow[]; total: number }> {
    const like = likePattern(text);
    const where =
      `(lower(name) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\' OR lower(keywords) LIKE ? ESCAPE '\\')`;
    const total = Number(
      (await this.one(
        `SELECT count(*) AS n FROM packages WHERE ${where}`,
        like,
        like,
        like,
      ))!.n,
    );
    const rows = (await this.rows(
      `SELECT name, description, keywords, latest, modified, owners FROM packages WHERE ${where}
       ORDER BY (lower(name) = ?) DESC, modified DESC, name LIMIT ? OFFSET ?`,
      like,
      like,
      like,
      text.toLowerCase(),
      size,
      from,
    )).map((r) => ({
      name: r.name as string,
      description: r.description as string,
      keywords: JSON.parse(r.keywords as string),
      latest: r.latest as string,
      modified: r.modified as string,
      owners: JSON.parse(r.owners as string),
    }));
    return { rows, total };
  }
  async getMeta(key: string): Promise<string | null> {
    const r = await this.one(`SELECT value FROM meta WHERE key = ?`, key);
    return r ? (r.value as string) : null;
  }
  async getPublisherKey(keyid: string): Promise<PublisherKeyRow | null> {
    const r = await this.one(
      `SELECT * FROM publisher_keys WHERE keyid = ?`,
      keyid,
    );
    return r ? publisherKeyFromRaw(r) : null;
  }
  async listPublisherKeys(username: string): Promise<PublisherKeyRow[]> {
    return (await this.rows(
      `SELECT * FROM publisher_keys WHERE username = ? ORDER BY created, keyid`,
      username,
    )).map(publisherKeyFromRaw);
  }
}

/**
 * What a transaction did to a package's packument rows: versions appended after a head
 * read at revision `from` (a publish), or anything else (`reset`).
 */
type RowsChange =
  | { from: string | undefined; head?: PackageRow; appended: DocRow[] }
  | "reset";

class SqlTx extends SqlReads implements StoreTx {
  /** The packages this transaction changed, and how. */
  #changed = new Map<string, RowsChange>();
  /** The revision each package had when this transaction read its head. */
  #readRevs = new Map<string, string | undefined>();
  #change(name: string): RowsChange {
    let c = this.#changed.get(name);
    if (!c) {
      c = this.#readRevs.has(name)
        ? { from: this.#readRevs.get(name), appended: [] }
        : "reset";
      this.#changed.set(name, c);
    }
    return c;
  }
  #reset(name: string): void {
    this.#changed.set(name, "reset");
  }
  override async getPackage(name: string): Promise<PackageRow | null> {
    const p = await super.getPackage(name);
    if (!this.#changed.has(name)) this.#readRevs.set(name, p?.rev);
    return p;
  }
  /**
   * After the commit: a publish (or a change of the head alone) extends the rows kept
   * for the revision it read, when its version sorts last; any other change forgets
   * them, and so does a change that made no new revision (rows are checked by it).
   */
  committed(): void {
    for (const [name, c] of this.#changed) {
      const kept = this.docCache.rowsOf(name);
      const tail = kept?.versions.at(-1);
      const next = c === "reset" ? undefined : c.appended[0];
      const extends_ = c !== "reset" && c.head && kept &&
        kept.head.rev === c.from && c.appended.length <= 1 &&
        (!tail || !next || tail.published < next.published ||
          (tail.published === next.published && tail.version < next.version));
      this.docCache.setRows(
        name,
        extends_
          ? {
            head: {
              name,
              rev: c.head!.rev,
              created: c.head!.created,
              modified: c.head!.modified,
              distTags: c.head!.distTags,
              owners: c.head!.owners,
              readme: "",
            },
            versions: [...kept!.versions, ...c.appended],
          }
          : undefined,
      );
    }
  }
  async lockPackage(name: string): Promise<void> {
    const sql = this.dialect.lockPackageSql;
    if (sql) await this.rows(sql, `package:${name}`);
  }
  async putPackage(p: PackageRow): Promise<void> {
    const c = this.#change(p.name);
    if (c !== "reset") c.head = p;
    await this.rows(
      `INSERT INTO packages
       (name, rev, created, modified, dist_tags, owners, description, keywords, latest, full_doc, abbrev_doc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET rev = excluded.rev, created = excluded.created,
         modified = excluded.modified, dist_tags = excluded.dist_tags, owners = excluded.owners,
         description = excluded.description, keywords = excluded.keywords,
         latest = excluded.latest, full_doc = excluded.full_doc, abbrev_doc = excluded.abbrev_doc`,
      p.name,
      p.rev,
      p.created,
      p.modified,
      JSON.stringify(p.distTags),
      JSON.stringify(p.owners),
      p.description,
      JSON.stringify(p.keywords),
      p.latest,
      "",
      "",
    );
  }
  async deletePackage(name: string): Promise<void> {
    this.#reset(name);
    await this.rows(
      `INSERT INTO removed_versions (name, version, removed)
       SELECT name, version, ? FROM versions WHERE name = ? ON CONFLICT DO NOTHING`,
      new Date().toISOString(),
      name,
    );
    for (const t of ["versions", "tarballs", "attestations", "packages"]) {
      await this.rows(`DELETE FROM ${t} WHERE name = ?`, name);
    }
  }
  async insertVersion(v: VersionRow): Promise<void> {
    const c = this.#change(v.name);
    if (c !== "reset") {
      c.appended.push({
        version: v.version,
        published: v.published,
        deprecated: v.deprecated,
      });
    }
    await this.rows(
      `INSERT INTO versions (name, version, manifest, readme, published, deprecated)
       VALUES (?, ?, ?, ?, ?, ?)`,
      v.name,
      v.version,
      v.manifest,
      v.readme,
      v.published,
      v.deprecated,
    );
  }
  async setDeprecated(
    name: string,
    version: string,
    message: string | null,
  ): Promise<void> {
    this.#reset(name);
    await this.rows(
      `UPDATE versions SET deprecated = ? WHERE name = ? AND version = ?`,
      message,
      name,
      version,
    );
  }
  async removeVersion(
    name: string,
    version: string,
    tarball: string,
  ): Promise<void> {
    this.#reset(name);
    await this.rows(
      `DELETE FROM versions WHERE name = ? AND version = ?`,
      name,
      version,
    );
    await this.rows(
      `DELETE FROM tarballs WHERE name = ? AND filename = ?`,
      name,
      tarball,
    );
    await this.rows(
      `DELETE FROM attestations WHERE name = ? AND version = ?`,
      name,
      version,
    );
    await this.rows(
      `INSERT INTO removed_versions (name, version, removed) VALUES (?, ?, ?)
       ON CONFLICT DO NOTHING`,
      name,
      version,
      new Date().toISOString(),
    );
  }
  async putTarball(
    name: string,
    filename: string,
    data: Uint8Array,
  ): Promise<void> {
    await this.rows(
      `INSERT INTO tarballs (name, filename, data) VALUES (?, ?, ?)`,
      name,
      filename,
      data,
    );
  }
  async putAttestation(
    name: string,
    version: string,
    bundle: string,
  ): Promise<void> {
    await this.rows(
      `INSERT INTO attestations (name, version, bundle) VALUES (?, ?, ?)`,
      name,
      version,
      bundle,
    );
  }
  async createUser(u: UserRow): Promise<void> {
    await this.rows(
      `INSERT INTO users (name, email, password_hash, admin, created) VALUES (?, ?, ?, ?, ?)`,
      u.name,
      u.email,
      u.passwordHash,
      u.admin ? 1 : 0,
      u.created,
    );
  }
  async setAdmin(name: string, admin: boolean): Promise<void> {
    await this.rows(
      `UPDATE users SET admin = ? WHERE name = ?`,
      admin ? 1 : 0,
      name,
    );
  }
  async insertToken(t: TokenRow): Promise<void> {
    await this.rows(
      `INSERT INTO tokens (key, hash, username, readonly, created) VALUES (?, ?, ?, ?, ?)`,
      t.key,
      t.hash,
      t.username,
      t.readonly ? 1 : 0,
      t.created,
    );
  }
  async deleteToken(username: string, keyOrHash: string): Promise<boolean> {
    return await this.changes(
      `DELETE FROM tokens WHERE username = ? AND (key = ? OR hash = ?)`,
      username,
      keyOrHash,
      keyOrHash,
    ) > 0;
  }
  async setOrgMember(m: OrgMemberRow): Promise<void> {
    await this.rows(
      `INSERT INTO org_members (org, username, role) VALUES (?, ?, ?)
       ON CONFLICT (org, username) DO UPDATE SET role = excluded.role`,
      m.org,
      m.username,
      m.role,
    );
  }
  async removeOrgMember(org: string, username: string): Promise<void> {
    await this.rows(
      `DELETE FROM org_members WHERE org = ? AND username = ?`,
      org,
      username,
    );
  }
  async insertPublisherKey(k: PublisherKeyRow): Promise<void> {
    await this.rows(
      `INSERT INTO publisher_keys (keyid, key, username, created, revoked)
       VALUES (?, ?, ?, ?, ?)`,
      k.keyid,
      k.key,
      k.username,
      k.created,
      k.revoked,
    );
  }
  async revokePublisherKey(keyid: string, at: string): Promise<boolean> {
    return await this.changes(
      `UPDATE publisher_keys SET revoked = ? WHERE keyid = ? AND revoked IS NULL`,
      at,
      keyid,
    ) > 0;
  }
  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    await this.rows(
      `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING`,
      key,
      value,
    );
    return (await this.one(`SELECT value FROM meta WHERE key = ?`, key))!
      .value as string;
  }
}

/** The store over a {@linkcode SqlDialect}. */
export class SqlStore extends SqlReads implements Store {
  /** `sqlite` or `postgres`. */
  readonly kind: string;

  /**
   * @param dialect The database's connections and differences.
   *
   * @example
   * ```ts
   * import { openSqliteStore } from "./sql_store.ts";
   * const store = openSqliteStore(":memory:");
   * await store.close();
   * ```
   */
  constructor(dialect: SqlDialect) {
    super(dialect.reads, dialect);
    this.kind = dialect.kind;
    if (dialect.localGeneration) {
      this.localGeneration = () => dialect.localGeneration!();
    }
  }

  /** See {@linkcode Store.localGeneration}. */
  localGeneration?: () => number;

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    let tx: SqlTx | undefined;
    const result = await this.dialect.transaction((conn) =>
      fn(tx = new SqlTx(conn, this.dialect))
    );
    tx!.committed();
    return result;
  }

  close(): Promise<void> {
    return this.dialect.close();
  }
}

/**
 * Opens (and creates) a SQLite store: one file, one process (see `_sqlite.ts`).
 *
 * @param path The file, or `:memory:` for a throwaway one (deleted on close).
 * @returns The store.
 *
 * @example
 * ```ts
 * import { openSqliteStore } from "./sql_store.ts";
 * const store = openSqliteStore("/tmp/registry.db");
 * await store.close();
 * ```
 */
export function openSqliteStore(path: string): SqlStore {
  return new SqlStore(new SqliteDialect(path));
}

/**
 * Connects to PostgreSQL and creates the tables if needed (see `_postgres.ts`).
 *
 * @param url A `postgres://` connection URL.
 * @param poolSize Connections per process (default 10).
 * @returns The store.
 *
 * @example
 * ```ts
 * import { connectPostgresStore } from "./sql_store.ts";
 * const store = await connectPostgresStore("postgres://postgres@127.0.0.1:5432/bpfpm");
 * await store.close();
 * ```
 */
export async function connectPostgresStore(
  url: string,
  poolSize = 10,
): Promise<SqlStore> {
  const { PostgresDialect } = await import("./_postgres.ts");
  return new SqlStore(await PostgresDialect.connect(url, poolSize));
}
