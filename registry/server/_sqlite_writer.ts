/**
 * The SQLite store's writer, in a worker of its own: `node:sqlite` calls block, and a
 * commit waits for the disk (`synchronous = FULL`), so the registry's event loop must
 * not be the thread that makes them. The main thread sends `{ id, sql, args }` and gets
 * `{ id, rows, changes }` or `{ id, error, conflict }` back; `sql` is run as a statement,
 * or with `exec: true` as a script (`BEGIN IMMEDIATE`, `COMMIT`, `ROLLBACK`).
 *
 * @module
 */
import {
  DatabaseSync,
  type SQLInputValue,
  type StatementSync,
} from "node:sqlite";

/** A request to the writer. */
export interface WriterRequest {
  /** Matches the answer to the request. */
  id: number;
  /**
   * Opens the file (the first request), runs a script, begins a transaction, runs one
   * of its statements, commits it, or closes the file.
   */
  op: "open" | "exec" | "begin" | "query" | "commit" | "close";
  /** The file (`open`) or the SQL. */
  sql: string;
  /** Statement arguments. */
  args?: unknown[];
}

/** The writer's answer. */
export interface WriterAnswer {
  /** The request's id. */
  id: number;
  /** Rows of a SELECT. */
  rows?: Record<string, unknown>[];
  /** Rows a write changed. */
  changes?: number;
  /** Whether a transaction is open (after `exec`). */
  inTransaction?: boolean;
  /** The error's message. */
  error?: string;
  /** Whether the error is a unique-key conflict. */
  conflict?: boolean;
}

let db: DatabaseSync | undefined;
const statements = new Map<string, StatementSync>();
/** The first statement of the open transaction that failed: its commit is refused. */
let failed: WriterAnswer | null = null;
/** Why the last `begin` failed, for the statements sent after it. */
let beginError = "";

function answer(req: WriterRequest): WriterAnswer {
  switch (req.op) {
    case "open":
      db = new DatabaseSync(req.sql);
      db.exec(`PRAGMA busy_timeout = 10000`);
      db.exec(`PRAGMA journal_mode = WAL`);
      db.exec(`PRAGMA synchronous = FULL`);
      db.exec(`PRAGMA foreign_keys = ON`);
      return { id: req.id };
    case "exec":
      db!.exec(req.sql);
      return { id: req.id, inTransaction: db!.isTransaction };
    case "begin":
      failed = null;
      beginError = "";
      try {
        db!.exec(`BEGIN IMMEDIATE`);
      } catch (e) {
        beginError = (e as Error).message;
        throw e;
      }
      return { id: req.id, inTransaction: true };
    case "commit":
      // Statements may have been sent without a wait for their answers: one that
      // failed rolls the transaction back here, and its error is the commit's.
      if (failed) {
        if (db!.isTransaction) db!.exec(`ROLLBACK`);
        return { ...failed, id: req.id, inTransaction: false };
      }
      db!.exec(`COMMIT`);
      return { id: req.id, inTransaction: false };
    case "close":
      db?.close();
      db = undefined;
      return { id: req.id };
    case "query": {
      // A statement never runs outside the transaction it was sent in (after a BEGIN
      // that failed, it would commit on its own).
      if (!db!.isTransaction) {
        throw new Error(
          `No transaction is open${
            beginError ? ` (BEGIN failed: ${beginError})` : ""
          }`,
        );
      }
      let s = statements.get(req.sql);
      if (!s) {
        s = db!.prepare(req.sql);
        statements.set(req.sql, s);
      }
      const args = (req.args ?? []) as SQLInputValue[];
      if (/^\s*SELECT\b/i.test(req.sql)) {
        return {
          id: req.id,
          rows: s.all(...args) as Record<string, unknown>[],
        };
      }
      return { id: req.id, changes: Number(s.run(...args).changes) };
    }
  }
}

const scope = self as unknown as {
  onmessage: (e: MessageEvent<WriterRequest>) => void;
  postMessage(answer: WriterAnswer): void;
};

scope.onmessage = (e) => {
  let out: WriterAnswer;
  try {
    out = answer(e.data);
  } catch (err) {
    const message = (err as Error).message;
    out = {
      id: e.data.id,
      error: message,
      conflict: /UNIQUE constraint|PRIMARY KEY/i.test(message),
      inTransaction: db?.isTransaction,
    };
    if (e.data.op === "query" && db?.isTransaction) failed ??= out;
  }
  scope.postMessage(out);
};
