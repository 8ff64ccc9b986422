/**
 * `kill -9` during publish, then restart: the version is whole or absent. The server runs
 * as a real child process (`registry/server/cli.ts serve`); a fault-injection point kills
 * it with SIGKILL inside the publish transaction, and a second test kills it at a random
 * moment while publishes are in flight.
 */
import { createHash } from "node:crypto";
import { fileURLToPath as fromFileUrl } from "node:url";
import { assert, assertEquals } from "./_assert.ts";
import { publishDoc, req, signup } from "./_helpers.ts";
import { hasPostgres, startPostgres } from "./_pg.ts";

const CLI = fromFileUrl(
  new URL("../../registry/server/cli.ts", import.meta.url),
);
const ROOT = fromFileUrl(new URL("../../", import.meta.url));

interface Child {
  url: string;
  proc: Deno.ChildProcess;
}

async function spawn(storage: string[], fault?: string): Promise<Child> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "serve", "--port", "0", ...storage],
    cwd: ROOT,
    env: fault ? { BPFPM_REGISTRY_FAULT: fault } : {},
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${out}`);
    out += value;
  }
  reader.releaseLock();
  proc.stdout.cancel().catch(() => {});
  return { url: /listening on (\S+)/.exec(out)![1], proc };
}

async function stop(c: Child) {
  try {
    c.proc.kill("SIGTERM");
  } catch { /* already gone */ }
  await c.proc.status;
}

async function checkWhole(url: string, name: string): Promise<string[]> {
  const res = await fetch(`${url}/${name}`);
  if (res.status === 404) {
    await res.body?.cancel();
    return [];
  }
  const doc = await res.json();
  const versions = Object.keys(doc.versions);
  for (const v of versions) {
    const tgz = await fetch(`${url}/${name}/-/${name}-${v}.tgz`);
    assertEquals(
      tgz.status,
      200,
      `${name}@${v} is listed but its tarball is missing`,
    );
    const bytes = new Uint8Array(await tgz.arrayBuffer());
    assertEquals(
      `sha512-${createHash("sha512").update(bytes).digest("base64")}`,
      doc.versions[v].dist.integrity,
    );
  }
  return versions;
}

async function faultScenario(storage: string[]) {
  let server = await spawn(storage);
  const alice = await signup((r) => fetch(r), server.url, "alice");
  const v1 = await publishDoc({ name: "crashy", version: "1.0.0" }, {
    "index.js": "1",
  });
  assertEquals(
    (await fetch(req(server.url, "PUT", "/crashy", { token: alice, body: v1 })))
      .status,
    201,
  );
  await stop(server);

  server = await spawn(storage, "publish-mid-transaction");
  const v2 = await publishDoc({ name: "crashy", version: "1.1.0" }, {
    "index.js": "2",
  });
  const crashed = await fetch(
    req(server.url, "PUT", "/crashy", { token: alice, body: v2 }),
  ).then(
    async (r) => {
      await r.body?.cancel();
      return false;
    },
    () => true,
  );
  assert(crashed, "the server answered instead of dying mid-transaction");
  const status = await server.proc.status;
  assertEquals(status.signal, "SIGKILL");

  server = await spawn(storage);
  try {
    assertEquals(await checkWhole(server.url, "crashy"), ["1.0.0"]);
    const tgz = await fetch(`${server.url}/crashy/-/crashy-1.1.0.tgz`);
    await tgz.body?.cancel();
    assertEquals(tgz.status, 404);
    // The number was never really published, so it may be published now.
    assertEquals(
      (await fetch(
        req(server.url, "PUT", "/crashy", { token: alice, body: v2 }),
      )).status,
      201,
    );
    assertEquals(await checkWhole(server.url, "crashy"), ["1.0.0", "1.1.0"]);
  } finally {
    await stop(server);
  }
}

Deno.test("kill -9 inside the publish transaction leaves no partial version (SQLite)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-crash-" });
  try {
    await faultScenario(["--db", `${dir}/r.db`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "kill -9 inside the publish transaction leaves no partial version (PostgreSQL)",
  ignore: !hasPostgres,
  async fn() {
    const pg = await startPostgres();
    try {
      await faultScenario(["--database", await pg.createDatabase("crash")]);
    } finally {
      await pg.stop();
    }
  },
});

Deno.test("kill -9 at a random moment during a burst of publishes: every version whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-crash-" });
  const storage = ["--db", `${dir}/r.db`];
  try {
    let server = await spawn(storage);
    const alice = await signup((r) => fetch(r), server.url, "alice");
    const docs = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        publishDoc(
          { name: "burst", version: `1.0.${i}` },
          {
            "index.js": "x",
            "data.bin": crypto.getRandomValues(new Uint8Array(20_000)),
          },
        )),
    );
    const inFlight = docs.map((d) =>
      fetch(req(server.url, "PUT", "/burst", { token: alice, body: d })).then(
        async (r) => {
          await r.body?.cancel();
          return r.status;
        },
        () => 0,
      )
    );
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 300));
    server.proc.kill("SIGKILL");
    const statuses = await Promise.all(inFlight);
    await server.proc.status;
    server = await spawn(storage);
    try {
      const versions = await checkWhole(server.url, "burst");
      // Every publish answered 201 is there; nothing else is half there.
      const acknowledged = statuses.flatMap((
        s,
        i,
      ) => (s === 201 ? [`1.0.${i}`] : []));
      for (const v of acknowledged) {
        assert(versions.includes(v), `acknowledged ${v} was lost`);
      }
      console.log(
        `burst: killed with ${acknowledged.length} of 40 acknowledged, ${versions.length} stored`,
      );
    } finally {
      await stop(server);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
