/**
 * Hostile requests against real registry servers (issue 14, registry items 1-6): each
 * case attacks over HTTP and asserts the status, that nothing was stored, and, for the
 * concurrent gzip bombs, the server's peak RSS growth (a separate process).
 */
import { Buffer } from "node:buffer";
import tarStream from "tar-stream";
import { createGzip } from "node:zlib";
import { assert, assertEquals, assertMatch } from "../registry/_assert.ts";
import { publishDoc, req, signup } from "../registry/_helpers.ts";
import { gzip, pjEntry, rawTar } from "../registry/_hostile.ts";
import { startRegistry } from "../../registry/server/cli.ts";
import { inspectTarball, TarballError } from "../../registry/pack/mod.ts";

const MiB = 1024 * 1024;

async function withRegistry(
  fn: (base: string, fetcher: (r: Request) => Promise<Response>) => Promise<
    void
  >,
) {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-hostile-reg-" });
  const reg = await startRegistry({ port: 0, db: `${dir}/r.db`, quiet: true });
  try {
    await fn(reg.url, (r) => fetch(r));
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

function count(list: number[], s: number): number {
  return list.filter((x) => x === s).length;
}

async function publish(
  base: string,
  token: string,
  doc: Record<string, unknown>,
): Promise<Response> {
  return await fetch(req(base, "PUT", `/${doc.name}`, { token, body: doc }));
}

async function notStored(base: string, name: string) {
  const r = await fetch(`${base}/${name}`);
  await r.body?.cancel();
  assertEquals(r.status, 404, `${name} must not be stored`);
}

Deno.test("hostile: a parallel burst of wrong passwords is refused after the limit, counted as it starts", async () => {
  await withRegistry(async (base) => {
    await signup(fetch, base, "alice", "alice-right-pw");
    const login = (pw: string) =>
      fetch(req(base, "PUT", "/-/user/org.couchdb.user:alice", {
        body: { name: "alice", password: pw },
      }));
    const tries = [
      ...Array.from({ length: 60 }, (_, i) => login(`wrong-${i}-pw`)),
      login("alice-right-pw"),
    ];
    const got = await Promise.all(tries.map(status));
    // Five failures are allowed (the default): everything after them is 429, whichever
    // of the 61 was right.
    assert(
      count(got, 401) + count(got, 201) <= 5,
      `at most 5 checked: ${got}`,
    );
    assertEquals(count(got, 429), 61 - count(got, 401) - count(got, 201));

    const bob = await signup(fetch, base, "bob", "bob-right-pw");
    const tokens = await Promise.all(
      Array.from(
        { length: 30 },
        (_, i) =>
          status(fetch(req(base, "POST", "/-/npm/v1/tokens", {
            token: bob,
            body: { password: `wrong-${i}`, readonly: false },
          }))),
      ),
    );
    assert(count(tokens, 401) <= 5, `at most 5 checked: ${tokens}`);
    assertEquals(count(tokens, 429), 30 - count(tokens, 401));
  });
});

/** A tarball whose files declare `sizes` (zeros), streamed so no test buffer holds them. */
async function zeroBomb(name: string, sizes: number[]): Promise<Uint8Array> {
  const pack = tarStream.pack();
  const gz = createGzip({ level: 6 });
  const chunks: Uint8Array[] = [];
  gz.on("data", (c: Uint8Array) => chunks.push(c));
  const ended = new Promise((r) => gz.on("end", r));
  (pack as unknown as { pipe(d: unknown): void }).pipe(gz);
  pack.entry(
    { name: "package/package.json" },
    JSON.stringify({ name, version: "1.0.0" }),
  );
  const zero = new Uint8Array(MiB);
  for (const [i, size] of sizes.entries()) {
    const w = pack.entry({ name: `package/zeros${i}`, size }) as unknown as {
      write(c: Uint8Array): boolean;
      end(): void;
      once(event: string, fn: () => void): void;
    };
    for (let left = size; left > 0; left -= MiB) {
      const chunk = left >= MiB ? zero : zero.subarray(0, left);
      if (!w.write(chunk)) await new Promise<void>((r) => w.once("drain", r));
    }
    w.end();
    await new Promise<void>((r) => w.once("finish", r));
  }
  pack.finalize();
  await ended;
  return new Uint8Array(Buffer.concat(chunks));
}

function peakRss(pid: number): { rss: number; hwm: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)![1]);
  return { rss: kb("VmRSS") * 1024, hwm: kb("VmHWM") * 1024 };
}

