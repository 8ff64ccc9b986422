/**
 * The project: its `package.json` (direct dependencies), its `bpf_modules` install dir
 * (a symlink to a complete tree under `.bpfpm/trees/`, swapped atomically by rename), and
 * where an installed package lives.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "../../runtime/_path.ts";
import {
  exists,
  lstatOrUndefined,
  namesIn,
  removeIfThere,
} from "../../runtime/_fs.ts";
import { ClientError } from "./errors.ts";
import {
  type LockedBpf,
  LOCKFILE,
  type Lockfile,
  writeLockfile,
} from "./lockfile.ts";
import { stableStringify } from "../common/stable_json.ts";

/** The install directory's name. */
export const MODULES_DIR = "bpf_modules";
/** The directory holding install trees and staging areas. */
export const STATE_DIR = ".bpfpm";

/**
 * The install journal, `.bpfpm/pending.json`: written just before the tree switch (the
 * commit point of an install) and removed once bpfpm.lock and package.json are rewritten.
 * If the process dies in between, {@linkcode recoverProject} sees the journal and the
 * switched tree and rolls the two files forward; if the switch never happened, it drops
 * the journal.
 */
export const JOURNAL = "pending.json";

/** What the journal holds. */
export interface Journal {
  /** The tree (a name under `.bpfpm/trees/`) the install switches to. */
  tree: string;
  /** The lockfile that tree realises. */
  lock: Lockfile;
  /** package.json's dependencies at that point. */
  dependencies: Record<string, string>;
}

/**
 * Writes the journal before the switch.
 *
 * @example
 * ```ts
 * import { writeJournal } from "./project.ts";
 * writeJournal("/tmp/p", { tree: "t1", lock: { lockfileVersion: 1, root: { dependencies: {} }, packages: {} }, dependencies: {} });
 * ```
 */
export function writeJournal(projectDir: string, journal: Journal): void {
  const path = join(projectDir, STATE_DIR, JOURNAL);
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, stableStringify(journal));
  Deno.renameSync(tmp, path);
}

/**
 * Removes the journal once the install is complete.
 *
 * @example
 * ```ts
 * import { clearJournal } from "./project.ts";
 * clearJournal("/tmp/p");
 * ```
 */
export function clearJournal(projectDir: string): void {
  removeIfThere(join(projectDir, STATE_DIR, JOURNAL));
}

/**
 * Finishes or discards an install that was interrupted around its tree switch.
 *
 * @returns whether bpfpm.lock and package.json were rolled forward
 *
 * @example
 * ```ts
 * import { recoverProject } from "./project.ts";
 * recoverProject(Deno.cwd());
 * ```
 */
export function recoverProject(projectDir: string): boolean {
  const path = join(projectDir, STATE_DIR, JOURNAL);
  if (!exists(path)) return false;
  let journal: Journal;
  try {
    journal = JSON.parse(Deno.readTextFileSync(path));
  } catch {
    clearJournal(projectDir);
    return false;
  }
  if (currentTree(projectDir) !== journal.tree) {
    clearJournal(projectDir);
    return false;
  }
  const lockPath = join(projectDir, LOCKFILE);
  const lockText = exists(lockPath) ? Deno.readTextFileSync(lockPath) : "";
  if (lockText !== stableStringify(journal.lock)) {
    writeLockfile(projectDir, journal.lock);
  }
  const { manifest } = readProjectManifest(projectDir);
  if (
    stableStringify(manifest.dependencies ?? {}) !==
      stableStringify(journal.dependencies)
  ) {
    manifest.dependencies = journal.dependencies;
    writeProjectManifest(projectDir, manifest);
  }
  clearJournal(projectDir);
  return true;
}

/**
 * {@linkcode recoverProject} for readers (list, verify): only when a journal is left and no
 * install holds the project lock, so a running install's journal is never touched.
 *
 * @returns whether anything was rolled forward
 *
 * @example
 * ```ts
 * import { recoverIfIdle } from "./project.ts";
 * recoverIfIdle(Deno.cwd());
 * ```
 */
export function recoverIfIdle(projectDir: string): boolean {
  if (!exists(join(projectDir, STATE_DIR, JOURNAL))) return false;
  let release: () => void;
  try {
    release = lockProject(projectDir);
  } catch (e) {
    if ((e as ClientError).code === "EBUSY") return false;
    throw e;
  }
  try {
    return recoverProject(projectDir);
  } finally {
    release();
  }
}

