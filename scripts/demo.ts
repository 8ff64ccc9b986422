/**
 * The README's main job (`deno task demo`): runs BCC's Hello World (examples/hello.ts) for a
 * few seconds while starting processes, prints what it traced, and stops it cleanly.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Runs examples/hello.ts for `seconds`, spawning a process every 200 ms; returns its exit code. */
async function helloDemo(seconds: number): Promise<number> {
  console.log(
    `\n== examples/hello.ts: "Hello, World!" per clone(), for ${seconds} s ==`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(root, "examples/hello.ts")],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await new Deno.Command("true").output();
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGINT");
  const { code } = await child.status;
  return code === 130 || code === 0 ? 0 : code;
}

if (import.meta.main) {
  Deno.exit(await helloDemo(3));
}