Deno.test("hostile: 16 concurrent gzip-bomb publishes from 16 users cost the server < 1 GB, store nothing; a user's ninth gets 429", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-hostile-bomb-" });
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../registry/server/cli.ts", import.meta.url).pathname,
      "serve",
      "--port",
      "0",
      "--db",
      `${dir}/r.db`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let banner = "";
    while (!/listening on (\S+)/.test(banner)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`the server exited: ${banner}`);
      banner += value;
    }
    const base = /listening on (\S+)/.exec(banner)![1];
    const tokens: string[] = [];
    for (let i = 0; i < 17; i++) {
      tokens.push(await signup(fetch, base, `bomber${i}`));
    }
    // Two shapes: one file declared far over the unpacked cap (refused at its header),
    // and files each under the cap whose sum is over it (the costliest to refuse).
    const over = await zeroBomb("bomb", [256 * MiB]);
    const sum = await zeroBomb("bomb", [40 * MiB, 40 * MiB]);
    const docs = await Promise.all(
      [over, sum].map((tarball) =>
        publishDoc({ name: "bomb", version: "1.0.0" }, {}, { tarball })
      ),
    );
    const before = peakRss(server.pid);
    const t0 = performance.now();
    const got = await Promise.all(
      Array.from(
        { length: 16 },
        (_, i) => status(publish(base, tokens[i], docs[i % 2])),
      ),
    );
    const took = performance.now() - t0;
    const after = peakRss(server.pid);
    const growth = after.hwm - before.rss;
    console.log(
      `16 concurrent bombs: server RSS ${
        (before.rss / MiB).toFixed(0)
      } MiB before, peak ${(after.hwm / MiB).toFixed(0)} MiB (growth ${
        (growth / MiB).toFixed(0)
      } MiB), answered in ${took.toFixed(0)} ms: ${got}`,
    );
    assertEquals(got, Array(16).fill(413));
    assert(growth < 1024 * MiB, `RSS grew ${growth} bytes`);
    await notStored(base, "bomb");

    // One user's publishes over the per-user limit (8) get 429 at once, before their
    // bodies are read: eight uploads that stall hold the user's turns.
    const text = new TextEncoder().encode(JSON.stringify(docs[1]));
    const stalled = Array.from({ length: 8 }, () => {
      let go!: () => void;
      const release = new Promise<void>((r) => go = r);
      const body = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(text.subarray(0, 100));
          await release;
          c.enqueue(text.subarray(100));
          c.close();
        },
      });
      const res = status(fetch(`${base}/bomb`, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${tokens[16]}`,
          "content-type": "application/json",
        },
        body,
      }));
      return { go, res };
    });
    let refused = 0;
    for (let i = 0; i < 100 && !refused; i++) {
      const s = await status(publish(base, tokens[16], docs[1]));
      assert(s === 413 || s === 429, `${s}`);
      if (s === 429) refused++;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assertEquals(refused, 1, "a ninth publish of one user is refused");
    for (const s of stalled) s.go();
    assertEquals(
      await Promise.all(stalled.map((s) => s.res)),
      Array(8).fill(413),
    );
    await notStored(base, "bomb");
  } finally {
    server.kill("SIGTERM");
    await lines.cancel().catch(() => {});
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile: tarball path conflicts (file x with file x/y, or with dir x/) are refused at publish and by the shared extraction check", async () => {
  const pj = pjEntry("clash", "1.0.0");
  const cases: [string, Parameters<typeof rawTar>[0]][] = [
    ["file x, then file x/y", [pj, { name: "package/x", data: "a" }, {
      name: "package/x/y",
      data: "b",
    }]],
    ["file x/y, then file x", [pj, { name: "package/x/y", data: "b" }, {
      name: "package/x",
      data: "a",
    }]],
    ["file x, then dir x/", [pj, { name: "package/x", data: "a" }, {
      name: "package/x/",
      type: "directory",
    }]],
    ["file X, then file x/y (case)", [pj, { name: "package/X", data: "a" }, {
      name: "package/x/y",
      data: "b",
    }]],
  ];
  await withRegistry(async (base) => {
    const token = await signup(fetch, base, "carol");
    for (const [label, entries] of cases) {
      const tgz = await gzip(await rawTar(entries));
      await assertRejectsReason(tgz, label);
      const res = await publish(
        base,
        token,
        await publishDoc({ name: "clash", version: "1.0.0" }, {}, {
          tarball: tgz,
        }),
      );
      const body = await res.json();
      assertEquals(res.status, 400, `${label}: ${JSON.stringify(body)}`);
      assertEquals(body.code, "path-conflict", label);
      await notStored(base, "clash");
    }
    // A directory entry before its files is fine.
    const ok = await gzip(
      await rawTar([pj, { name: "package/x/", type: "directory" }, {
        name: "package/x/y",
        data: "b",
      }]),
    );
    const res = await publish(
      base,
      token,
      await publishDoc({ name: "clash", version: "1.0.0" }, {}, {
        tarball: ok,
      }),
    );
    assertEquals(res.status, 201, JSON.stringify(await res.json()));
  });
});

async function assertRejectsReason(tgz: Uint8Array, label: string) {
  try {
    await inspectTarball(tgz);
  } catch (e) {
    assert(e instanceof TarballError, `${label}: ${e}`);
    assertEquals(e.reason, "path-conflict", label);
    return;
  }
  throw new Error(`${label}: inspectTarball accepted it`);
}

Deno.test("hostile: input that used to give 500 gets a 4xx with a message", async () => {
  await withRegistry(async (base) => {
    const token = await signup(fetch, base, "dave");
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const doc = await publishDoc({ name: "deep", version: "1.0.0" });
    const text = JSON.stringify(doc).replace(
      '"access":null',
      `"access":${deep}`,
    );
    let res = await fetch(`${base}/deep`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
      },
      body: text,
    });
    let body = await res.json();
    assertEquals(res.status, 400, JSON.stringify(body));
    assertMatch(body.error, /nested/);
    await notStored(base, "deep");

    // Deep nesting inside the versions object reaches the manifest comparison.
    const deepDoc = JSON.stringify(doc).replace(
      '"_id":"deep@1.0.0"',
      `"_id":"deep@1.0.0","x":${deep}`,
    );
    res = await fetch(`${base}/deep`, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
      },
      body: deepDoc,
    });
    body = await res.json();
    assertEquals(res.status, 400, JSON.stringify(body));
    await notStored(base, "deep");

    res = await fetch(`${base}/-/user/org.couchdb.user:dave/-rev/1`, {
      method: "PUT",
      headers: { authorization: "Basic %%%not-base64%%%" },
      body: "{}",
    });
    body = await res.json();
    assertEquals(res.status, 400, JSON.stringify(body));
    assertMatch(body.error, /base64/);

    for (const q of ["from=1e999", "from=-1", "size=1e999", "from=abc"]) {
      res = await fetch(`${base}/-/v1/search?text=x&${q}`);
      body = await res.json();
      assertEquals(res.status, 400, `${q}: ${JSON.stringify(body)}`);
      assertMatch(body.error, /from|size/);
    }
    res = await fetch(`${base}/-/v1/search?text=x&from=0&size=5`);
    await res.body?.cancel();
    assertEquals(res.status, 200);
  });
});

Deno.test("hostile: dist-tags and versions named after Object.prototype members are plain names", async () => {
  await withRegistry(async (base) => {
    const token = await signup(fetch, base, "erin");
    let res = await publish(
      base,
      token,
      await publishDoc({ name: "protos", version: "1.0.0" }),
    );
    assertEquals(res.status, 201);
    const rev0 = (await (await fetch(`${base}/protos`)).json())._rev;
    for (const tag of ["constructor", "hasOwnProperty", "toString"]) {
      res = await fetch(
        req(base, "DELETE", `/-/package/protos/dist-tags/${tag}`, { token }),
      );
      const body = await res.json();
      assertEquals(res.status, 404, `${tag}: ${JSON.stringify(body)}`);
      res = await fetch(`${base}/-/package/protos/dist-tags/${tag}`);
      assertEquals(await res.json(), null, tag);
      res = await fetch(`${base}/protos/${tag}`);
      await res.body?.cancel();
      assertEquals(res.status, 404, `GET /protos/${tag}`);
    }
    assertEquals(
      (await (await fetch(`${base}/protos`)).json())._rev,
      rev0,
      "no new revision",
    );
    // Set for real, a tag named constructor is an ordinary tag.
    res = await fetch(
      req(base, "PUT", "/-/package/protos/dist-tags/constructor", {
        token,
        body: "1.0.0",
      }),
    );
    assertEquals(res.status, 200, JSON.stringify(await res.json()));
    const tags = await (await fetch(`${base}/-/package/protos/dist-tags`))
      .json();
    assertEquals(tags, { latest: "1.0.0", constructor: "1.0.0" });
    res = await fetch(`${base}/protos/constructor`);
    assertEquals((await res.json()).version, "1.0.0");
  });
});

Deno.test("hostile: a deno flag with a space or an empty list item is refused at publish", async () => {
  await withRegistry(async (base) => {
    const token = await signup(fetch, base, "frank");
    for (
      const flag of [
        "--allow-run=/bin/sh --allow-all",
        "--allow-read=/a, /b",
        "--allow-read=/a,,/b",
        "--allow-read=",
        "--allow-net=\tx",
      ]
    ) {
      const pj = {
        name: "flags",
        version: "1.0.0",
        bpf: { entry: "mod.ts", deno: [flag] },
      };
      const res = await publish(
        base,
        token,
        await publishDoc(pj, { "mod.ts": "" }),
      );
      const body = await res.json();
      assertEquals(res.status, 400, `${flag}: ${JSON.stringify(body)}`);
      assertEquals(body.code, "bad-bpf-manifest");
      assertMatch(body.error, /deno/);
      await notStored(base, "flags");
    }
    const res = await publish(
      base,
      token,
      await publishDoc({
        name: "flags",
        version: "1.0.0",
        bpf: {
          entry: "mod.ts",
          deno: ["--allow-read=/a,/b", "--allow-net"],
        },
      }, { "mod.ts": "" }),
    );
    assertEquals(res.status, 201, JSON.stringify(await res.json()));
  });
});
