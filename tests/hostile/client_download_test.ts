/**
 * Issue 14.8 and 14.9: a hostile server sends a 1 GiB tarball or packument, or sends
 * headers and then stalls. The client stops at the registry's own caps with bounded memory,
 * gives up on a stall after the configured timeout with retries, and says so in one line.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../registry/client/config.ts";
import { RegistryError } from "../../registry/common/errors.ts";
import { RegistryClient } from "../../registry/client/registry.ts";
import { DEFAULT_TARBALL_LIMITS } from "../../registry/limits.ts";
import { sandbox } from "../client/_helpers.ts";
import {
  assertOneLineError,
  baseEnv,
  packumentFor,
  rawServer,
  runCli,
  stall,
  writeAll,
  writeHead,
} from "./_client.ts";

const GiB = 1024 * 1024 * 1024;
const MB = 1000 * 1000;

/** Streams `total` bytes of zeros in 1 MiB pieces (never holding more than one). */
async function streamZeros(conn: Deno.Conn, total: number): Promise<void> {
  const piece = new Uint8Array(1024 * 1024);
  for (let sent = 0; sent < total; sent += piece.length) {
    await writeAll(conn, piece);
  }
}

/** A registry serving `big`, whose tarball (and, for `huge`, packument) is 1 GiB. */
function hostileRegistry(lengthHeader: boolean) {
  return rawServer(async (path, conn, url) => {
    const head: Record<string, number> = lengthHeader
      ? { "content-length": GiB }
      : {};
    if (path === "/big") {
      const doc = new TextEncoder().encode(
        packumentFor("big", `${url}big/-/big-1.0.0.tgz`),
      );
      await writeHead(conn, 200, {
        "content-type": "application/json",
        "content-length": doc.length,
      });
      await writeAll(conn, doc);
    } else {
      await writeHead(conn, 200, {
        "content-type": path === "/huge"
          ? "application/json"
          : "application/octet-stream",
        ...head,
      });
      await streamZeros(conn, GiB);
    }
  });
}

/** Runs `fn` while sampling this process's RSS; returns the growth over the start. */
async function rssGrowth(fn: () => Promise<unknown>): Promise<number> {
  const start = Deno.memoryUsage().rss;
  let peak = start;
  const t = setInterval(() => {
    peak = Math.max(peak, Deno.memoryUsage().rss);
  }, 5);
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, Deno.memoryUsage().rss) - start;
}

for (const lengthHeader of [true, false]) {
  const how = lengthHeader ? "with its Content-Length" : "chunked, no length";
  Deno.test(`a 1 GiB tarball (${how}) is refused at the registry's cap with bounded RSS`, async () => {
    await using server = hostileRegistry(lengthHeader);
    await using s = await sandbox(server.url);
    const client = new RegistryClient(
      loadConfig({ cwd: s.project, env: s.env }),
    );
    const doc = await client.packument("big");
    const dist = doc.versions["1.0.0"].dist;
    let error: unknown;
    const growth = await rssGrowth(() =>
      client.tarball(dist.tarball, dist.integrity!, "big@1.0.0").catch((e) =>
        error = e
      )
    );
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, "ETOOLARGE");
    assert.match(
      error.message,
      new RegExp(
        `Tarball of big@1\\.0\\.0 .* over the ${
          DEFAULT_TARBALL_LIMITS.maxCompressedSize / 1024 / 1024
        } MiB cap`,
      ),
    );
    console.log(`RSS growth: ${(growth / MB).toFixed(1)} MB`);
    assert.ok(growth < 300 * MB, `RSS grew ${growth / MB} MB`);
    // Nothing was cached.
    assert.equal(await client.cache.get(dist.integrity!), undefined);
  });

  Deno.test(`a 1 GiB packument (${how}) is refused with bounded RSS`, async () => {
    await using server = hostileRegistry(lengthHeader);
    await using s = await sandbox(server.url);
    const client = new RegistryClient(
      loadConfig({ cwd: s.project, env: s.env }),
    );
    let error: unknown;
    const growth = await rssGrowth(() =>
      client.packument("huge").catch((e) => error = e)
    );
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, "ETOOLARGE");
    console.log(`RSS growth: ${(growth / MB).toFixed(1)} MB`);
    assert.ok(growth < 300 * MB, `RSS grew ${growth / MB} MB`);
  });
}

