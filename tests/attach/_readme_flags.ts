/**
 * The narrow Deno flags exactly as README.md's "Permissions" section documents them, so the
 * tests that run under them fail when the README drifts from what the runtime needs.
 *
 * @module
 */

/** The repository root, without a trailing slash. */
export const REPO: string = decodeURIComponent(
  new URL("../..", import.meta.url).pathname,
).replace(/\/$/, "");

/**
 * The flags of the README's `deno run \` block under "## Permissions", with `<repo>` and
 * `$HOME/.cache/bpfpm` replaced (the latter by `cache`, which the caller passes to the child
 * as BPFPM_CACHE_DIR).
 */
export async function readmeFlags(cache: string): Promise<string[]> {
  const readme = await Deno.readTextFile(`${REPO}/README.md`);
  const section = readme.split(/^## Permissions$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error("README.md has no '## Permissions' section");
  const block = /```sh\n(deno run \\\n[\s\S]*?)```/.exec(section)?.[1];
  if (!block) {
    throw new Error("README.md's Permissions section has no deno run block");
  }
  const flags = block.split("\n")
    .map((line) => line.trim().replace(/\s*\\$/, ""))
    .filter((line) => line.startsWith("--"));
  if (flags.length < 4) {
    throw new Error(`README.md's deno run block has too few flags: ${flags}`);
  }
  return flags.map((f) =>
    f.replaceAll("<repo>", REPO).replaceAll("$HOME/.cache/bpfpm", cache)
  );
}

/** Runs `deno run <flags> <script> <args>`; stdin is piped so the test can drive it. */
export function spawnDeno(
  flags: string[],
  script: string,
  args: string[],
  env: Record<string, string>,
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-lock", ...flags, script, ...args],
    cwd: REPO,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The lines a child writes to stdout, one at a time. */
export async function* lines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let at;
    while ((at = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
    }
  }
  if (buffered) yield buffered;
}
