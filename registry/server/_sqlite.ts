/**
 * SQLite for the SQL store: one file through `node:sqlite`, in WAL mode. Writes go
 * through one connection, one transaction at a time (`BEGIN IMMEDIATE`, so several
 * processes on one file also serialise); reads use a second connection and so only
 * ever see committed data. A lock file keeps a second server off the file.
 *
 * @module
 */
import {
  DatabaseSync,
  type SQLInputValue,
  type StatementSync,
} from "node:sqlite";
import { schemaSql } from "./_schema.ts";
import type { SqlConn, SqlDialect, SqlRow } from "./sql_store.ts";
import { StoreConflictError } from "./store.ts";

class SqliteConn implements SqlConn {
  #db: DatabaseSync;
  #cache = new Map<string, StatementSync>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  query(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }> {
    let s = this.#cache.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#cache.set(sql, s);
    }
    const values = args as SQLInputValue[];
    try {
      if (/^\s*SELECT\b/i.test(sql)) {
        return Promise.resolve({
          rows: s.all(...values) as SqlRow[],
          changes: 0,
        });
      }
      return Promise.resolve({
        rows: [],
        changes: Number(s.run(...values).changes),
      });
    } catch (e) {
      if (/UNIQUE constraint|PRIMARY KEY/i.test((e as Error).message)) {
        return Promise.reject(
          new StoreConflictError((e as Error).message, { cause: e }),
        );
      }
      return Promise.reject(e);
    }
  }
}

/** The SQLite dialect: the file's connections, its lock, and the write queue. */
export class SqliteDialect implements SqlDialect {
  /** Always `sqlite`. */
  readonly kind = "sqlite";
  /** The read connection. */
  readonly reads: SqlConn;
  /** Not needed: a transaction holds the file's write lock. */
  readonly lockPackageSql = null;
  #write: DatabaseSync;
  #writeConn: SqliteConn;
  #read: DatabaseSync;
  #lock: DatabaseSync;
  #queue: Promise<unknown> = Promise.resolve();
  #generation = 0;
  #temp: string | null;

  /**
   * Opens (and creates) the database file.
   *
   * @param path The SQLite file, or `:memory:` for a throwaway database (a temporary
   * file, deleted on close, so that reads still never see an open transaction).
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
    this.reads = new SqliteConn(read);
    this.#write = write;
    this.#writeConn = new SqliteConn(write);
    this.#read = read;
    this.#lock = lock;
    this.#temp = temp;
  }

  blob(value: unknown): Uint8Array {
    return value as Uint8Array;
  }

  localGeneration(): number {
    return this.#generation;
  }

  transaction<T>(fn: (conn: SqlConn) => Promise<T>): Promise<T> {
    const run = async () => {
      this.#write.exec(`BEGIN IMMEDIATE`);
      try {
        const result = await fn(this.#writeConn);
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
