/**
 * SQLite for the SQL store: one file through `node:sqlite`, in WAL mode with
 * `synchronous = FULL` (a commit waits for the disk). Writes go through one connection,
 * one transaction at a time (`BEGIN IMMEDIATE`); reads use a second connection and so
 * only ever see committed data. A lock file keeps a second server off the file.
 *
 * Transactions run on the event loop's thread, commit included. They used to run in a
 * worker, so that the commit's wait for the disk (~1 ms here) would not stall the
 * loop; but each round trip to the worker waited for a turn of the loop, several
 * milliseconds under load, inside the section publishes take in turns, and that made
 * publishes the bottleneck of a mixed load (`bench/registry.ts`: p50 of publishes
 * 350 ms to 1.2 s with the worker, 55 to 70 ms without, same machine and period).
 * Committing with `synchronous = NORMAL` and syncing the log off the loop before
 * answering was tried too: reads no longer waited for a slow disk, but each publish
 * waited a turn more, and the mixed load's p99 went from 79 to 110-157 ms. The cost
 * kept: when the disk is slow, the loop waits with the commit (0.4 s at worst on the
 * shared VM at its busiest).
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

/** A statement that only reads. */
const SELECT = /^\s*SELECT\b/i;

class SqliteConn implements SqlConn {
  #db: DatabaseSync;
  #cache = new Map<string, StatementSync>();
  /** Statements run that may have written. */
  writes = 0;
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
      if (SELECT.test(sql)) {
        return Promise.resolve({
          rows: s.all(...values) as SqlRow[],
          changes: 0,
        });
      }
      this.writes++;
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
    // The tables are made here, before any read; the writer then holds the file.
    const setup = new DatabaseSync(path);
    try {
      setup.exec(`PRAGMA busy_timeout = 10000`);
      setup.exec(`PRAGMA journal_mode = WAL`);
      setup.exec(`BEGIN IMMEDIATE`);
      try {
        for (const sql of schemaSql("BLOB")) setup.exec(sql);
        setup.exec(`COMMIT`);
      } catch (e) {
        setup.exec(`ROLLBACK`);
        throw e;
      }
    } finally {
      setup.close();
    }
    const write = new DatabaseSync(path);
    write.exec(`PRAGMA busy_timeout = 10000`);
    write.exec(`PRAGMA synchronous = FULL`);
    write.exec(`PRAGMA foreign_keys = ON`);
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
      const conn = this.#writeConn;
      const before = conn.writes;
      this.#write.exec(`BEGIN IMMEDIATE`);
      try {
        const result = await fn(conn);
        this.#write.exec(`COMMIT`);
        if (conn.writes !== before) this.#generation++;
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

  async close(): Promise<void> {
    await this.#queue;
    this.#write.close();
    this.#read.close();
    this.#lock.close();
    if (this.#temp) Deno.removeSync(this.#temp, { recursive: true });
  }
}
