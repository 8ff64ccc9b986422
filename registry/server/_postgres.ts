/**
 * PostgreSQL for the SQL store, through npm `pg`: every server process is stateless
 * and shares the database; writers of one package serialise on a transaction-scoped
 * advisory lock, and uniqueness (a version, a user) is the database's own constraint,
 * so several servers stay consistent.
 *
 * @module
 */
import pg from "pg";
import { Buffer } from "node:buffer";
import { schemaSql } from "./_schema.ts";
import type { SqlConn, SqlDialect, SqlRow } from "./sql_store.ts";
import { StoreConflictError } from "./store.ts";

interface Queryable {
  query(
    sql: string,
    args?: unknown[],
  ): Promise<{ rows: SqlRow[]; rowCount: number | null }>;
}

const numbered = new Map<string, string>();

/** `?` placeholders as PostgreSQL's `$1`, `$2`, ... (our SQL has no `?` in literals). */
function placeholders(sql: string): string {
  let out = numbered.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, out);
  }
  return out;
}

class PgConn implements SqlConn {
  #q: Queryable;
  #turn: Promise<unknown> = Promise.resolve();
  constructor(q: Queryable) {
    this.#q = q;
  }
  /**
   * Runs one statement. A transaction's connection is one client, which must not be
   * given a query while it runs another: statements asked for together take turns.
   */
  query(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }> {
    const run = () => this.#run(sql, args);
    const p = this.#turn.then(run, run);
    this.#turn = p.catch(() => {});
    return p;
  }
  async #run(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }> {
    const values = args.map((a) =>
      a instanceof Uint8Array
        ? Buffer.from(a.buffer, a.byteOffset, a.byteLength)
        : a
    );
    try {
      const r = await this.#q.query(placeholders(sql), values);
      return { rows: r.rows, changes: r.rowCount ?? 0 };
    } catch (e) {
      if ((e as { code?: string }).code === "23505") {
        throw new StoreConflictError((e as Error).message, { cause: e });
      }
      throw e;
    }
  }
}

/** The PostgreSQL dialect: a connection pool and advisory locks. */
export class PostgresDialect implements SqlDialect {
  /** Always `postgres`. */
  readonly kind = "postgres";
  /** Reads go to the pool. */
  readonly reads: SqlConn;
  /** A transaction-scoped advisory lock on the package's name. */
  readonly lockPackageSql = `SELECT pg_advisory_xact_lock(hashtext(?))`;
  #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
    this.reads = new PgConn(pool as unknown as Queryable);
  }

  /**
   * Connects and creates the tables if needed (under a lock, so servers starting
   * together do not race).
   */
  static async connect(
    url: string,
    poolSize: number,
  ): Promise<PostgresDialect> {
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
    return new PostgresDialect(pool);
  }

  blob(value: unknown): Uint8Array {
    return new Uint8Array(value as Buffer);
  }

  async transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(new PgConn(client as unknown as Queryable));
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
