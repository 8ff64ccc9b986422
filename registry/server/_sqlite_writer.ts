/**
 * The SQLite store's writer, in a worker of its own: `node:sqlite` calls block, and a
 * commit waits for the disk (`synchronous = FULL`), so the registry's event loop must
 * not be the thread that makes them. The main thread sends a transaction's statements
 * in batches (`{ id, op: "batch", begin, statements, commit }`: usually one per
 * transaction, its writes and its `COMMIT` together) and gets `{ id, rows, changes }`
 * (of the last statement) or `{ id, error, conflict }` back; a batch that fails rolls
 * its transaction back.
 *
 * @module
 */
import {
  DatabaseSync,
  type SQLInputValue,
  type StatementSync,
} from "node:sqlite";

/** One statement, with `?` placeholders. */
export interface WriterStatement {
  /** The SQL. */
  sql: string;
  /** Its arguments. */
  args: unknown[];
}

/** A request to the writer. */
export interface WriterRequest {
  /** Matches the answer to the request. */
  id: number;
  /**
   * `open` the file (the first request); run a `batch` of one transaction's
   * statements; `rollback` the open transaction, if any; `close` the file.
   */
  op: "open" | "batch" | "rollback" | "close";
  /** The file, for `open`. */
  path?: string;
  /** Whether the batch starts the transaction (`BEGIN IMMEDIATE` first). */
  begin?: boolean;
  /** The batch's statements, run in order. */
  statements?: WriterStatement[];
  /** Whether the batch ends the transaction (`COMMIT` last). */
  commit?: boolean;
}

/** The writer's answer. */
export interface WriterAnswer {
  /** The request's id. */
  id: number;
  /** Rows of the batch's last statement, if it is a SELECT. */
  rows?: Record<string, unknown>[];
  /** Rows the batch's last statement changed. */
  changes?: number;
  /** The error's message (the transaction is rolled back). */
  error?: string;
  /** Whether the error is a unique-key conflict. */
  conflict?: boolean;
}

let db: DatabaseSync | undefined;
const prepared = new Map<string, StatementSync>();

function run(s: WriterStatement): Pick<WriterAnswer, "rows" | "changes"> {
  let statement = prepared.get(s.sql);
  if (!statement) {
    statement = db!.prepare(s.sql);
    prepared.set(s.sql, statement);
  }
  const args = s.args as SQLInputValue[];
  if (/^\s*SELECT\b/i.test(s.sql)) {
    return { rows: statement.all(...args) as Record<string, unknown>[] };
  }
  return { changes: Number(statement.run(...args).changes) };
}

function answer(req: WriterRequest): WriterAnswer {
  switch (req.op) {
    case "open":
      db = new DatabaseSync(req.path!);
      db.exec(`PRAGMA busy_timeout = 10000`);
      db.exec(`PRAGMA journal_mode = WAL`);
      db.exec(`PRAGMA synchronous = FULL`);
      db.exec(`PRAGMA foreign_keys = ON`);
      return { id: req.id };
    case "batch": {
      if (req.begin) db!.exec(`BEGIN IMMEDIATE`);
      // A statement never runs outside its transaction (after a BEGIN that failed, or
      // once a failed batch rolled it back, it would commit on its own).
      else if (!db!.isTransaction) throw new Error("No transaction is open");
      let out: Pick<WriterAnswer, "rows" | "changes"> = {};
      for (const s of req.statements ?? []) out = run(s);
      if (req.commit) db!.exec(`COMMIT`);
      return { id: req.id, ...out };
    }
    case "rollback":
      if (db?.isTransaction) db.exec(`ROLLBACK`);
      return { id: req.id };
    case "close":
      db?.close();
      db = undefined;
      return { id: req.id };
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
    if (e.data.op === "batch" && db?.isTransaction) db.exec(`ROLLBACK`);
    out = {
      id: e.data.id,
      error: message,
      conflict: /UNIQUE constraint|PRIMARY KEY/i.test(message),
    };
  }
  scope.postMessage(out);
};
