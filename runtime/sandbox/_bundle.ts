/**
 * The sandboxed child's `"bpf"` modules as one bundle (`deno bundle`, code-split across the
 * entry points so that `"bpf"`, `"bpf/maps"` and `"bpf/events"` share one copy of each class):
 * a package's process loads 4 modules instead of ~55, which takes about 9 ms less of its
 * start (measured: `import` of the bundle costs ~6 ms of CPU over an empty script, the
 * module graph ~15 ms).
 *
 * Built by the trusted side (root) into the sandbox's cache root, in a directory named by a
 * hash of its stamp: the Deno version and the path, mtime and size of every module the
 * bundle holds. A run stats those files (~60 `stat`s) and uses the bundle only when they are
 * unchanged, so an edited runtime is rebuilt (~0.3 s, once) and never served stale. What the
 * child runs is not trusted anyway: a wrong bundle could only break the package's own run.
 *
 * @module
 */
import { dirname, fromFileUrl, join, relative, toFileUrl } from "../_path.ts";
import { evaluatedModules } from "../_module_graph.ts";
import { nameHash } from "../_name_hash.ts";

/** The repository (or installed copy) root the child's modules come from. */
const ROOT = fromFileUrl(new URL("../../", import.meta.url));

/**
 * The modules a package may import as `"bpf"` (the forwarding API, `childMod`) and each
 * `"bpf/..."` entry of the repository's deno.json, as absolute paths.
 *
 * @param childMod the forwarding API's module (runtime/sandbox/child_mod.ts)
 * @returns import name → file
 *
 * @example
 * ```ts ignore
 * import { childEntries } from "./_bundle.ts";
 * console.log(childEntries("/repo/runtime/sandbox/child_mod.ts").get("bpf/maps"));
 * ```
 */
export function childEntries(childMod: string): Map<string, string> {
  const config = JSON.parse(
    Deno.readTextFileSync(join(ROOT, "deno.json")),
  ) as { imports?: Record<string, string> };
  const out = new Map<string, string>([["bpf", childMod]]);
  for (const [k, v] of Object.entries(config.imports ?? {})) {
    if (k.startsWith("bpf/")) out.set(k, join(ROOT, v));
  }
  return out;
}

/** What a bundle was built from: one line per module, and the Deno version. */
function stampOf(files: readonly string[]): string | undefined {
  const lines = [`deno ${Deno.version.deno}`];
  for (const f of files) {
    try {
      const st = Deno.statSync(f);
      lines.push(`${f} ${st.mtime?.getTime()} ${st.size}`);
    } catch {
      return undefined;
    }
  }
  return lines.join("\n");
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** The local modules `entry` loads when evaluated; undefined if it imports any lazily. */
function moduleFiles(entryFile: string): string[] | undefined {
  let lazy = false;
  const graph = evaluatedModules([toFileUrl(entryFile).href], {
    flags: ["--no-config", "--no-lock"],
    // A lazily imported module would load from the repository, outside the bundle.
    dynamic: () => (lazy = true, false),
  });
  if (!graph || lazy) return undefined;
  const specifiers = [...graph.keys()];
  if (!specifiers.every((s) => s.startsWith("file:"))) return undefined;
  return specifiers.map(fromFileUrl);
}

/** The import map entries of a built bundle in `dir`, when every output is there. */
function importsIn(
  dir: string,
  names: Map<string, string>,
): Record<string, string> | undefined {
  const base = commonDir([...names.values()]);
  const imports: Record<string, string> = {};
  for (const [name, entry] of names) {
    const out = join(dir, relative(base, entry).replace(/\.ts$/, ".js"));
    try {
      Deno.statSync(out);
    } catch {
      return undefined;
    }
    imports[name] = toFileUrl(out).href;
  }
  return imports;
}

/** The deepest directory holding every path (esbuild's output base). */
function commonDir(paths: string[]): string {
  let dir = dirname(paths[0]);
  while (!paths.every((p) => p.startsWith(dir === "/" ? "/" : `${dir}/`))) {
    dir = dirname(dir);
  }
  return dir;
}

function chmodTree(dir: string): void {
  Deno.chmodSync(dir, 0o755);
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) chmodTree(p);
    else Deno.chmodSync(p, 0o644);
  }
}

function removeTree(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* gone, or another run's: only disk space depends on it */ }
}

