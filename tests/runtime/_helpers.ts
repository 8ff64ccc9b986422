/**
 * Test helpers: run a child script, query the kernel (bpftool) for our programs, make
 * unique program names.
 *
 * @module
 */
export const REPO = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
);
export const FIXTURE = `${REPO}tests/runtime/fixtures/probe.ts`;

/** A program name unique to this test run (fits the kernel's 15 characters with a suffix). */
export function uniqueName(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `t${
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
}

/** The result of a finished child. */
export interface Finished {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` to completion. */
export async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Finished> {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs the fixture with `deno run <flags> probe.ts <args>`. */
export function runFixture(
  args: string[],
  options: {
    flags?: string[];
    env?: Record<string, string>;
    prefix?: string[];
  } = {},
): Promise<Finished> {
  const deno = Deno.execPath();
  const prefix = options.prefix ?? [];
  const full = [
    ...prefix.slice(1),
    deno,
    "run",
    ...(options.flags ?? ["-A"]),
    FIXTURE,
    ...args,
  ];
  return prefix.length
    ? run(prefix[0], full, options.env)
    : run(deno, full.slice(1), options.env);
}

/**
 * Starts the fixture (`deno run -A probe.ts <args>`, stdout and stderr piped) and reads its
 * stdout until it holds `marker` (or ends).
 *
 * @returns the child, its stdout reader (for what comes next) and what was read
 */
export async function spawnFixture(args: string[], marker: string): Promise<{
  child: Deno.ChildProcess;
  reader: ReadableStreamDefaultReader<string>;
  out: string;
}> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", FIXTURE, ...args],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  return { child, reader, out };
}

/** The loaded programs whose name starts with `prefix` (bpftool, JSON). */
export async function programsNamed(
  prefix: string,
): Promise<{ id: number; name: string }[]> {
  const out = await run("bpftool", ["-j", "prog", "list"]);
  if (out.code !== 0) {
    throw new Error(`bpftool prog list failed: ${out.stderr}`);
  }
  const list = JSON.parse(out.stdout) as { id: number; name?: string }[];
  return list.filter((p) => p.name?.startsWith(prefix)).map((p) => ({
    id: p.id,
    name: p.name!,
  }));
}

/** Whether `bpftool prog show id N` still finds the program. */
export async function programExists(id: number): Promise<boolean> {
  const out = await run("bpftool", ["prog", "show", "id", String(id)]);
  return out.code === 0;
}

/** Waits (up to `ms`) until none of `ids` exists; returns the ones still there. */
export async function waitGone(ids: number[], ms = 3000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left: number[] = [];
    for (const id of ids) if (await programExists(id)) left.push(id);
    if (!left.length || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Asserts that no program whose name starts with `prefix` is loaded (waits up to 3 s). */
export async function assertNoneNamed(prefix: string): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const left = await programsNamed(prefix);
    if (!left.length) return;
    if (Date.now() > deadline) {
      throw new Error(`programs still loaded: ${JSON.stringify(left)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
