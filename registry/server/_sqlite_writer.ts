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
  /** Opens the file (the first request), runs a script, or runs a statement. */
  op: "open" | "exec" | "query" | "close";
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
    case "close":
      db?.close();
      db = undefined;
      return { id: req.id };
    case "query": {
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
  }
  scope.postMessage(out);
};
