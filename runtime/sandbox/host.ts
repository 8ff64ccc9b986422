/**
 * Starts a package's code in a sandboxed child and serves it: a private directory (0711)
 * holding the channel's FIFOs (owned by the child's uid, 0600) and the package's files;
 * the child runs Deno as `nobody` with no capabilities and `no_new_privs` (setpriv), no FFI,
 * no subprocesses, no remote modules, no environment but the channel's path, and read
 * access to its package directory only, plus what its manifest declares. The trusted side
 * (this process) serves its requests; when the child ends, everything it loaded is
 * unloaded; when this process dies, the kernel kills the child (parent-death signal) and
 * frees every object.
 *
 * The child is started held: its `--preload` (child_gate.ts) opens the channel, which
 * blocks until the session opens it, and Deno reads the package's entry only after the
 * preload has run. So the child's Deno start (tens of ms) runs while this side does what
 * must come before the package's first line (`SandboxRun.admit`: the kernel check, the
 * integrity check, the user's consent) and loads its runtime; a refusal kills a child that
 * has read none of the package's code.
 *
 * @module
 */
import { basename, dirname, fromFileUrl, join, toFileUrl } from "../_path.ts";
import { fileHolds, lstatOrUndefined, removeIfThere } from "../_fs.ts";
import { nameHash } from "../_name_hash.ts";
import type { Grants } from "../policy/grants.ts";
import type { BPF } from "../bpf.ts";
import type { SandboxSession } from "./server.ts";
import { makeFifos } from "./_pipe.ts";
import { childBundle, childEntries } from "./_bundle.ts";
import { interrupted } from "../lifecycle.ts";
import { importLater } from "../_import_later.ts";

/** The unprivileged user a package runs as, where this process may switch to it. */
export const SANDBOX_UID = 65534;
/** Its group. */
export const SANDBOX_GID = 65534;

const CHILD_MOD = fromFileUrl(new URL("./child_mod.ts", import.meta.url));
const CHILD_GATE = fromFileUrl(new URL("./child_gate.ts", import.meta.url));
/** The gate's entry in the bundle (not an import a package can name: it has no `bpf`). */
const GATE = "#gate";
const PREFIX = "bpfpm-sandbox-";
/**
 * Root-owned and 0711, so the unprivileged user reaches its own Deno cache below it (and
 * nothing else: the compile cache's /var/cache/bpfpm stays 0700).
 */
const SANDBOX_CACHE_ROOT = "/var/cache/bpfpm-sandbox";

/**
 * The child's import map and its preload: `"bpf"` is the forwarding API; the other `bpf/...`
 * entry points are the repository's own (deno.json), whose kernel calls go through the same
 * seams; the gate holds the child until the session opens. As one bundle where this process
 * can build it in the sandbox's cache root (sandbox/_bundle.ts says why), else the modules
 * themselves.
 */
function childImports(
  root0: boolean,
): { imports: Record<string, string>; gate: string; bundled: boolean } {
  const names = childEntries(CHILD_MOD).set(GATE, CHILD_GATE);
  const bundle = root0 && sandboxCacheRoot()
    ? childBundle(SANDBOX_CACHE_ROOT, names)
    : undefined;
  const imports = bundle ??
    Object.fromEntries([...names].map(([k, f]) => [k, toFileUrl(f).href]));
  const gate = fromFileUrl(imports[GATE]);
  delete imports[GATE];
  return { imports, gate, bundled: bundle !== undefined };
}

