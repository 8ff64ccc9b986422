/**
 * SQLite for the SQL store: one file through `node:sqlite`, in WAL mode. Writes go
 * through one connection, one transaction at a time (`BEGIN IMMEDIATE`); reads use a
 * second connection and so only ever see committed data. A lock file keeps a second
 * server off the file.
 *
 * Transactions run on the event loop's thread, and no wait for the disk does: a
 * commit writes the log (`synchronous = NORMAL`: in WAL mode that survives the
 * process dying, as `kill -9` tests), the next transaction may start, and the
 * transaction's caller waits for a sync of the log that began after its commit (one
 * sync serves every commit made while the last one ran), so a change is acknowledged
 * only once it is on disk. Checkpoints run in a worker (`_sqlite_checkpointer.ts`).
 * Reads may see a change before its sync finishes. Transactions used to run in a
 * worker, but each round trip to it waited for a turn of the busy loop inside the
 * section writers take in turns, which made publishes the bottleneck of a mixed
 * load; and a commit that synced on the loop's thread stalled every read whenever the
 * disk was slow (up to 0.4 s at the machine's busiest).
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
  /** The write-ahead log, opened to sync it. */
  #log: Deno.FsFile;
  #checkpointer: Worker;
  /** Commits made, and how many of them a finished sync of the log covers. */
  #commits = 0;
  #synced = 0;
  #syncing: Promise<void> | undefined;
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
    // A commit writes the log without waiting for the disk; the transaction's caller
    // waits (off the event loop) for a sync of the log that began after the commit.
    write.exec(`PRAGMA synchronous = NORMAL`);
    write.exec(`PRAGMA wal_autocheckpoint = 0`);
    write.exec(`PRAGMA foreign_keys = ON`);
    // A first read makes the log file (the setup connection's close removed it).
    write.prepare(`SELECT count(*) FROM meta`).get();
    this.#log = Deno.openSync(`${path}-wal`, { read: true });
    this.#checkpointer = new Worker(
      new URL("./_sqlite_checkpointer.ts", import.meta.url).href,
      { type: "module" },
    );
    this.#checkpointer.postMessage({ path });
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
        if (conn.writes === before) return { result, commit: 0 };
        this.#generation++;
        return { result, commit: ++this.#commits };
      } catch (e) {
        if (this.#write.isTransaction) this.#write.exec(`ROLLBACK`);
        throw e;
      }
    };
    const p = this.#queue.then(run, run);
    // The next transaction need not wait for this one's sync: only its caller does.
    this.#queue = p.catch(() => {});
    return p.then(async ({ result, commit }) => {
      if (commit) await this.#durable(commit);
      return result;
    });
  }

  /**
   * Waits until commit number `commit` is on disk: a sync of the log that began after
   * it has finished. Commits that come while one sync runs share the next.
   */
  async #durable(commit: number): Promise<void> {
    while (this.#synced < commit) {
      if (!this.#syncing) {
        const upTo = this.#commits;
        this.#syncing = this.#log.sync().then(() => {
          this.#synced = Math.max(this.#synced, upTo);
        }).finally(() => this.#syncing = undefined);
      }
      await this.#syncing;
    }
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#syncing?.catch(() => {});
    await new Promise<void>((resolve) => {
      this.#checkpointer.onmessage = () => resolve();
      this.#checkpointer.postMessage({ close: true });
    });
    this.#checkpointer.terminate();
    this.#log.close();
    this.#write.close();
    this.#read.close();
    this.#lock.close();
    if (this.#temp) Deno.removeSync(this.#temp, { recursive: true });
  }
}
