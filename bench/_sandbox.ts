/**
 * Shared by the benches: the bpfpm CLI's command line; and, for the sandboxed rows, a probe
 * package written to a temp directory that nobody (uid 65534) can read, run under `bpfpm run`
 * (the trusted parent plus the sandboxed child) or, for the in-process row, with
 * `deno run -A` and `"bpf"` mapped to mod.ts; its stdout read line by line; and the peak RSS
 * of a process tree.
 *
 * @module
 */
import { join } from "node:path";

/** The repository root (with a trailing slash). */
export const REPO = decodeURIComponent(
  new URL("../", import.meta.url).pathname,
);

/** A package directory the benches write; removed on dispose. */
export interface BenchPackage extends AsyncDisposable {
  /** The package directory. */
  dir: string;
  /** The temp directory holding it (and the in-process import map). */
  root: string;
  /** An import map sending `"bpf"` to mod.ts (the in-process row). */
  importMap: string;
}

/**
 * Writes a probe package (package.json from `name` and `grants`, entry `main.ts`) into a
 * fresh temp directory that the sandbox's unprivileged user can read.
 *
 * @param name the package name
 * @param grants its bpf grants
 * @param files file name to text (must include `main.ts`)
 * @returns the package
 */
export async function writePackage(
  name: string,
  grants: Record<string, unknown>,
  files: Record<string, string>,
): Promise<BenchPackage> {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-bench-pkg-" });
  await Deno.chmod(root, 0o755);
  const dir = join(root, "pkg");
  await Deno.mkdir(dir, { mode: 0o755 });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({
      name,
      version: "0.0.1",
      bpf: { entry: "main.ts", grants, deno: [] },
    }),
  );
  for (const [file, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, file), text, { mode: 0o644 });
  }
  const importMap = join(root, "import_map.json");
  await Deno.writeTextFile(
    importMap,
    JSON.stringify({
      imports: { bpf: new URL("mod.ts", `file://${REPO}`).href },
    }),
  );
  return {
    dir,
    root,
    importMap,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/**
 * `deno run` arguments that run a script of this checkout (a path from its root) with all
 * permissions and the checkout's deno.json; the script's own arguments follow.
 */
export function checkoutRun(path: string): string[] {
  return [
    "run",
    "-A",
    "--quiet",
    "--config",
    join(REPO, "deno.json"),
    join(REPO, path),
  ];
}

/** `deno run` arguments that start the bpfpm CLI from this checkout (its arguments follow). */
export function bpfpmCli(): string[] {
  return checkoutRun("scripts/bpfpm.ts");
}

/** How a package's entry runs: under `bpfpm run` or, with `"bpf"` as mod.ts, in process. */
export type RunMode = "sandboxed" | "in process";

/**
 * The command line that runs `pkg`'s entry with `args`: `bpfpm run <dir> --yes -- args`
 * (sandboxed), or `deno run -A` with the import map (in process).
 */
export function packageCommand(
  pkg: BenchPackage,
  mode: RunMode,
  args: string[],
): [string, string[]] {
  return [
    Deno.execPath(),
    mode === "sandboxed"
      ? [...bpfpmCli(), "run", pkg.dir, "--yes", "--", ...args]
      : [
        "run",
        "-A",
        "--quiet",
        "--no-config",
        "--no-lock",
        `--import-map=${pkg.importMap}`,
        join(pkg.dir, "main.ts"),
        ...args,
      ],
  ];
}

/** A package's run whose stdin, stdout lines and stderr the bench holds. */
export interface StartedPackage extends AsyncDisposable {
  /** The process (`bpfpm run`, or deno in process). */
  process: Deno.ChildProcess;
  /** Its stdout, line by line. */
  lines: Lines;
  /** Writes a line to its stdin. */
  send(line: string): Promise<void>;
  /**
   * The next stdout line starting with `prefix`; throws with what it printed if it ends first.
   *
   * @param prefix what the line starts with
   * @returns the line
   */
  expect(prefix: string): Promise<string>;
}

/**
 * Starts `pkg` (stdin, stdout and stderr piped); disposing closes its stdin (the bench
 * packages exit then) and waits for it, printing its stderr if it failed.
 *
 * @param pkg the package
 * @param mode sandboxed or in process
 * @param args the entry's arguments
 * @returns the started package
 */
export function startPackage(
  pkg: BenchPackage,
  mode: RunMode,
  args: string[],
): StartedPackage {
  const [cmd, cmdArgs] = packageCommand(pkg, mode, args);
  const process = new Deno.Command(cmd, {
    args: cmdArgs,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = new Response(process.stderr).text();
  const lines = new Lines(process.stdout);
  const stdin = process.stdin.getWriter();
  return {
    process,
    lines,
    send: (line) => stdin.write(new TextEncoder().encode(`${line}\n`)),
    async expect(prefix) {
      const line = await lines.next(prefix);
      if (line !== undefined) return line;
      throw new Error(
        `${pkg.dir} (${mode}) ended before printing ${prefix}: ${lines.seen}${await stderr}`,
      );
    },
    async [Symbol.asyncDispose]() {
      await stdin.close().catch(() => {});
      await lines.cancel();
      if (!(await process.status).success) console.error(await stderr);
    },
  };
}

function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = [...Deno.readDirSync(`/proc/${pid}/task`)].map((e) => e.name);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const list = Deno.readTextFileSync(`/proc/${pid}/task/${t}/children`)
        .trim();
      if (list) out.push(...list.split(/\s+/).map(Number));
    } catch { /* the thread ended */ }
  }
  return out;
}

/**
 * Peak RSS (VmHWM, KiB) of `pid` plus that of every live descendant: for `bpfpm run`, the
 * trusted parent plus the sandboxed child.
 *
 * @param pid the root of the tree
 * @returns the sum, and how many processes it counted
 */
export function treePeakRss(pid: number): { kb: number; processes: number } {
  let kb = 0;
  let processes = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    try {
      const status = Deno.readTextFileSync(`/proc/${p}/status`);
      kb += Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      processes++;
    } catch { /* gone */ }
    todo.push(...children(p));
  }
  return { kb, processes };
}

/** Reads a child's stdout line by line. */
export class Lines {
  #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #seen: string[] = [];

  /**
   * Wraps a piped stdout.
   *
   * @param stdout the child's stdout
   */
  constructor(stdout: ReadableStream<Uint8Array>) {
    this.#reader = stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * The next line starting with `prefix`.
   *
   * @param prefix what the line starts with
   * @returns the line, or undefined at the end of the output
   */
  async next(prefix: string): Promise<string | undefined> {
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        this.#seen.push(line);
        if (line.startsWith(prefix)) return line;
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) return undefined;
      this.#buf += value;
    }
  }

  /** What was read so far (for error messages). */
  get seen(): string {
    return [...this.#seen, this.#buf].join("\n");
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