Deno.test("bpfpm install of a 1 GiB tarball: one line, exit 1, the CLI's peak RSS bounded", async () => {
  await using server = hostileRegistry(false);
  await using s = await sandbox(server.url);
  const run = await runCli(["install", "big", "--yes"], {
    cwd: s.project,
    env: { ...baseEnv(), ...s.env },
    deadlineMs: 60_000,
  });
  assertOneLineError(run, 1, /^bpfpm install: Tarball of big@1\.0\.0 .*cap/);
  // The same CLI doing nothing much: what the refusal added to it.
  const idle = await runCli(["list"], {
    cwd: s.project,
    env: { ...baseEnv(), ...s.env },
  });
  assert.equal(idle.code, 0, idle.stderr);
  const growth = run.peakRss - idle.peakRss;
  console.log(
    `CLI peak RSS: ${(run.peakRss / MB).toFixed(1)} MB, ${
      (idle.peakRss / MB).toFixed(1)
    } MB for bpfpm list: ${(growth / MB).toFixed(1)} MB growth`,
  );
  assert.ok(run.peakRss > 0 && growth < 300 * MB, `${growth}`);
});

/** A server that answers every request with headers and a few bytes, then stalls. */
function stallingRegistry() {
  return rawServer(async (_path, conn) => {
    await writeHead(conn, 200, {
      "content-type": "application/json",
      "content-length": 1000,
    });
    await writeAll(conn, new TextEncoder().encode('{"name":'));
    await stall(conn);
  });
}

Deno.test("a stalled body times out after the configured time, retried with backoff, in one line", async (t) => {
  for (
    const [how, args, env, rc] of [
      ["BPFPM_FETCH_TIMEOUT", [], { BPFPM_FETCH_TIMEOUT: "300" }, ""],
      ["--fetch-timeout", ["--fetch-timeout", "300ms"], {}, ""],
      ["fetch-timeout in .bpfpmrc", [], {}, "fetch-timeout=0.3s\n"],
    ] as const
  ) {
    await t.step(how, async () => {
      await using server = stallingRegistry();
      await using s = await sandbox(server.url);
      if (rc) await Deno.writeTextFile(`${s.project}/.bpfpmrc`, rc);
      const run = await runCli(["info", "slow", ...args], {
        cwd: s.project,
        env: { ...baseEnv(), ...s.env, ...env, BPFPM_FETCH_RETRIES: "2" },
        deadlineMs: 30_000,
      });
      assertOneLineError(
        run,
        1,
        /stalled: no data for 0\.3 s while fetching Package slow \(after 3 attempts\); .*--fetch-timeout/,
      );
      // Three attempts: the first and two retries, each on a connection of its own.
      assert.deepEqual(server.paths, ["/slow", "/slow", "/slow"]);
    });
  }
});

Deno.test("a server that never sends headers times out too", async () => {
  await using server = rawServer((_path, conn) => stall(conn));
  await using s = await sandbox(server.url);
  const client = new RegistryClient(
    loadConfig({
      cwd: s.project,
      env: { ...s.env, BPFPM_FETCH_TIMEOUT: "200", BPFPM_FETCH_RETRIES: "1" },
    }),
  );
  await assert.rejects(client.packument("mute"), (e: Error) => {
    assert.ok(e instanceof RegistryError);
    assert.equal(e.code, "ETIMEOUT");
    assert.match(e.message, /no data for 0\.2 s .*after 2 attempts/);
    return true;
  });
  assert.equal(server.paths.length, 2);
});

