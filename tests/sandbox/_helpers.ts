/**
 * Helpers of the sandbox tests: hostile packages written into a directory nobody (the
 * sandbox's uid) can read, run through the real `bpfpm run`, and the BPF programs they
 * managed to leave loaded (by a name unique to the test).
 *
 * @module
 */
import { join } from "node:path";
import { bpfpm } from "../client/_helpers.ts";
import { packageCacheDirs } from "../../runtime/sandbox/host.ts";

export { bpfpm };

/** A fresh directory tree the sandbox's uid can read (0755), removed on dispose. */
export async function world(): Promise<
  { root: string; env: Record<string, string> } & AsyncDisposable
> {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-sandbox-test-" });
  await Deno.chmod(root, 0o755);
  await Deno.mkdir(join(root, "project"));
  return {
    root,
    env: {
      BPFPM_CACHE_DIR: join(root, "cache"),
      BPFPM_CONFIG_DIR: join(root, "config"),
    },
    async [Symbol.asyncDispose]() {
      await forgetSandboxCaches(root);
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** The names of the packages `hostilePackage` wrote, by the world's root. */
const written = new Map<string, Set<string>>();

/**
 * Has the world at `root` remove the sandbox's Deno caches of package `name` when it is
 * disposed (`hostilePackage` does it for the packages it writes).
 */
export function forgetOnDispose(root: string, name: string): void {
  let names = written.get(root);
  if (!names) written.set(root, names = new Set());
  names.add(name);
}

/**
 * Removes the sandbox's Deno caches of the packages written under `root`: the tests'
 * packages have names unique to a run, so their caches would otherwise pile up in
 * /var/cache (about 3.5 MB each).
 */
async function forgetSandboxCaches(root: string): Promise<void> {
  for (const name of written.get(root) ?? []) {
    for (const dir of packageCacheDirs(name)) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  written.delete(root);
}

/** Writes a package directory with `mod.ts` and the given manifest parts. */
export async function hostilePackage(
  root: string,
  name: string,
  code: string,
  bpf: { grants?: unknown; deno?: string[] } = {},
  files: Record<string, string> = {},
): Promise<string> {
  const dir = join(root, name);
  forgetOnDispose(root, name);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o755);
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({
      name,
      version: "1.0.0",
      bpf: {
        entry: "mod.ts",
        grants: bpf.grants ??
          { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
        deno: bpf.deno ?? [],
      },
    }),
  );
  await Deno.writeTextFile(join(dir, "mod.ts"), code);
  for (const [rel, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, rel), text);
  }
  return dir;
}

/** Runs `bpfpm run <dir> --yes`. */
export function runPackageDir(
  w: { root: string; env: Record<string, string> },
  dir: string,
  args: string[] = [],
) {
  return bpfpm(["run", dir, "--yes", "--", ...args], {
    cwd: join(w.root, "project"),
    env: w.env,
  });
}

/** Ids of loaded BPF programs whose name starts with `prefix` (the kernel keeps 15 chars). */
export async function programsNamed(prefix: string): Promise<number[]> {
  const out = await new Deno.Command("bpftool", {
    args: ["-j", "prog", "list"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const list = JSON.parse(new TextDecoder().decode(out.stdout) || "[]") as {
    id: number;
    name?: string;
  }[];
  return list.filter((p) => p.name?.startsWith(prefix.slice(0, 15))).map((p) =>
    p.id
  );
}

/**
 * The programs named `prefix*` still loaded after up to `ms`: the kernel frees a program
 * after a grace period once its last link and fd are closed, so a check right after a
 * process exits must wait a little.
 */
export async function programsLeft(
  prefix: string,
  ms = 5000,
): Promise<number[]> {
  const end = Date.now() + ms;
  let left = await programsNamed(prefix);
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = await programsNamed(prefix);
  }
  return left;
}

/** The last JSON line a package printed. */
export function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON line in:\n${stdout}`);
  return JSON.parse(line);
}

/** A short random tag for program and file names. */
export function tag(): string {
  return Math.random().toString(36).slice(2, 8);
}
