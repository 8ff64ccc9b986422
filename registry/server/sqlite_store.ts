/**
 * The embedded backend: one SQLite file through `node:sqlite`, in WAL mode. Writes go
 * through one connection, one transaction at a time (`BEGIN IMMEDIATE`, so several
 * processes on one file also serialise); reads use a second connection and so only
 * ever see committed data.
 *
 * @module
 */
import {
  DatabaseSync,
  type SQLInputValue,
  type StatementSync,
} from "node:sqlite";
import {
  likePattern,
  packageFromRaw,
  publisherKeyFromRaw,
  type RawPackage,
  schemaSql,
} from "./_schema.ts";
import {
  type OrgMemberRow,
  type PackageRow,
  type PublisherKeyRow,
  type SearchRow,
  type Store,
  StoreConflictError,
  type StoreReads,
  type StoreTx,
  type TokenRow,
  toToken,
  toUser,
  toVersion,
  type UserRow,
  type VersionRow,
} from "./store.ts";

type Row = Record<string, unknown>;

class Statements {
  #db: DatabaseSync;
  #cache = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  get(sql: string, ...args: SQLInputValue[]): Row | undefined {
    return this.#prep(sql).get(...args) as Row | undefined;
  }
  all(sql: string, ...args: SQLInputValue[]): Row[] {
    return this.#prep(sql).all(...args) as Row[];
  }
  run(sql: string, ...args: SQLInputValue[]): number {
    try {
      return Number(this.#prep(sql).run(...args).changes);
    } catch (e) {
      if (/UNIQUE constraint|PRIMARY KEY/i.test((e as Error).message)) {
        throw new StoreConflictError((e as Error).message, { cause: e });
      }
      throw e;
    }
  }
  #prep(sql: string): StatementSync {
    let s = this.#cache.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#cache.set(sql, s);
    }
    return s;
  }
}

class SqliteReads implements StoreReads {
  protected s: Statements;
  constructor(s: Statements) {
    this.s = s;
  }
  getPackage(name: string): Promise<PackageRow | null> {
    const r = this.s.get(`SELECT * FROM packages WHERE name = ?`, name);
    return Promise.resolve(
      r ? packageFromRaw(r as unknown as RawPackage) : null,
    );
  }
  getPackageRev(name: string): Promise<string | null> {
    const r = this.s.get(`SELECT rev FROM packages WHERE name = ?`, name);
    return Promise.resolve(r ? (r.rev as string) : null);
  }
  getVersions(name: string): Promise<VersionRow[]> {
    return Promise.resolve(
      this.s.all(
        `SELECT * FROM versions WHERE name = ? ORDER BY published, version`,
        name,
      ).map(
        toVersion,
      ),
    );
  }
  getTarball(name: string, filename: string): Promise<Uint8Array | null> {
    const r = this.s.get(
      `SELECT data FROM tarballs WHERE name = ? AND filename = ?`,
      name,
      filename,
    );
    return Promise.resolve(r ? (r.data as Uint8Array) : null);
  }
  getAttestation(name: string, version: string): Promise<string | null> {
    const r = this.s.get(
      `SELECT bundle FROM attestations WHERE name = ? AND version = ?`,
      name,
      version,
    );
    return Promise.resolve(r ? (r.bundle as string) : null);
  }
  isVersionRemoved(name: string, version: string): Promise<boolean> {
    return Promise.resolve(
      !!this.s.get(
        `SELECT 1 FROM removed_versions WHERE name = ? AND version = ?`,
        name,
        version,
      ),
    );
  }
  getUser(name: string): Promise<UserRow | null> {
    return Promise.resolve(
      toUser(this.s.get(`SELECT * FROM users WHERE name = ?`, name)),
    );
  }
  countUsers(): Promise<number> {
    return Promise.resolve(
      Number(this.s.get(`SELECT count(*) AS n FROM users`)!.n),
    );
  }
  getTokenByHash(hash: string): Promise<TokenRow | null> {
    const r = this.s.get(`SELECT * FROM tokens WHERE hash = ?`, hash);
    return Promise.resolve(r ? toToken(r) : null);
  }
  listTokens(username: string): Promise<TokenRow[]> {
    return Promise.resolve(
      this.s.all(
        `SELECT * FROM tokens WHERE username = ? ORDER BY created`,
        username,
      ).map(toToken),
    );
  }
  getOrgMembers(org: string): Promise<OrgMemberRow[]> {
    return Promise.resolve(
      this.s.all(
        `SELECT * FROM org_members WHERE org = ? ORDER BY username`,
        org,
      ).map((r) => ({
        org: r.org as string,
        username: r.username as string,
        role: r.role as string,
      })),
    );
  }
  search(
    text: string,
    size: number,
    from: number,
  ): Promise<{ rows: SearchRow[]; total: number }> {
    const like = likePattern(text);
    const where =
      `lower(name) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\' OR lower(keywords) LIKE ? ESCAPE '\\'`;
    const total = Number(
      this.s.get(
        `SELECT count(*) AS n FROM packages WHERE ${where}`,
        like,
        like,
        like,
      )!.n,
    );
    const rows = this.s.all(
      `SELECT name, description, keywords, latest, modified, owners FROM packages WHERE ${where}
       ORDER BY (lower(name) = ?) DESC, modified DESC, name LIMIT ? OFFSET ?`,
      like,
      like,
      like,
      text.toLowerCase(),
      size,
      from,
    ).map((r) => ({
      name: r.name as string,
      description: r.description as string,
      keywords: JSON.parse(r.keywords as string),
      latest: r.latest as string,
      modified: r.modified as string,
      owners: JSON.parse(r.owners as string),
    }));
    return Promise.resolve({ rows, total });
  }
  getMeta(key: string): Promise<string | null> {
    const r = this.s.get(`SELECT value FROM meta WHERE key = ?`, key);
    return Promise.resolve(r ? (r.value as string) : null);
  }
  getPublisherKey(keyid: string): Promise<PublisherKeyRow | null> {
    const r = this.s.get(`SELECT * FROM publisher_keys WHERE keyid = ?`, keyid);
    return Promise.resolve(r ? publisherKeyFromRaw(r) : null);
  }
  listPublisherKeys(username: string): Promise<PublisherKeyRow[]> {
    return Promise.resolve(
      this.s.all(
        `SELECT * FROM publisher_keys WHERE username = ? ORDER BY created, keyid`,
        username,
      ).map(publisherKeyFromRaw),
    );
  }
}

