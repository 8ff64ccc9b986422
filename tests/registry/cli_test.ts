import { assertEquals } from "./_assert.ts";
import { registryCommand, startRegistry } from "../../registry/server/cli.ts";

async function quiet<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; output: string }> {
  const lines: string[] = [];
  const { log, error } = console;
  console.log = console.error = (...a: unknown[]) =>
    void lines.push(a.join(" "));
  try {
    return { result: await fn(), output: lines.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("registryCommand: usage, bad arguments, a busy port, a busy database", async () => {
  assertEquals((await quiet(() => registryCommand(["help"]))).result, 0);
  assertEquals((await quiet(() => registryCommand([]))).result, 2);
  assertEquals((await quiet(() => registryCommand(["frobnicate"]))).result, 2);
  assertEquals(
    (await quiet(() => registryCommand(["serve", "--bogus"]))).result,
    2,
  );
  assertEquals(
    (await quiet(() => registryCommand(["serve", "--port", "70000"]))).result,
    2,
  );
  const both = await quiet(() =>
    registryCommand(["serve", "--db", "x", "--database", "postgres://x"])
  );
  assertEquals(both.result, 2);
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-cli-" });
  const reg = await startRegistry({ db: `${dir}/r.db` });
  try {
    const port = await quiet(() =>
      registryCommand([
        "serve",
        "--port",
        String(reg.port),
        "--db",
        `${dir}/other.db`,
      ])
    );
    assertEquals(port.result, 1);
    assertEquals(
      /is in use: pick another with --port/.test(port.output),
      true,
      port.output,
    );
    const db = await quiet(() =>
      registryCommand(["serve", "--port", "0", "--db", `${dir}/r.db`])
    );
    assertEquals(db.result, 1);
    assertEquals(
      /Another registry process is using/.test(db.output),
      true,
      db.output,
    );
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});
