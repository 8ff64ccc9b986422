/**
 * Checkpoints the registry's SQLite write-ahead log into the database file, in a
 * worker of its own: a checkpoint waits for the disk twice (the log, then the file),
 * and the connection that writes runs on the event loop's thread, so it has automatic
 * checkpoints off. `PASSIVE` never waits for the writer or for readers; what it cannot
 * copy yet, the next one does. The main thread sends `{ path }` to start and
 * `{ close: true }` to stop (it answers `"closed"`).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** How often the log is checkpointed. */
const EVERY_MS = 500;

let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

const scope = self as unknown as {
  onmessage: (e: MessageEvent<{ path?: string; close?: boolean }>) => void;
  postMessage(message: string): void;
};

scope.onmessage = (e) => {
  if (e.data.path) {
    db = new DatabaseSync(e.data.path);
    db.exec(`PRAGMA synchronous = FULL`);
    timer = setInterval(() => {
      try {
        db!.exec(`PRAGMA wal_checkpoint(PASSIVE)`);
      } catch {
        // A busy or failed checkpoint leaves the log as it is: the next one copies it.
      }
    }, EVERY_MS);
  }
  if (e.data.close) {
    clearInterval(timer);
    db?.close();
    db = undefined;
    scope.postMessage("closed");
  }
};