/**
 * The child's import map as bundles in `cacheRoot` (built there when missing or stale), or
 * undefined when no bundle can be made (then the child loads the modules themselves).
 *
 * @param cacheRoot a directory only root writes and the child's user may search
 * @param names the entries, from {@linkcode childEntries}
 * @returns `"bpf"` and each `"bpf/..."` entry mapped to its bundle's URL
 *
 * @example
 * ```ts ignore
 * import { childBundle, childEntries } from "./_bundle.ts";
 * const names = childEntries("/repo/runtime/sandbox/child_mod.ts");
 * console.log(childBundle("/var/cache/bpfpm-sandbox", names)?.bpf);
 * ```
 */
export function childBundle(
  cacheRoot: string,
  names: Map<string, string>,
): Record<string, string> | undefined {
  const prefix = join(cacheRoot, `child-${nameHash(ROOT)}`);
  const listed = readText(`${prefix}.files`);
  if (listed) {
    const stamp = stampOf(JSON.parse(listed) as string[]);
    if (stamp) {
      const dir = `${prefix}-${nameHash(stamp)}`;
      if (readText(join(dir, "stamp")) === stamp) {
        const imports = importsIn(dir, names);
        if (imports) return imports;
      }
    }
  }
  return build(prefix, names);
}

function build(
  prefix: string,
  names: Map<string, string>,
): Record<string, string> | undefined {
  const tmp = Deno.makeTempDirSync({
    dir: dirname(prefix),
    prefix: `${prefix.slice(dirname(prefix).length + 1)}-tmp-`,
  });
  try {
    // One graph for every entry: a module listing them all.
    const all = join(tmp, "entries.ts");
    Deno.writeTextFileSync(
      all,
      [...names.values()].map((f) =>
        `import ${JSON.stringify(toFileUrl(f).href)};\n`
      )
        .join(""),
    );
    const files = moduleFiles(all)?.filter((f) => f !== all);
    Deno.removeSync(all);
    const out = join(tmp, "out");
    const bundled = new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--no-config",
        "--no-lock",
        "--keep-names",
        "--code-splitting",
        "--outdir",
        out,
        ...names.values(),
      ],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    const stamp = files && stampOf(files);
    if (!bundled.success || !stamp) return undefined;
    Deno.writeTextFileSync(join(out, "stamp"), stamp);
    chmodTree(out);
    const dir = `${prefix}-${nameHash(stamp)}`;
    try {
      Deno.renameSync(out, dir);
    } catch {
      // Another run built the same bundle first (theirs is as good), or a broken one is there.
      if (readText(join(dir, "stamp")) !== stamp) {
        removeTree(dir);
        Deno.renameSync(out, dir);
      }
    }
    const list = `${prefix}.files.${Deno.pid}`;
    Deno.writeTextFileSync(list, JSON.stringify(files), { mode: 0o644 });
    Deno.renameSync(list, `${prefix}.files`);
    pruneOld(prefix, dir);
    return readText(join(dir, "stamp")) === stamp
      ? importsIn(dir, names)
      : undefined;
  } catch {
    return undefined;
  } finally {
    removeTree(tmp);
  }
}

/**
 * Bundles of this root built from older sources, an hour after they were replaced, and
 * every bundle of a bpfpm whose modules are gone (a removed checkout or CI clone).
 */
function pruneOld(prefix: string, keep: string): void {
  const parent = dirname(prefix);
  const name = prefix.slice(parent.length + 1);
  const hourAgo = Date.now() - 3600_000;
  const entries = [...Deno.readDirSync(parent)];
  const gone = new Set<string>();
  for (const e of entries) {
    const m = /^(child-[0-9a-z]+)\.files$/.exec(e.name);
    if (!m || m[1] === name) continue;
    let files: unknown;
    try {
      files = JSON.parse(Deno.readTextFileSync(join(parent, e.name)));
    } catch {
      continue; // being written, or not ours: left alone
    }
    const first = Array.isArray(files) ? files[0] : undefined;
    if (typeof first !== "string") continue;
    try {
      Deno.statSync(first);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) gone.add(m[1]);
    }
  }
  for (const e of entries) {
    const p = join(parent, e.name);
    const root = /^(child-[0-9a-z]+)(?:-|\.files$)/.exec(e.name)?.[1];
    if (root && gone.has(root)) {
      removeTree(p);
      continue;
    }
    if (!e.isDirectory || p === keep || !e.name.startsWith(`${name}-`)) {
      continue;
    }
    try {
      if ((Deno.statSync(p).mtime?.getTime() ?? 0) < hourAgo) removeTree(p);
    } catch { /* gone */ }
  }
}