class SqliteTx extends SqliteReads implements StoreTx {
  lockPackage(_name: string): Promise<void> {
    return Promise.resolve();
  }
  putPackage(p: PackageRow): Promise<void> {
    this.s.run(
      `INSERT OR REPLACE INTO packages
       (name, rev, created, modified, dist_tags, owners, description, keywords, latest, full_doc, abbrev_doc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      p.name,
      p.rev,
      p.created,
      p.modified,
      JSON.stringify(p.distTags),
      JSON.stringify(p.owners),
      p.description,
      JSON.stringify(p.keywords),
      p.latest,
      p.fullDoc,
      p.abbrevDoc,
    );
    return Promise.resolve();
  }
  deletePackage(name: string): Promise<void> {
    const now = new Date().toISOString();
    this.s.run(
      `INSERT OR IGNORE INTO removed_versions (name, version, removed)
       SELECT name, version, ? FROM versions WHERE name = ?`,
      now,
      name,
    );
    for (const t of ["versions", "tarballs", "attestations", "packages"]) {
      this.s.run(`DELETE FROM ${t} WHERE name = ?`, name);
    }
    return Promise.resolve();
  }
  insertVersion(v: VersionRow): Promise<void> {
    this.s.run(
      `INSERT INTO versions (name, version, manifest, readme, published, deprecated)
       VALUES (?, ?, ?, ?, ?, ?)`,
      v.name,
      v.version,
      v.manifest,
      v.readme,
      v.published,
      v.deprecated,
    );
    return Promise.resolve();
  }
  setDeprecated(
    name: string,
    version: string,
    message: string | null,
  ): Promise<void> {
    this.s.run(
      `UPDATE versions SET deprecated = ? WHERE name = ? AND version = ?`,
      message,
      name,
      version,
    );
    return Promise.resolve();
  }
  removeVersion(name: string, version: string, tarball: string): Promise<void> {
    this.s.run(
      `DELETE FROM versions WHERE name = ? AND version = ?`,
      name,
      version,
    );
    this.s.run(
      `DELETE FROM tarballs WHERE name = ? AND filename = ?`,
      name,
      tarball,
    );
    this.s.run(
      `DELETE FROM attestations WHERE name = ? AND version = ?`,
      name,
      version,
    );
    this.s.run(
      `INSERT OR IGNORE INTO removed_versions (name, version, removed) VALUES (?, ?, ?)`,
      name,
      version,
      new Date().toISOString(),
    );
    return Promise.resolve();
  }
  putTarball(name: string, filename: string, data: Uint8Array): Promise<void> {
    this.s.run(
      `INSERT INTO tarballs (name, filename, data) VALUES (?, ?, ?)`,
      name,
      filename,
      data,
    );
    return Promise.resolve();
  }
  putAttestation(name: string, version: string, bundle: string): Promise<void> {
    this.s.run(
      `INSERT INTO attestations (name, version, bundle) VALUES (?, ?, ?)`,
      name,
      version,
      bundle,
    );
    return Promise.resolve();
  }
  createUser(u: UserRow): Promise<void> {
    this.s.run(
      `INSERT INTO users (name, email, password_hash, admin, created) VALUES (?, ?, ?, ?, ?)`,
      u.name,
      u.email,
      u.passwordHash,
      u.admin ? 1 : 0,
      u.created,
    );
    return Promise.resolve();
  }
  setAdmin(name: string, admin: boolean): Promise<void> {
    this.s.run(
      `UPDATE users SET admin = ? WHERE name = ?`,
      admin ? 1 : 0,
      name,
    );
    return Promise.resolve();
  }
  insertToken(t: TokenRow): Promise<void> {
    this.s.run(
      `INSERT INTO tokens (key, hash, username, readonly, created) VALUES (?, ?, ?, ?, ?)`,
      t.key,
      t.hash,
      t.username,
      t.readonly ? 1 : 0,
      t.created,
    );
    return Promise.resolve();
  }
  deleteToken(username: string, keyOrHash: string): Promise<boolean> {
    return Promise.resolve(
      this.s.run(
        `DELETE FROM tokens WHERE username = ? AND (key = ? OR hash = ?)`,
        username,
        keyOrHash,
        keyOrHash,
      ) > 0,
    );
  }
  setOrgMember(m: OrgMemberRow): Promise<void> {
    this.s.run(
      `INSERT OR REPLACE INTO org_members (org, username, role) VALUES (?, ?, ?)`,
      m.org,
      m.username,
      m.role,
    );
    return Promise.resolve();
  }
  removeOrgMember(org: string, username: string): Promise<void> {
    this.s.run(
      `DELETE FROM org_members WHERE org = ? AND username = ?`,
      org,
      username,
    );
    return Promise.resolve();
  }
  insertPublisherKey(k: PublisherKeyRow): Promise<void> {
    this.s.run(
      `INSERT INTO publisher_keys (keyid, key, username, created, revoked) VALUES (?, ?, ?, ?, ?)`,
      k.keyid,
      k.key,
      k.username,
      k.created,
      k.revoked,
    );
    return Promise.resolve();
  }
  revokePublisherKey(keyid: string, at: string): Promise<boolean> {
    return Promise.resolve(
      this.s.run(
        `UPDATE publisher_keys SET revoked = ? WHERE keyid = ? AND revoked IS NULL`,
        at,
        keyid,
      ) > 0,
    );
  }
  setMetaIfAbsent(key: string, value: string): Promise<string> {
    this.s.run(
      `INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)`,
      key,
      value,
    );
    return Promise.resolve(
      this.s.get(`SELECT value FROM meta WHERE key = ?`, key)!.value as string,
    );
  }
}

/** The SQLite store. */
export class SqliteStore extends SqliteReads implements Store {
  /** Always `sqlite`. */
  readonly kind = "sqlite";
  #write: DatabaseSync;
  #read: DatabaseSync;
  #tx: SqliteTx;
  #queue: Promise<unknown> = Promise.resolve();
  #lock: DatabaseSync;
  #generation = 0;
  #temp: string | null;

  /**
   * Opens (and creates) the database file.
   *
   * @param path The SQLite file, or `:memory:` for a throwaway database (a temporary
   * file, deleted on close, so that reads still never see an open transaction).
   *
   * @example
   * ```ts
   * const store = new SqliteStore("/tmp/registry.db");
   * await store.close();
   * ```
   */
  constructor(path: string) {
    let temp: string | null = null;
    if (path === ":memory:") {
      temp = Deno.makeTempDirSync({ prefix: "bpfpm-registry-" });
      path = `${temp}/registry.db`;
    }
    // One process per file: a second server would miss this one's commits in its cache,
    // and several servers are what PostgreSQL is for.
    const lock = new DatabaseSync(`${path}.lock`);
    lock.exec(`PRAGMA busy_timeout = 0`);
    try {
      lock.exec(`BEGIN EXCLUSIVE`);
    } catch (e) {
      lock.close();
      throw new Error(
        `Another registry process is using ${path}: stop it, or run several servers on PostgreSQL (--database)`,
        { cause: e },
      );
    }
    const write = new DatabaseSync(path);
    write.exec(`PRAGMA busy_timeout = 10000`);
    write.exec(`PRAGMA journal_mode = WAL`);
    write.exec(`PRAGMA synchronous = FULL`);
    write.exec(`PRAGMA foreign_keys = ON`);
    write.exec(`BEGIN IMMEDIATE`);
    try {
      for (const sql of schemaSql("BLOB")) write.exec(sql);
      write.exec(`COMMIT`);
    } catch (e) {
      write.exec(`ROLLBACK`);
      throw e;
    }
    const read = new DatabaseSync(path);
    read.exec(`PRAGMA busy_timeout = 10000`);
    super(new Statements(read));
    this.#write = write;
    this.#read = read;
    this.#tx = new SqliteTx(new Statements(write));
    this.#lock = lock;
    this.#temp = temp;
  }

  localGeneration(): number {
    return this.#generation;
  }

  transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const run = async () => {
      this.#write.exec(`BEGIN IMMEDIATE`);
      try {
        const result = await fn(this.#tx);
        this.#write.exec(`COMMIT`);
        this.#generation++;
        return result;
      } catch (e) {
        if (this.#write.isTransaction) this.#write.exec(`ROLLBACK`);
        throw e;
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  close(): Promise<void> {
    this.#read.close();
    this.#write.close();
    this.#lock.close();
    if (this.#temp) Deno.removeSync(this.#temp, { recursive: true });
    return Promise.resolve();
  }
}
