/**
 * SQLite for the SQL store: one file through `node:sqlite`, in WAL mode. Writes go
 * through one connection, one transaction at a time (`BEGIN IMMEDIATE`, so several
 * processes on one file also serialise), held by a worker (`_sqlite_writer.ts`) so that
 * a commit waiting for the disk never stalls the event loop; reads use a second
 * connection and so only ever see committed data. A lock file keeps a second server off
 * the file.
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
import type { WriterAnswer, WriterRequest } from "./_sqlite_writer.ts";

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

/** The writer worker's side in this thread: numbered requests, answers by id. */
class Writer {
  #worker: Worker;
  #next = 0;
  #pending = new Map<number, (a: WriterAnswer) => void>();
  constructor(path: string) {
    this.#worker = new Worker(
      new URL("./_sqlite_writer.ts", import.meta.url).href,
      { type: "module" },
    );
    this.#worker.onmessage = (e: MessageEvent<WriterAnswer>) => {
      const done = this.#pending.get(e.data.id);
      this.#pending.delete(e.data.id);
      done?.(e.data);
    };
    this.#worker.onerror = (e) => {
      e.preventDefault();
      for (const [id, done] of this.#pending) {
        done({ id, error: `The SQLite writer failed: ${e.message}` });
      }
      this.#pending.clear();
    };
    this.#opened = this.call("open", path).then(() => undefined);
    this.#opened.catch(() => {});
  }
  #opened: Promise<void>;
  /** Sends a request; a failed one rejects (a conflict as StoreConflictError). */
  async call(
    op: WriterRequest["op"],
    sql: string,
    args?: unknown[],
  ): Promise<WriterAnswer> {
    if (op !== "open") await this.#opened;
    const id = this.#next++;
    const answer = await new Promise<WriterAnswer>((resolve) => {
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ id, op, sql, args } satisfies WriterRequest);
    });
    if (answer.error !== undefined) {
      throw answer.conflict
        ? new StoreConflictError(answer.error)
        : new Error(answer.error);
    }
    return answer;
  }
  terminate(): void {
    this.#worker.terminate();
  }
}

/**
 * A transaction's connection: every statement goes to the writer, in order. A write
 * sent without a wait ({@linkcode WriterConn.send}) costs no round trip between the
 * threads; {@linkcode WriterConn.settle} waits for them before the commit.
 */
class WriterConn implements SqlConn {
  #writer: Writer;
  #sent: Promise<unknown>[] = [];
  constructor(writer: Writer) {
    this.#writer = writer;
  }
  async query(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }> {
    const a = await this.#writer.call("query", sql, args);
    return { rows: a.rows ?? [], changes: a.changes ?? 0 };
  }
  send(sql: string, args: unknown[]): void {
    this.#track(this.#writer.call("query", sql, args));
  }
  /** Sends `BEGIN IMMEDIATE` without a wait: statements after it refuse to run outside it. */
  begin(): void {
    this.#track(this.#writer.call("begin", ""));
  }
  /**
   * Commits: one round trip, in which the writer refuses (and rolls back) if anything
   * sent without a wait failed; throws that error.
   */
  async commit(): Promise<void> {
    const sent = this.#sent;
    this.#sent = [];
    await this.#writer.call("commit", "");
    for (const p of sent) await p;
  }
  /** Waits for what was sent; ignores its errors (the transaction is being abandoned). */
  async settle(): Promise<void> {
    const sent = this.#sent;
    this.#sent = [];
    for (const p of sent) await p.catch(() => {});
  }
  #track(p: Promise<unknown>): void {
    p.catch(() => {});
    this.#sent.push(p);
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
  #writer: Writer;
  #writeConn: WriterConn;
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
    const read = new DatabaseSync(path);
    read.exec(`PRAGMA busy_timeout = 10000`);
    this.reads = new SqliteConn(read);
    this.#writer = new Writer(path);
    this.#writeConn = new WriterConn(this.#writer);
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
      this.#writeConn.begin();
      try {
        const result = await fn(this.#writeConn);
        await this.#writeConn.commit();
        this.#generation++;
        return result;
      } catch (e) {
        await this.#writeConn.settle();
        const a = await this.#writer.call("exec", `SELECT 1`).catch(() => null);
        if (a?.inTransaction) await this.#writer.call("exec", `ROLLBACK`);
        throw e;
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#writer.call("close", "").catch(() => {});
    this.#writer.terminate();
    this.#read.close();
    this.#lock.close();
    if (this.#temp) Deno.removeSync(this.#temp, { recursive: true });
  }
}