Deno.test("a slow but moving download is not a stall", async () => {
  // 12 pieces 100 ms apart: 1.2 s in all, under a 300 ms stall timeout.
  const doc = new TextEncoder().encode(
    packumentFor("slowpoke", "http://127.0.0.1:1/x.tgz"),
  );
  await using server = rawServer(async (_path, conn) => {
    await writeHead(conn, 200, {
      "content-type": "application/json",
      "content-length": doc.length,
    });
    const step = Math.ceil(doc.length / 12);
    for (let i = 0; i < doc.length; i += step) {
      await writeAll(conn, doc.subarray(i, i + step));
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  await using s = await sandbox(server.url);
  const client = new RegistryClient(
    loadConfig({
      cwd: s.project,
      env: { ...s.env, BPFPM_FETCH_TIMEOUT: "300" },
    }),
  );
  const got = await client.packument("slowpoke");
  assert.deepEqual(Object.keys(got.versions), ["1.0.0"]);
  assert.equal(server.paths.length, 1);
});

Deno.test("a gzip-encoded packument that inflates past the cap is refused with bounded RSS", async () => {
  // 256 MiB of zeros, sent as about 250 KB with Content-Encoding: gzip.
  const zeros = new Uint8Array(1024 * 1024);
  const bomb = new Uint8Array(
    await new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 256; i++) c.enqueue(zeros);
          c.close();
        },
      }).pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<
          Uint8Array,
          Uint8Array
        >,
      ),
    ).arrayBuffer(),
  );
  await using server = rawServer(async (_path, conn) => {
    await writeHead(conn, 200, {
      "content-type": "application/json",
      "content-encoding": "gzip",
      "content-length": bomb.length,
    });
    await writeAll(conn, bomb);
  });
  await using s = await sandbox(server.url);
  const client = new RegistryClient(
    loadConfig({ cwd: s.project, env: { ...s.env, BPFPM_FETCH_RETRIES: "0" } }),
  );
  let error: unknown;
  const growth = await rssGrowth(() =>
    client.packument("bomb").catch((e) => error = e)
  );
  assert.ok(error instanceof RegistryError, String(error));
  assert.equal(error.code, "ETOOLARGE");
  console.log(
    `${bomb.length} gzip bytes; RSS growth: ${(growth / MB).toFixed(1)} MB`,
  );
  assert.ok(growth < 300 * MB, `RSS grew ${growth / MB} MB`);
});

Deno.test("GETs are retried after a 5xx, and give up in one line", async () => {
  const doc = new TextEncoder().encode(
    packumentFor("flaky", "http://127.0.0.1:1/x.tgz"),
  );
  let answered = 0;
  await using server = rawServer(async (path, conn) => {
    // flaky: two 503s, then the document; broken: always 500.
    if (path === "/flaky" && ++answered > 2) {
      await writeHead(conn, 200, { "content-length": doc.length });
      await writeAll(conn, doc);
    } else {
      const body = new TextEncoder().encode('{"error":"down for repairs"}');
      await writeHead(conn, path === "/flaky" ? 503 : 500, {
        "content-length": body.length,
      });
      await writeAll(conn, body);
    }
  });
  await using s = await sandbox(server.url);
  const env = { ...baseEnv(), ...s.env, BPFPM_FETCH_RETRIES: "2" };
  const ok = await runCli(["info", "flaky"], { cwd: s.project, env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^flaky@1\.0\.0$/m);
  const broken = await runCli(["info", "broken"], { cwd: s.project, env });
  assertOneLineError(
    broken,
    1,
    /^bpfpm info: http:\/\/127\.0\.0\.1:\d+ answered 500 for Package broken \(down for repairs\) \(after 3 attempts\); the registry failed, retry later$/,
  );
  assert.deepEqual(server.paths, [
    "/flaky",
    "/flaky",
    "/flaky",
    "/broken",
    "/broken",
    "/broken",
  ]);
});