/** A package to run in the sandbox. */
export interface SandboxRun {
  /** `name@version`, for messages. */
  spec: string;
  /** The package name (its pin directory). */
  name: string;
  /** The package directory, run in place; or `files` instead (given here or by `admit`). */
  packageDir?: string;
  /** The package's files (relative path to bytes), verified by the caller. */
  files?: Map<string, Uint8Array>;
  /**
   * What names the files' content (an installed package's locked integrity): the same key
   * always holds the same files. With it, where the sandbox's cache root is usable, the files
   * are kept there between runs (`keptFilesDir`) instead of copied for each run, so that the
   * compile cache and Deno's module cache, both keyed by path, serve the next run.
   */
  filesKey?: string;
  /**
   * Called once the child is started and held (before Deno has read any of the package's
   * modules): what must pass before the package runs (checks, the user's consent), and what
   * takes that long to know (verified files, named pins). A throw stops the child, which
   * then has run nothing of the package, and is rethrown.
   */
  admit?: () => Promise<
    Partial<Pick<SandboxRun, "files" | "userPins">> | void
  >;
  /** The entry, relative to the package directory. */
  entry: string;
  /** The entry's arguments. */
  args: string[];
  /** The grants the trusted side enforces. */
  grants: Grants;
  /** The extra Deno flags the package declared (validated by the manifest rules). */
  deno: readonly string[];
  /** Pins the user named on the command line, as typed → resolved (SessionPolicy.userPins). */
  userPins?: ReadonlyMap<string, string>;
  /** The child's stdio (default inherit). */
  stdio?: "inherit" | "piped";
  /** Called once the child is started (tests read its pid). */
  onStart?: (child: Deno.ChildProcess) => void;
  /** Called with each object the package loads (the trusted side's own `BPF`). */
  onObject?: (object: BPF) => void;
  /** Called with the session serving the package (its `eventStats()`, for an agent). */
  onSession?: (session: SandboxSession) => void;
}

/** How a sandboxed run ended. */
export interface SandboxResult {
  /** The exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that ended the child, if one did. */
  signal?: Deno.Signal;
  /** Why the trusted side stopped the package, when it did. */
  violation?: string;
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}

/** Removes private directories of runs whose trusted process died without cleaning up. */
function sweepStale(root: string): void {
  let names: string[];
  try {
    names = [...Deno.readDirSync(root)].map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^bpfpm-sandbox-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === Deno.pid || alive(Number(m[1]))) continue;
    removeIfThere(join(root, name), { recursive: true });
  }
}

/** `$TMPDIR`, or /tmp (node:os's tmpdir without its Node layer). */
function tmpdir(): string {
  let dir: string | undefined;
  try {
    dir = Deno.env.get("TMPDIR");
  } catch { /* not readable: the default */ }
  return dir && dir.length > 1 ? dir.replace(/\/+$/, "") : "/tmp";
}