/** A project's package.json, with the parts bpfpm reads. */
export interface ProjectManifest {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * Reads the project's package.json, or a new one when there is none.
 *
 * @example
 * ```ts
 * import { readProjectManifest } from "./project.ts";
 * console.log(readProjectManifest(Deno.cwd()).manifest.dependencies);
 * ```
 */
export function readProjectManifest(
  dir: string,
): { manifest: ProjectManifest; text?: string } {
  const path = join(dir, "package.json");
  if (!exists(path)) {
    return {
      manifest: {
        name: basename(dir).toLowerCase().replace(/[^a-z0-9._-]/g, "-"),
        private: true,
      },
    };
  }
  const text = Deno.readTextFileSync(path);
  try {
    return { manifest: JSON.parse(text), text };
  } catch (cause) {
    throw new ClientError(
      "EMANIFEST",
      `${path} is not valid JSON; fix it and retry`,
      { cause },
    );
  }
}

/**
 * Writes package.json atomically, keeping the original's indentation style (2 spaces).
 *
 * @example
 * ```ts
 * import { readProjectManifest, writeProjectManifest } from "./project.ts";
 * const { manifest } = readProjectManifest("/tmp/p");
 * writeProjectManifest("/tmp/p", { ...manifest, dependencies: {} });
 * ```
 */
export function writeProjectManifest(
  dir: string,
  manifest: ProjectManifest,
): void {
  const path = join(dir, "package.json");
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify(manifest, null, 2) + "\n");
  Deno.renameSync(tmp, path);
}

/**
 * Where an install path (`bpf_modules/a/bpf_modules/b`) lives inside a tree directory.
 *
 * @example
 * ```ts
 * import { inTree } from "./project.ts";
 * inTree("/p/.bpfpm/trees/t1", "bpf_modules/a/bpf_modules/b"); // "/p/.bpfpm/trees/t1/a/bpf_modules/b"
 * ```
 */
export function inTree(tree: string, lockPath: string): string {
  return join(tree, lockPath.slice(MODULES_DIR.length + 1));
}

/**
 * Makes `tree` the project's `bpf_modules` in one rename(2) of a symlink, so a reader (or
 * an interrupted install) sees either the whole old tree or the whole new one; then
 * removes trees no longer referenced.
 *
 * @example
 * ```ts
 * import { newTree, swapTree } from "./project.ts";
 * swapTree("/tmp/p", newTree("/tmp/p"));
 * ```
 */
export function swapTree(projectDir: string, tree: string): void {
  const link = join(projectDir, MODULES_DIR);
  const state = join(projectDir, STATE_DIR);
  const rel = join(STATE_DIR, "trees", basename(tree));
  const st = lstatOrUndefined(link);
  if (st && !st.isSymlink) {
    // A plain directory from an older layout: move it aside so the swap stays one rename.
    Deno.renameSync(link, join(state, "trees", `previous-${Date.now()}`));
  }
  const tmp = join(state, `link-${Deno.pid}-${Date.now()}`);
  Deno.symlinkSync(rel, tmp);
  Deno.renameSync(tmp, link);
  collectGarbage(projectDir);
}

/**
 * The tree `bpf_modules` points at, if any.
 *
 * @example
 * ```ts
 * import { currentTree } from "./project.ts";
 * currentTree("/tmp/p"); // "t…" or undefined
 * ```
 */
export function currentTree(projectDir: string): string | undefined {
  try {
    return basename(Deno.readLinkSync(join(projectDir, MODULES_DIR)));
  } catch {
    return undefined;
  }
}

/**
 * Removes trees and staging dirs other than the current one (leftovers of interrupted installs).
 *
 * @example
 * ```ts
 * import { collectGarbage } from "./project.ts";
 * collectGarbage("/tmp/p");
 * ```
 */
export function collectGarbage(projectDir: string): void {
  const trees = join(projectDir, STATE_DIR, "trees");
  const keep = currentTree(projectDir);
  for (const name of namesIn(trees)) {
    if (name !== keep) removeIfThere(join(trees, name), { recursive: true });
  }
  const state = join(projectDir, STATE_DIR);
  for (const name of namesIn(state)) {
    if (name.startsWith("link-")) removeIfThere(join(state, name));
  }
}

/**
 * Takes the project's install lock (`.bpfpm/install.lock`, holding the owner's pid) so two
 * installs never build and switch trees in one project at once; a lock left by a process
 * that died is taken over. Returns the function that releases it.
 *
 * @example
 * ```ts
 * import { lockProject } from "./project.ts";
 * const release = lockProject("/tmp/p");
 * release();
 * ```
 */
export function lockProject(projectDir: string): () => void {
  const state = join(projectDir, STATE_DIR);
  Deno.mkdirSync(state, { recursive: true });
  const path = join(state, "install.lock");
  for (let attempt = 0;; attempt++) {
    try {
      Deno.writeTextFileSync(path, String(Deno.pid), { createNew: true });
      return () => {
        removeIfThere(path);
        // Leave no empty .bpfpm behind when the install stopped before building anything.
        try {
          Deno.removeSync(state);
        } catch { /* not empty */ }
      };
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST" || attempt > 0) {
        throw new ClientError(
          "EBUSY",
          `Another bpfpm install is running in ${projectDir} (lock ${path}); wait for it to finish`,
          { cause: e },
        );
      }
      let owner = 0;
      try {
        owner = Number(Deno.readTextFileSync(path).trim());
      } catch { /* removed meanwhile */ }
      if (owner && owner !== Deno.pid && exists(`/proc/${owner}`)) {
        throw new ClientError(
          "EBUSY",
          `Another bpfpm install (pid ${owner}) is running in ${projectDir}; wait for it to finish`,
        );
      }
      // The owner died (killed mid-install): take the lock over.
      removeIfThere(path);
    }
  }
}

