/**
 * Helpers of the sandbox tests: hostile packages written into a directory nobody (the
 * sandbox's uid) can read, run through the real `bpfpm run`, and the BPF programs they
 * managed to leave loaded (by a name unique to the test).
 *
 * @module
 */
import { join } from "node:path";
import { bpfpm } from "../client/_helpers.ts";

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

/** Where the sandbox keeps each package's Deno cache (runtime/sandbox/host.ts). */
const SANDBOX_CACHE = "/var/cache/bpfpm-sandbox";

/**
 * Removes the sandbox's Deno cache of every package under `root` (run in place or
 * installed in its project): the tests' packages have names unique to a run, so their
 * caches would otherwise pile up in /var/cache (about 3.5 MB each).
 */
async function forgetSandboxCaches(root: string): Promise<void> {
  const names = new Set<string>();
  const walk = async (dir: string, depth: number) => {
    try {
      for await (const e of Deno.readDir(dir)) {
        if (!e.isDirectory || depth === 0) continue;
        const pj = join(dir, e.name, "package.json");
        try {
          const name = JSON.parse(await Deno.readTextFile(pj)).name;
          if (typeof name === "string") names.add(name);
        } catch { /* not a package */ }
        await walk(join(dir, e.name), depth - 1);
      }
    } catch { /* gone */ }
  };
  await walk(root, 5);
  for (const name of names) {
    for (const uid of [0, 65534]) {
      await Deno.remove(
        join(SANDBOX_CACHE, `${uid}-${encodeURIComponent(name)}`),
        { recursive: true },
      ).catch(() => {});
    }
  }
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