/** Whether `uid` (as "other") can read `dir`: every ancestor searchable, the dir readable. */
function othersCanRead(dir: string): boolean {
  let p = dir;
  try {
    if (((Deno.statSync(p).mode ?? 0) & 0o005) !== 0o005) return false;
    while (p !== "/") {
      p = dirname(p);
      if (((Deno.statSync(p).mode ?? 0) & 0o001) === 0) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Declared flags merged with the sandbox's own (Deno keeps only one of each flag). */
function childFlags(
  declared: readonly string[],
  own: { read: string[]; write: string[]; env: string[] },
): string[] {
  const lists = new Map<string, string[]>([
    ["--allow-read", [...own.read]],
    ["--allow-write", [...own.write]],
    ["--allow-env", [...own.env]],
  ]);
  const bare: string[] = [];
  for (const f of declared) {
    const eq = f.indexOf("=");
    if (eq < 0) {
      bare.push(f);
      continue;
    }
    const name = f.slice(0, eq);
    const list = lists.get(name) ?? [];
    list.push(...f.slice(eq + 1).split(",").filter(Boolean));
    lists.set(name, list);
  }
  return [
    ...bare,
    ...[...lists].filter(([, v]) => v.length).map(([k, v]) =>
      `${k}=${[...new Set(v)].join(",")}`
    ),
  ];
}

/** Where `sandboxDenoDir` keeps a package's Deno cache for the child's `uid`. */
function packageCacheDir(name: string, uid: number): string {
  return join(SANDBOX_CACHE_ROOT, `${uid}-${encodeURIComponent(name)}`);
}

/**
 * The Deno caches the sandbox may keep for a package (one per user its child can run as),
 * for whoever removes them (a test whose packages have names unique to it).
 *
 * @param name the package name
 * @returns the directories, present or not
 *
 * @example
 * ```ts
 * import { packageCacheDirs } from "./host.ts";
 * for (const d of packageCacheDirs("demo")) console.log(d);
 * ```
 */
export function packageCacheDirs(name: string): string[] {
  return [
    packageCacheDir(name, 0),
    packageCacheDir(name, SANDBOX_UID),
    keptFilesParent(name),
  ];
}

/**
 * A package's Deno cache (transpiled modules, V8 code cache), kept across its runs:
 * `<SANDBOX_CACHE_ROOT>/<uid>-<name>`, 0700 and owned by the user the child runs as (nobody,
 * or root without capabilities when nobody cannot read the package), directly below
 * a root-owned 0711 directory (so nothing the user controls lies on the path this process
 * creates and chowns). One per package: a package's runs cannot plant code in another's
 * cache. Undefined (the run gets a fresh cache in its private directory) when either is not
 * as expected.
 */
function sandboxDenoDir(name: string, uid: number): string | undefined {
  const gid = uid === SANDBOX_UID ? SANDBOX_GID : uid;
  const dir = packageCacheDir(name, uid);
  if (dirname(dir) !== SANDBOX_CACHE_ROOT || basename(dir).length > 255) {
    return undefined;
  }
  try {
    if (!sandboxCacheRoot()) return undefined;
    if (!lstatOrUndefined(dir)) {
      Deno.mkdirSync(dir, { mode: 0o700 });
      Deno.chownSync(dir, uid, gid);
    }
    return isDir(dir, uid, 0o700) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `path` is a directory (not a link) of `uid` with exactly `mode`. */
function isDir(path: string, uid: number, mode: number): boolean {
  const st = lstatOrUndefined(path);
  return !!st?.isDirectory && st.uid === uid &&
    ((st.mode ?? 0) & 0o777) === mode;
}

/** Makes SANDBOX_CACHE_ROOT where missing; whether it is root's and 0711. */
function sandboxCacheRoot(): boolean {
  try {
    if (!lstatOrUndefined(SANDBOX_CACHE_ROOT)) {
      Deno.mkdirSync(SANDBOX_CACHE_ROOT, { recursive: true });
      Deno.chmodSync(SANDBOX_CACHE_ROOT, 0o711);
    }
    return isDir(SANDBOX_CACHE_ROOT, 0, 0o711);
  } catch {
    return false;
  }
}

/** `rm -rf path` as the unprivileged user (the tree is theirs: root does not walk it). */
async function removeAsSandboxUser(path: string): Promise<void> {
  try {
    await new Deno.Command("setpriv", {
      args: [
        `--reuid=${SANDBOX_UID}`,
        `--regid=${SANDBOX_GID}`,
        "--clear-groups",
        "--no-new-privs",
        "--",
        "rm",
        "-rf",
        "--",
        path,
      ],
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
  } catch { /* only disk space depends on it */ }
}

/** Where a package's kept files live, one directory per files key (root's, 0755). */
function keptFilesParent(name: string): string {
  return join(SANDBOX_CACHE_ROOT, `files-${encodeURIComponent(name)}`);
}

/**
 * The directory that keeps a package's verified files between runs: below the sandbox's
 * root-owned cache root, in a root-owned 0755 directory of the package, named by a hash of
 * the files key. Only root writes there (the child reads it as nobody, and neither the
 * package nor any other user can change what a later run reads), and the files are compared
 * with the verified ones on every run (`keepFiles`). Undefined where the cache root is not
 * root's, or the parent is not as expected: the run then gets a copy of its own.
 */
function keptFilesDir(name: string, key: string): string | undefined {
  const parent = keptFilesParent(name);
  if (basename(parent).length > 255 || !sandboxCacheRoot()) return undefined;
  try {
    if (!lstatOrUndefined(parent)) {
      Deno.mkdirSync(parent, { mode: 0o755 });
      Deno.chmodSync(parent, 0o755);
    }
  } catch {
    return undefined;
  }
  const dir = join(parent, nameHash(key));
  return isDir(parent, 0, 0o755) &&
      (!lstatOrUndefined(dir) || isDir(dir, 0, 0o755))
    ? dir
    : undefined;
}

/** How long a kept copy no run has used stays (other versions of the package). */
const KEPT_UNUSED_MS = 30 * 24 * 3600_000;
/** How many kept copies of a package stay: the one in use and the most recently used... */
const KEPT_COPIES = 3;
/** ...when the others have not been used for this long (a rollout runs two versions). */
const KEPT_EXTRA_MS = 3600_000;

/**
 * Marks the kept copy `dir` used now, and removes its package's other copies unused for
 * KEPT_UNUSED_MS, or beyond the KEPT_COPIES most recently used and unused for
 * KEPT_EXTRA_MS.
 */
function pruneKept(dir: string): void {
  const parent = dirname(dir);
  const now = new Date();
  try {
    if (lstatOrUndefined(dir)) Deno.utimeSync(dir, now, now);
    const others = [...Deno.readDirSync(parent)]
      .map((e) => join(parent, e.name))
      .filter((p) => p !== dir)
      .map((p) => ({ p, used: lstatOrUndefined(p)?.mtime?.getTime() ?? 0 }))
      .sort((a, b) => b.used - a.used);
    for (const [i, { p, used }] of others.entries()) {
      const idle = now.getTime() - used;
      if (
        idle > KEPT_UNUSED_MS || (i >= KEPT_COPIES - 1 && idle > KEPT_EXTRA_MS)
      ) {
        removeIfThere(p, { recursive: true });
      }
    }
  } catch { /* only disk space depends on it */ }
}

/**
 * Makes the kept copy `dir` hold the verified `files`: each file that is missing or differs
 * is written next to its place and renamed over it, so a run never reads a half-written file
 * (and two first runs writing the same bytes cannot break each other).
 */
function keepFiles(dir: string, files: Map<string, Uint8Array>): void {
  for (const [rel, data] of files) {
    const path = join(dir, rel);
    if (fileHolds(path, data)) continue;
    const tmp = `${path}.tmp-${Deno.pid}`;
    writeFiles(dir, new Map([[`${rel}.tmp-${Deno.pid}`, data]]));
    Deno.renameSync(tmp, path);
  }
}

/** Writes `files` below `root`: directories 0755, files 0644, whatever the umask. */
function writeFiles(root: string, files: Map<string, Uint8Array>): void {
  const mkdir = (d: string) => {
    if (lstatOrUndefined(d)) return;
    mkdir(dirname(d));
    Deno.mkdirSync(d, { mode: 0o755 });
    Deno.chmodSync(d, 0o755);
  };
  mkdir(root);
  for (const [rel, data] of files) {
    const path = join(root, rel);
    if (!path.startsWith(root + "/")) {
      throw new RangeError(`A package file path ${rel} leaves its directory`);
    }
    mkdir(dirname(path));
    Deno.writeFileSync(path, data, { mode: 0o644 });
    Deno.chmodSync(path, 0o644);
  }
}

function mkfifo(paths: string[]): void {
  if (makeFifos(paths)) return;
  const out = new Deno.Command("mkfifo", { args: ["-m", "600", ...paths] })
    .outputSync();
  if (!out.success) {
    throw new Error(
      `Cannot make the sandbox channel (mkfifo: ${
        new TextDecoder().decode(out.stderr).trim()
      }): check that ${tmpdir()} is writable`,
    );
  }
}

/**
 * Runs a package's entry in a sandboxed child and serves its requests until it exits.
 *
 * @param run the package and its grants
 * @returns how it ended
 *
 * @example
 * ```ts
 * import { runSandboxed } from "./host.ts";
 * const r = await runSandboxed({
 *   spec: "demo@1.0.0", name: "demo", packageDir: "/path/to/demo", entry: "mod.ts",
 *   args: [], grants: { attach: [{ kind: "tracepoint" }] }, deno: [],
 * });
 * Deno.exitCode = r.code;
 * ```
 */
export async function runSandboxed(run: SandboxRun): Promise<SandboxResult> {
  // The trusted side's runtime loads while the child starts (both take tens of ms): a
  // computed specifier, so that Deno reads its graph now and not before this module runs.
  const server = importLater<typeof import("./server.ts")>(
    new URL("./server.ts", import.meta.url),
  );
  server.catch(() => {});
  const root = tmpdir();
  const dir = Deno.makeTempDirSync({
    dir: root,
    prefix: `${PREFIX}${Deno.pid}-`,
  });
  let child: Deno.ChildProcess | undefined;
  let session: SandboxSession | undefined;
  let forget: string | undefined;
  try {
    Deno.chmodSync(dir, 0o711);
    const root0 = Deno.uid() === 0;
    const fifos = ["req", "sync", "async"].map((n) => join(dir, n));
    mkfifo(fifos);
    // An installed package's files are written once admitted: kept between runs where they
    // can be (keptFilesDir), else in this run's private directory.
    const kept = !run.packageDir && run.filesKey && root0
      ? keptFilesDir(run.name, run.filesKey)
      : undefined;
    const packageDir = run.packageDir ?? kept ?? join(dir, "pkg");
    if (!run.packageDir && !lstatOrUndefined(packageDir)) {
      Deno.mkdirSync(packageDir, { mode: 0o755 });
      Deno.chmodSync(packageDir, 0o755);
    }
    const { imports, gate, bundled } = childImports(root0);
    // Drop to nobody where this process may, and where nobody can read the package (a kept
    // copy or a private one is made 0755 above) and the `"bpf"` modules (the bundle is; the
    // runtime's own modules, where no bundle could be made, need not be: an installed
    // bpfpm under a private prefix and a fresh HOME, as in tests/client/global_test.ts).
    const drop = root0 && othersCanRead(packageDir) &&
      (bundled || othersCanRead(dirname(dirname(CHILD_MOD))));
    if (drop) {
      for (const f of fifos) Deno.chownSync(f, SANDBOX_UID, SANDBOX_GID);
    }
    const importMap = join(dir, "import_map.json");
    Deno.writeTextFileSync(importMap, JSON.stringify({ imports }), {
      mode: 0o644,
    });
    // Deno's module cache, kept per package and user across runs (a fresh one would
    // transpile the runtime on every start).
    let denoDir = root0
      ? sandboxDenoDir(run.name, drop ? SANDBOX_UID : 0)
      : undefined;
    // What Deno caches of files in the private directory (an installed package's) is of no
    // use to a later run: removed after this one, as the user who wrote it.
    if (denoDir && !run.packageDir && !kept) {
      forget = join(denoDir, "gen", "file", dir);
    }
    if (!denoDir) {
      denoDir = join(dir, "deno");
      Deno.mkdirSync(denoDir, { mode: 0o700 });
      if (drop) Deno.chownSync(denoDir, SANDBOX_UID, SANDBOX_GID);
    }
    const flags = childFlags(run.deno, {
      read: [packageDir, fifos[1], fifos[2]],
      write: [fifos[0]],
      env: ["BPFPM_SANDBOX"],
    });
    const denoArgs = [
      "run",
      "--no-prompt",
      "--no-config",
      "--no-lock",
      "--no-remote",
      `--import-map=${importMap}`,
      `--preload=${gate}`,
      ...flags,
      join(packageDir, run.entry),
      ...run.args,
    ];
    const setpriv = drop
      ? [
        `--reuid=${SANDBOX_UID}`,
        `--regid=${SANDBOX_GID}`,
        "--clear-groups",
      ]
      : [];
    const env: Record<string, string> = {
      BPFPM_SANDBOX: dir,
      DENO_DIR: denoDir,
      DENO_NO_UPDATE_CHECK: "1",
    };
    for (const k of ["NO_COLOR", "TERM", "LANG", "TZ"]) {
      const v = Deno.env.get(k);
      if (v !== undefined) env[k] = v;
    }
    child = new Deno.Command("setpriv", {
      args: [
        ...setpriv,
        "--no-new-privs",
        "--inh-caps=-all",
        "--ambient-caps=-all",
        "--bounding-set=-all",
        "--pdeathsig=KILL",
        "--",
        Deno.execPath(),
        ...denoArgs,
      ],
      clearEnv: true,
      env,
      cwd: packageDir,
      stdin: run.stdio === "piped" ? "null" : "inherit",
      stdout: run.stdio ?? "inherit",
      stderr: run.stdio ?? "inherit",
    }).spawn();
    run.onStart?.(child);
    // The child is held in its preload until the session opens the channel (below).
    const admitted = { ...run, ...await run.admit?.() };
    if (!run.packageDir) {
      if (!admitted.files) {
        throw new TypeError("runSandboxed needs packageDir or files");
      }
      if (kept) keepFiles(kept, admitted.files);
      else writeFiles(packageDir, admitted.files);
    }
    // Dead runs' directories and unused kept copies go once the child is on its way (its
    // start is the longer).
    sweepStale(root);
    if (kept) pruneKept(kept);
    const { SandboxSession, warmUp, ProtocolError } = await server;
    session = new SandboxSession(dir, {
      name: run.name,
      grants: run.grants,
      packageDir,
      userPins: admitted.userPins,
      onObject: run.onObject,
    });
    run.onSession?.(session);
    // Not awaited: the package's first requests are served as they come.
    warmUp(Deno.realPathSync(packageDir));
    const serving = session.serve();
    // Ctrl-C and SIGTERM go to the package, which decides how to end; this side waits for
    // it (a second signal, as for any script, ends both).
    const forwarding = new AbortController();
    (async () => {
      for (;;) {
        const sig = await interrupted({ signal: forwarding.signal });
        try {
          child?.kill(sig);
        } catch { /* gone */ }
      }
    })().catch(() => {});
    let violation: string | undefined;
    serving.catch((error) => {
      violation = error instanceof ProtocolError
        ? `${run.spec} broke the sandbox protocol (${error.message}): it was stopped, and nothing it loaded remains`
        : `${run.spec}'s sandbox channel failed (${
          (error as Error).message
        }): it was stopped`;
      try {
        child?.kill("SIGKILL");
      } catch { /* gone */ }
    });
    try {
      const status = await child.status;
      child = undefined;
      const signal = status.signal ?? undefined;
      const code = violation
        ? 70
        : signal
        ? 128 + (Deno.build.os === "linux" ? signalNumber(signal) : 15)
        : status.code;
      return { code, signal, violation };
    } finally {
      forwarding.abort();
    }
  } finally {
    // Thrown before the child ended (the session could not start, or admit refused): it
    // must not wait on a channel nobody serves.
    try {
      child?.kill("SIGKILL");
    } catch { /* gone */ }
    await child?.status.catch(() => {});
    session?.close();
    removeIfThere(dir, { recursive: true });
    if (forget) await removeAsSandboxUser(forget);
  }
}

function signalNumber(signal: Deno.Signal): number {
  const n: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGTERM: 15,
    SIGABRT: 6,
  };
  return n[signal] ?? 15;
}
