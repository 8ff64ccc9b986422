/**
 * The sandboxed child starts held (runtime/sandbox/child_gate.ts, its `--preload`): it is
 * running while the trusted side admits the package (checks, consent, verified files), and
 * none of the package's code is read before then.
 */
import assert from "node:assert/strict";
import { runSandboxed } from "../../runtime/sandbox/host.ts";
import { forgetOnDispose, hostilePackage, world } from "./_helpers.ts";

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** This process's sandbox directories left in /tmp. */
function leftovers(): string[] {
  return [...Deno.readDirSync("/tmp")].map((e) => e.name).filter((n) =>
    n.startsWith(`bpfpm-sandbox-${Deno.pid}-`)
  );
}

/** Collects a piped child's stdout. */
function collect(child: Deno.ChildProcess): Promise<string> {
  return new Response(child.stdout).text();
}

Deno.test("a package refused while its child is held has run none of its code, and nothing of it remains", async () => {
  await using w = await world();
  const dir = await hostilePackage(
    w.root,
    "held-refused",
    `console.log("RAN");`,
  );
  let child: Deno.ChildProcess | undefined;
  let out: Promise<string> | undefined;
  let heldAlive = false;
  let heldOutput = "";
  await assert.rejects(
    runSandboxed({
      spec: "held-refused@1.0.0",
      name: "held-refused",
      packageDir: dir,
      entry: "mod.ts",
      args: [],
      grants: { attach: [] },
      deno: [],
      stdio: "piped",
      onStart: (c) => {
        child = c;
        out = collect(c);
      },
      admit: async () => {
        // Long enough for a child that was not held to have run its entry many times over.
        await new Promise((r) => setTimeout(r, 1500));
        heldAlive = alive(child!.pid);
        throw new Error("not admitted");
      },
    }),
    /not admitted/,
  );
  assert.ok(child, "the child was started before admit");
  assert.ok(heldAlive, "the child was running (held) while admit ran");
  heldOutput = await out!;
  assert.equal(heldOutput, "", "the package's entry never ran");
  assert.ok(!alive(child.pid), "the refused child is gone");
  assert.deepEqual(leftovers(), []);
});

Deno.test("an installed package's files, supplied by admit after the child started, are what runs", async () => {
  await using w = await world();
  forgetOnDispose(w.root, "held-files");
  let out: Promise<string> | undefined;
  const result = await runSandboxed({
    spec: "held-files@1.0.0",
    name: "held-files",
    entry: "lib/mod.ts",
    args: ["x"],
    grants: { attach: [] },
    deno: [],
    stdio: "piped",
    onStart: (c) => out = collect(c),
    admit: () =>
      Promise.resolve({
        files: new Map([
          [
            "lib/mod.ts",
            new TextEncoder().encode(
              `import { greeting } from "./greeting.ts";\nconsole.log(greeting, Deno.args[0], import.meta.main);`,
            ),
          ],
          [
            "lib/greeting.ts",
            new TextEncoder().encode(`export const greeting = "FROM FILES";`),
          ],
        ]),
      }),
  });
  assert.equal(result.code, 0);
  assert.equal(await out!, "FROM FILES x true\n");
  assert.deepEqual(leftovers(), []);
});