/** Trees made by this process so far: part of each new tree's name. */
let treeSerial = 0;

/**
 * A new, empty staging tree directory under `.bpfpm/trees/`.
 *
 * @example
 * ```ts
 * import { newTree } from "./project.ts";
 * const staging = newTree("/tmp/p");
 * ```
 */
export function newTree(projectDir: string): string {
  const trees = join(projectDir, STATE_DIR, "trees");
  Deno.mkdirSync(trees, { recursive: true });
  // The leaf is made without `recursive`, so two trees made in the same millisecond
  // (by this process or another) can never be the same directory.
  for (;;) {
    const dir = join(
      trees,
      `t${Date.now().toString(36)}-${Deno.pid}-${(treeSerial++).toString(36)}`,
    );
    try {
      Deno.mkdirSync(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/**
 * The project a command in `start` works on: the nearest directory, from `start` up, with
 * a bpfpm.lock, a bpf_modules or a package.json (as npm finds its project from a
 * subdirectory); `start` itself when there is none.
 *
 * @example
 * ```ts
 * import { findProjectDir } from "./project.ts";
 * findProjectDir("/srv/probes/src/deep"); // "/srv/probes" when it has bpfpm.lock
 * ```
 */
export function findProjectDir(start: string): string {
  for (let dir = resolve(start);; dir = dirname(dir)) {
    for (const marker of [LOCKFILE, MODULES_DIR, "package.json"]) {
      if (exists(join(dir, marker))) return dir;
    }
    if (dirname(dir) === dir) return resolve(start);
  }
}

/** The record of approved grants: `.bpfpm/approved.json`. */
export const APPROVALS = "approved.json";

/**
 * A digest of what a package may do (its grants and Deno flags): an approval holds while
 * the digest is unchanged. Web Crypto's, so `bpfpm run` loads no `node:crypto`.
 *
 * @returns the hex sha256 of the grants and flags, stably serialised
 *
 * @example
 * ```ts
 * import { grantsDigest } from "./project.ts";
 * (await grantsDigest({ grants: { helpers: [] }, deno: [] })).length; // 64
 * ```
 */
export async function grantsDigest(
  bpf: LockedBpf | undefined,
): Promise<string> {
  const text = stableStringify({
    grants: bpf?.grants ?? null,
    deno: bpf?.deno ?? [],
  });
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function readApprovals(projectDir: string): Record<string, string> {
  try {
    const j = JSON.parse(
      Deno.readTextFileSync(join(projectDir, STATE_DIR, APPROVALS)),
    );
    return j && typeof j === "object" && !Array.isArray(j) ? j : {};
  } catch {
    return {};
  }
}

/**
 * Records which locked packages' grants the user has approved, keyed by `name@version`
 * with the grants' digest. With `approvedNow`, every package in the lockfile is approved
 * (the user accepted this install's permissions, or passed --yes); otherwise earlier
 * approvals are kept only while their grants are unchanged.
 *
 * @example
 * ```ts
 * import { recordApprovals } from "./project.ts";
 * await recordApprovals("/tmp/p", { lockfileVersion: 1, root: { dependencies: {} }, packages: {} }, true);
 * ```
 */
export async function recordApprovals(
  projectDir: string,
  lock: Lockfile,
  approvedNow: boolean,
): Promise<void> {
  const before = readApprovals(projectDir);
  const after: Record<string, string> = {};
  for (const e of Object.values(lock.packages)) {
    if (!e.bpf) continue;
    const spec = `${e.name}@${e.version}`;
    const digest = await grantsDigest(e.bpf);
    if (approvedNow || before[spec] === digest) after[spec] = digest;
  }
  Deno.mkdirSync(join(projectDir, STATE_DIR), { recursive: true });
  const path = join(projectDir, STATE_DIR, APPROVALS);
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, stableStringify(after));
  Deno.renameSync(tmp, path);
}

/**
 * Whether the installed package `name` (a direct dependency) runs with grants the user
 * approved at install, so `bpfpm run` need not ask again.
 *
 * @example
 * ```ts
 * import { isApproved } from "./project.ts";
 * import { readLockfile } from "./lockfile.ts";
 * const lock = readLockfile("/tmp/p");
 * if (lock) console.log(await isApproved("/tmp/p", lock, "tcplife"));
 * ```
 */
export async function isApproved(
  projectDir: string,
  lock: Lockfile,
  name: string,
): Promise<boolean> {
  const e = lock.packages[`${MODULES_DIR}/${name}`];
  if (!e?.bpf) return false;
  return readApprovals(projectDir)[`${e.name}@${e.version}`] ===
    await grantsDigest(e.bpf);
}
