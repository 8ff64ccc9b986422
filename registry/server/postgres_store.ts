/**
 * The scale-out backend: PostgreSQL through npm `pg`. Every server process is
 * stateless and shares this database; writers of one package serialise on a
 * transaction-scoped advisory lock, and uniqueness (a version, a user) is the
 * database's own constraint, so several servers stay consistent.
 *
 * @module
 */
import pg from "pg";
import { Buffer } from "node:buffer";
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
interface Queryable {
  query(
    sql: string,
    args?: unknown[],
  ): Promise<{ rows: Row[]; rowCount: number | null }>;
}

class PgReads implements StoreReads {
  protected q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }
  protected async rows(sql: string, ...args: unknown[]): Promise<Row[]> {
    try {
      return (await this.q.query(sql, args)).rows;
    } catch (e) {
      if ((e as { code?: string }).code === "23505") {
        throw new StoreConflictError((e as Error).message, { cause: e });
      }
      throw e;
    }
  }
  protected async one(
    sql: string,
    ...args: unknown[]
  ): Promise<Row | undefined> {
    return (await this.rows(sql, ...args))[0];
  }
  async getPackage(name: string): Promise<PackageRow | null> {
    const r = await this.one(`SELECT * FROM packages WHERE name = $1`, name);
    return r ? packageFromRaw(r as unknown as RawPackage) : null;
  }
  async getPackageRev(name: string): Promise<string | null> {
    const r = await this.one(`SELECT rev FROM packages WHERE name = $1`, name);
    return r ? (r.rev as string) : null;
  }
  async getVersions(name: string): Promise<VersionRow[]> {
    return (await this.rows(
      `SELECT * FROM versions WHERE name = $1 ORDER BY published, version`,
      name,
    )).map(toVersion);
  }
  async getTarball(name: string, filename: string): Promise<Uint8Array | null> {
    const r = await this.one(
      `SELECT data FROM tarballs WHERE name = $1 AND filename = $2`,
      name,
      filename,
    );
    return r ? new Uint8Array(r.data as Buffer) : null;
  }
  async getAttestation(name: string, version: string): Promise<string | null> {
    const r = await this.one(
      `SELECT bundle FROM attestations WHERE name = $1 AND version = $2`,
      name,
      version,
    );
    return r ? (r.bundle as string) : null;
  }
  async isVersionRemoved(name: string, version: string): Promise<boolean> {
    return !!(await this.one(
      `SELECT 1 FROM removed_versions WHERE name = $1 AND version = $2`,
      name,
      version,
    ));
  }
  async getUser(name: string): Promise<UserRow | null> {
    return toUser(await this.one(`SELECT * FROM users WHERE name = $1`, name));
  }
  async countUsers(): Promise<number> {
    return Number((await this.one(`SELECT count(*) AS n FROM users`))!.n);
  }
  async getTokenByHash(hash: string): Promise<TokenRow | null> {
    const r = await this.one(`SELECT * FROM tokens WHERE hash = $1`, hash);
    return r ? toToken(r) : null;
  }
  async listTokens(username: string): Promise<TokenRow[]> {
    return (await this.rows(
      `SELECT * FROM tokens WHERE username = $1 ORDER BY created`,
      username,
    ))
      .map(toToken);
  }
  async getOrgMembers(org: string): Promise<OrgMemberRow[]> {
    return (await this.rows(
      `SELECT * FROM org_members WHERE org = $1 ORDER BY username`,
      org,
    ))
      .map((r) => ({
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
      `(lower(name) LIKE $1 ESCAPE '\\' OR lower(description) LIKE $1 ESCAPE '\\' OR lower(keywords) LIKE $1 ESCAPE '\\')`;
    const total = Number(
      (await this.one(
        `SELECT count(*) AS n FROM packages WHERE ${where}`,
        like,
      ))!.n,
    );
    const rows = (await this.rows(
      `SELECT name, description, keywords, latest, modified, owners FROM packages WHERE ${where}
       ORDER BY (lower(name) = $2) DESC, modified DESC, name LIMIT $3 OFFSET $4`,
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
    const r = await this.one(`SELECT value FROM meta WHERE key = $1`, key);
    return r ? (r.value as string) : null;
  }
  async getPublisherKey(keyid: string): Promise<PublisherKeyRow | null> {
    const r = await this.one(
      `SELECT * FROM publisher_keys WHERE keyid = $1`,
      keyid,
    );
    return r ? publisherKeyFromRaw(r) : null;
  }
  async listPublisherKeys(username: string): Promise<PublisherKeyRow[]> {
    return (await this.rows(
      `SELECT * FROM publisher_keys WHERE username = $1 ORDER BY created, keyid`,
      username,
    )).map(publisherKeyFromRaw);
  }
}

class PgTx extends PgReads implements StoreTx {
  async lockPackage(name: string): Promise<void> {
    await this.rows(
      `SELECT pg_advisory_xact_lock(hashtext($1))`,
      `package:${name}`,
    );
  }
  async putPackage(p: PackageRow): Promise<void> {
    await this.rows(
      `INSERT INTO packages
       (name, rev, created, modified, dist_tags, owners, description, keywords, latest, full_doc, abbrev_doc)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (name) DO UPDATE SET rev = $2, created = $3, modified = $4, dist_tags = $5,
         owners = $6, description = $7, keywords = $8, latest = $9, full_doc = $10, abbrev_doc = $11`,
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
  }
  async deletePackage(name: string): Promise<void> {
    await this.rows(
      `INSERT INTO removed_versions (name, version, removed)
       SELECT name, version, $2 FROM versions WHERE name = $1 ON CONFLICT DO NOTHING`,
      name,
      new Date().toISOString(),
    );
    for (const t of ["versions", "tarballs", "attestations", "packages"]) {
      await this.rows(`DELETE FROM ${t} WHERE name = $1`, name);
    }
  }
  async insertVersion(v: VersionRow): Promise<void> {
    await this.rows(
      `INSERT INTO versions (name, version, manifest, readme, published, deprecated)
       VALUES ($1, $2, $3, $4, $5, $6)`,
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
    await this.rows(
      `UPDATE versions SET deprecated = $3 WHERE name = $1 AND version = $2`,
      name,
      version,
      message,
    );
  }
  async removeVersion(
    name: string,
    version: string,
    tarball: string,
  ): Promise<void> {
    await this.rows(
      `DELETE FROM versions WHERE name = $1 AND version = $2`,
      name,
      version,
    );
    await this.rows(
      `DELETE FROM tarballs WHERE name = $1 AND filename = $2`,
      name,
      tarball,
    );
    await this.rows(
      `DELETE FROM attestations WHERE name = $1 AND version = $2`,
      name,
      version,
    );
    await this.rows(
      `INSERT INTO removed_versions (name, version, removed) VALUES ($1, $2, $3)
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
      `INSERT INTO tarballs (name, filename, data) VALUES ($1, $2, $3)`,
      name,
      filename,
      Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    );
  }
  async putAttestation(
    name: string,
    version: string,
    bundle: string,
  ): Promise<void> {
    await this.rows(
      `INSERT INTO attestations (name, version, bundle) VALUES ($1, $2, $3)`,
      name,
      version,
      bundle,
    );
  }
  async createUser(u: UserRow): Promise<void> {
    await this.rows(
      `INSERT INTO users (name, email, password_hash, admin, created) VALUES ($1, $2, $3, $4, $5)`,
      u.name,
      u.email,
      u.passwordHash,
      u.admin ? 1 : 0,
      u.created,
    );
  }
  async setAdmin(name: string, admin: boolean): Promise<void> {
    await this.rows(
      `UPDATE users SET admin = $2 WHERE name = $1`,
      name,
      admin ? 1 : 0,
    );
  }
  async insertToken(t: TokenRow): Promise<void> {
    await this.rows(
      `INSERT INTO tokens (key, hash, username, readonly, created) VALUES ($1, $2, $3, $4, $5)`,
      t.key,
      t.hash,
      t.username,
      t.readonly ? 1 : 0,
      t.created,
    );
  }
  async deleteToken(username: string, keyOrHash: string): Promise<boolean> {
    const r = await this.q.query(
      `DELETE FROM tokens WHERE username = $1 AND (key = $2 OR hash = $2)`,
      [username, keyOrHash],
    );
    return (r.rowCount ?? 0) > 0;
  }
  async setOrgMember(m: OrgMemberRow): Promise<void> {
    await this.rows(
      `INSERT INTO org_members (org, username, role) VALUES ($1, $2, $3)
       ON CONFLICT (org, username) DO UPDATE SET role = $3`,
      m.org,
      m.username,
      m.role,
    );
  }
  async removeOrgMember(org: string, username: string): Promise<void> {
    await this.rows(
      `DELETE FROM org_members WHERE org = $1 AND username = $2`,
      org,
      username,
    );
  }
  async insertPublisherKey(k: PublisherKeyRow): Promise<void> {
    await this.rows(
      `INSERT INTO publisher_keys (keyid, key, username, created, revoked)
       VALUES ($1, $2, $3, $4, $5)`,
      k.keyid,
      k.key,
      k.username,
      k.created,
      k.revoked,
    );
  }
  async revokePublisherKey(keyid: string, at: string): Promise<boolean> {
    const r = await this.q.query(
      `UPDATE publisher_keys SET revoked = $1 WHERE keyid = $2 AND revoked IS NULL`,
      [at, keyid],
    );
    return (r.rowCount ?? 0) > 0;
  }
  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    await this.rows(
      `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
      key,
      value,
    );
    return (await this.one(`SELECT value FROM meta WHERE key = $1`, key))!
      .value as string;
  }
}

/** The PostgreSQL store. */
export class PostgresStore extends PgReads implements Store {
  /** Always `postgres`. */
  readonly kind = "postgres";
  #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    super(pool as unknown as Queryable);
    this.#pool = pool;
  }

  /**
   * Connects and creates the tables if needed (under a lock, so servers starting
   * together do not race).
   *
   * @param url A `postgres://` connection URL.
   * @param poolSize Connections per process (default 10).
   * @returns The store.
   *
   * @example
   * ```ts
   * const store = await PostgresStore.connect("postgres://postgres@127.0.0.1:5432/bpfpm");
   * await store.close();
   * ```
   */
  static async connect(url: string, poolSize = 10): Promise<PostgresStore> {
    const pool = new pg.Pool({ connectionString: url, max: poolSize });
    pool.on("error", () => {});
    const client = await pool.connect();
    try {
      await client.query(`SELECT pg_advisory_lock(7364501)`);
      try {
        for (const sql of schemaSql("BYTEA")) await client.query(sql);
      } finally {
        await client.query(`SELECT pg_advisory_unlock(7364501)`);
      }
    } catch (e) {
      client.release();
      await pool.end();
      throw e;
    }
    client.release();
    return new PostgresStore(pool);
  }

  async transaction<T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(new PgTx(client as unknown as Queryable));
      await client.query("COMMIT");
      return result;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
