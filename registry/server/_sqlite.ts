/**
 * SQLite for the SQL store: one file through `node:sqlite`, in WAL mode. Writes go
 * through one connection, one transaction at a time (`BEGIN IMMEDIATE`, so several
 * processes on one file also serialise), held by a worker (`_sqlite_writer.ts`) so that
 * a commit waiting for the disk never stalls the event loop; reads use a second
 * connection and so only ever see committed data. A transaction reads on that second
 * connection too until it writes, and sends its writes with its commit: one round trip
 * to the worker. A lock file keeps a second server off the file.
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
import type {
  WriterAnswer,
  WriterRequest,
  WriterStatement,
} from "./_sqlite_writer.ts";

/** A statement that only reads. */
const SELECT = /^\s*SELECT\b/i;

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
      if (SELECT.test(sql)) {
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
    this.#opened = this.call({ op: "open", path }).then(() => undefined);
    this.#opened.catch(() => {});
  }
  #opened: Promise<void>;
  /** Sends a request; a failed one rejects (a conflict as StoreConflictError). */
  async call(req: Omit<WriterRequest, "id">): Promise<WriterAnswer> {
    if (req.op !== "open") await this.#opened;
    const id = this.#next++;
    const answer = await new Promise<WriterAnswer>((resolve) => {
      this.#pending.set(id, resolve);
      this.#worker.postMessage({ ...req, id } satisfies WriterRequest);
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
 * A transaction's connection. Its reads run on the read connection, in this thread,
 * until it writes: the transaction holds the dialect's queue and this process is the
 * file's only writer, so those reads see exactly what the writer would. Writes are
 * kept and go to the writer together, with `BEGIN IMMEDIATE`, when a statement needs
 * the writer's answer (a read after a write, a write whose count is asked for) or at
 * the commit: a transaction that reads and then writes costs one round trip between
 * the threads, its commit included.
 */
class TxConn implements SqlConn {
  #writer: Writer;
  #reads: SqlConn;
  #kept: WriterStatement[] = [];
  /** Whether the writer has begun this transaction. */
  begun = false;
  constructor(writer: Writer, reads: SqlConn) {
    this.#writer = writer;
    this.#reads = reads;
  }
  async query(
    sql: string,
    args: unknown[],
  ): Promise<{ rows: SqlRow[]; changes: number }> {
    if (!this.begun && !this.#kept.length && SELECT.test(sql)) {
      return await this.#reads.query(sql, args);
    }
    const a = await this.#batch([{ sql, args }], false);
    return { rows: a.rows ?? [], changes: a.changes ?? 0 };
  }
  send(sql: string, args: unknown[]): void {
    this.#kept.push({ sql, args });
  }
  /** Commits what was written, if anything; returns whether anything was. */
  async commit(): Promise<boolean> {
    if (!this.begun && !this.#kept.length) return false;
    await this.#batch([], true);
    return true;
  }
  #batch(
    more: WriterStatement[],
    commit: boolean,
  ): Promise<WriterAnswer> {
    const statements = [...this.#kept, ...more];
    this.#kept = [];
    const begin = !this.begun;
    this.begun = true;
    return this.#writer.call({ op: "batch", begin, statements, commit });
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
      const conn = new TxConn(this.#writer, this.reads);
      try {
        const result = await fn(conn);
        if (await conn.commit()) this.#generation++;
        return result;
      } catch (e) {
        if (conn.begun) await this.#writer.call({ op: "rollback" });
        throw e;
      }
    };
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#writer.call({ op: "close" }).catch(() => {});
    this.#writer.terminate();
    this.#read.close();
    this.#lock.close();
    if (this.#temp) Deno.removeSync(this.#temp, { recursive: true });
  }
}
