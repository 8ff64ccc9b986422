/**
 * One store suite, run on SQLite and on PostgreSQL; then several servers on one
 * PostgreSQL database.
 */
import { assert, assertEquals } from "./_assert.ts";
import {
  keyBody,
  newPublisherKey,
  publishDoc,
  req,
  signup,
} from "./_helpers.ts";
import { createTarball } from "../../registry/pack/mod.ts";
import { signPackage } from "../../registry/common/publisher_signature.ts";
import { createRegistryHandler } from "../../registry/server/handler.ts";
import { hasPostgres, startPostgres, type TestPostgres } from "./_pg.ts";
import { startRegistry } from "../../registry/server/cli.ts";
import {
  connectPostgresStore,
  openSqliteStore,
} from "../../registry/server/sql_store.ts";
import {
  type PackageRow,
  type Store,
  StoreConflictError,
  type VersionRow,
} from "../../registry/server/store.ts";

function pkgRow(
  name: string,
  rev: string,
  extra: Partial<PackageRow> = {},
): PackageRow {
  return {
    name,
    rev,
    created: "2026-01-01T00:00:00.000Z",
    modified: "2026-01-01T00:00:00.000Z",
    distTags: { latest: "1.0.0" },
    owners: ["alice"],
    description: "A 100% _probe_",
    keywords: ["bpf"],
    latest: "1.0.0",
    ...extra,
  };
}

function versionRow(name: string, version: string): VersionRow {
  return {
    name,
    version,
    manifest: `{"version":"${version}"}`,
    readme: "# r",
    published: new Date().toISOString(),
    deprecated: null,
  };
}

async function rejectsWith(
  p: Promise<unknown>,
  cls: new (...a: never[]) => Error,
): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof cls, `expected ${cls.name}, got ${e}`);
    return e as Error;
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

async function storeSuite(t: Deno.TestContext, store: Store) {
  await t.step("a transaction commits all or nothing", async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await rejectsWith(
      store.transaction(async (tx) => {
        await tx.putPackage(pkgRow("atomic", "1-a"));
        await tx.insertVersion(versionRow("atomic", "1.0.0"));
        await tx.putTarball("atomic", "atomic-1.0.0.tgz", bytes);
        throw new RangeError("boom");
      }),
      RangeError,
    );
    assertEquals(await store.getPackage("atomic"), null);
    assertEquals(await store.getVersions("atomic"), []);
    assertEquals(await store.getTarball("atomic", "atomic-1.0.0.tgz"), null);
    await store.transaction(async (tx) => {
      await tx.putPackage(pkgRow("atomic", "1-a"));
      await tx.insertVersion(versionRow("atomic", "1.0.0"));
      await tx.putTarball("atomic", "atomic-1.0.0.tgz", bytes);
    });
    assertEquals((await store.getPackage("atomic"))!.distTags, {
      latest: "1.0.0",
    });
    assertEquals(await store.getPackageRev("atomic"), "1-a");
    // The packuments are assembled from the head and the version rows.
    const published = (await store.getVersions("atomic"))[0].published;
    assertEquals(await store.getPackageDoc("atomic", true), {
      rev: "1-a",
      doc: `{"name":"atomic","modified":"2026-01-01T00:00:00.000Z",` +
        `"dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"version":"1.0.0"}}}`,
    });
    assertEquals(await store.getPackageDoc("atomic", false), {
      rev: "1-a",
      doc: `{"_id":"atomic","_rev":"1-a","name":"atomic","description":"",` +
        `"dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"version":"1.0.0"}},` +
        `"time":{"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z",` +
        `"1.0.0":${JSON.stringify(published)}},` +
        `"maintainers":[{"name":"alice","email":""}],"readme":"# r",` +
        `"readmeFilename":"README.md","keywords":[]}`,
    });
    assertEquals(await store.getPackageDoc("nope", true), null);
    assertEquals(await store.getTarball("atomic", "atomic-1.0.0.tgz"), bytes);
  });

  await t.step("a version exists once", async () => {
    await rejectsWith(
      store.transaction((tx) =>
        tx.insertVersion(versionRow("atomic", "1.0.0"))
      ),
      StoreConflictError,
    );
    assertEquals((await store.getVersions("atomic")).length, 1);
  });

  await t.step(
    "removed versions are remembered; deleting a package removes its rows",
    async () => {
      await store.transaction(async (tx) => {
        await tx.insertVersion(versionRow("atomic", "1.1.0"));
        await tx.setDeprecated("atomic", "1.1.0", "old");
      });
      assertEquals(
        (await store.getVersions("atomic")).find((v) => v.version === "1.1.0")!
          .deprecated,
        "old",
      );
      await store.transaction((tx) =>
        tx.removeVersion("atomic", "1.1.0", "atomic-1.1.0.tgz")
      );
      assert(await store.isVersionRemoved("atomic", "1.1.0"));
      assert(!(await store.isVersionRemoved("atomic", "1.0.0")));
      await store.transaction((tx) => tx.deletePackage("atomic"));
      assert(await store.isVersionRemoved("atomic", "1.0.0"));
      assertEquals(await store.getPackage("atomic"), null);
      assertEquals(await store.getTarball("atomic", "atomic-1.0.0.tgz"), null);
    },
  );

  await t.step("users, tokens, orgs, settings", async () => {
    const n = await store.countUsers();
    await store.transaction(async (tx) => {
      await tx.createUser({
        name: "u1",
        email: null,
        passwordHash: "scrypt$x",
        admin: false,
        created: "t",
      });
      await tx.insertToken({
        key: "k1",
        hash: "h1",
        username: "u1",
        readonly: true,
        created: "t",
      });
      await tx.setOrgMember({ org: "o", username: "u1", role: "developer" });
      await tx.setOrgMember({ org: "o", username: "u1", role: "owner" });
    });
    await rejectsWith(
      store.transaction((tx) =>
        tx.createUser({
          name: "u1",
          email: null,
          passwordHash: "x",
          admin: false,
          created: "t",
        })
      ),
      StoreConflictError,
    );
    assertEquals(await store.countUsers(), n + 1);
    await store.transaction((tx) => tx.setAdmin("u1", true));
    assertEquals((await store.getUser("u1"))!.admin, true);
    assertEquals((await store.getTokenByHash("h1"))!.readonly, true);
    assertEquals((await store.listTokens("u1")).map((t) => t.key), ["k1"]);
    assertEquals(await store.getOrgMembers("o"), [{
      org: "o",
      username: "u1",
      role: "owner",
    }]);
    assert(
      !(await store.transaction((tx) => tx.deleteToken("someone-else", "k1"))),
    );
    assert(await store.transaction((tx) => tx.deleteToken("u1", "h1")));
    assertEquals(await store.getTokenByHash("h1"), null);
    await store.transaction((tx) => tx.removeOrgMember("o", "u1"));
    assertEquals(await store.getOrgMembers("o"), []);
    assertEquals(
      await store.transaction((tx) => tx.setMetaIfAbsent("m", "first")),
      "first",
    );
    assertEquals(
      await store.transaction((tx) => tx.setMetaIfAbsent("m", "second")),
      "first",
    );
    assertEquals(await store.getMeta("m"), "first");
  });

  await t.step(
    "search matches name, description and keywords; LIKE wildcards are literal",
    async () => {
      await store.transaction(async (tx) => {
        await tx.putPackage(
          pkgRow("tcplife", "1-a", { description: "TCP session lifespans" }),
        );
        await tx.putPackage(
          pkgRow("execsnoop", "1-b", {
            description: "Trace exec() calls",
            keywords: ["process"],
          }),
        );
      });
      assertEquals((await store.search("tcp", 10, 0)).rows.map((r) => r.name), [
        "tcplife",
      ]);
      assertEquals(
        (await store.search("PROCESS", 10, 0)).rows.map((r) => r.name),
        ["execsnoop"],
      );
      assertEquals((await store.search("%", 10, 0)).total, 0);
      assertEquals((await store.search("_", 10, 0)).total, 0);
      assertEquals((await store.search("", 1, 1)).rows.length, 1);
    },
  );

  await t.step(
    "publisher keys: one owner per key id, revocation kept",
    async () => {
      const row = {
        keyid: "ed25519:00112233445566778899aabbccddeeff",
        key: "AAAA",
        username: "u1",
        created: "2026-01-01T00:00:00.000Z",
        revoked: null,
      };
      await store.transaction((tx) => tx.insertPublisherKey(row));
      await rejectsWith(
        store.transaction((tx) =>
          tx.insertPublisherKey({ ...row, username: "u2" })
        ),
        StoreConflictError,
      );
      assertEquals(await store.getPublisherKey(row.keyid), row);
      assertEquals(await store.getPublisherKey("ed25519:none"), null);
      assertEquals(await store.listPublisherKeys("u1"), [row]);
      assertEquals(await store.listPublisherKeys("u2"), []);
      assert(
        await store.transaction((tx) => tx.revokePublisherKey(row.keyid, "t1")),
      );
      assert(
        !(await store.transaction((tx) =>
          tx.revokePublisherKey(row.keyid, "t2")
        )),
      );
      assertEquals((await store.getPublisherKey(row.keyid))!.revoked, "t1");
    },
  );

  await t.step(
    "publisher keys over HTTP: register, fetch, list, revoke",
    async () => {
      const h = await createRegistryHandler({ store });
      const B = "http://registry.test";
      const kalice = await signup(h, B, "kalice");
      const kbob = await signup(h, B, "kbob");
      const k = newPublisherKey();
      const path = `/-/bpfpm/v1/keys/${k.keyid}`;
      const put = (token: string | undefined, body: unknown, p = path) =>
        h(req(B, "PUT", p, { token, body }));
      // Unauthenticated, wrong fingerprint, a proof for someone else: refused, nothing stored.
      assertEquals((await put(undefined, keyBody(k, "kalice"))).status, 401);
      const other = newPublisherKey();
      const wrong = await put(kalice, {
        ...keyBody(k, "kalice"),
        key: other.key,
      });
      assertEquals(wrong.status, 400);
      assert(
        /does not match the key, whose id is/.test((await wrong.json()).error),
      );
      const stolen = await put(kalice, keyBody(k, "kbob"));
      assertEquals(stolen.status, 400);
      assert(/proof does not verify/.test((await stolen.json()).error));
      assertEquals((await h(req(B, "GET", path))).status, 404);
      // Register, then again (idempotent), then by another user (conflict).
      const first = await put(kalice, keyBody(k, "kalice"));
      assertEquals(first.status, 201);
      const again = await put(kalice, keyBody(k, "kalice"));
      assertEquals(again.status, 200);
      const taken = await put(kbob, keyBody(k, "kbob"));
      assertEquals(taken.status, 409);
      assert(/registered to another user/.test((await taken.json()).error));
      const got = await (await h(req(B, "GET", path))).json();
      assertEquals(
        { keyid: got.keyid, key: got.key, user: got.user },
        { keyid: k.keyid, key: k.key, user: "kalice" },
      );
      assert(!Number.isNaN(Date.parse(got.created)));
      const listed =
        await (await h(req(B, "GET", "/-/bpfpm/v1/keys?user=kalice")))
          .json();
      assertEquals(listed.keys.map((x: { keyid: string }) => x.keyid), [
        k.keyid,
      ]);
      assertEquals(
        (await (await h(req(B, "GET", "/-/bpfpm/v1/keys?user=kbob"))).json())
          .keys,
        [],
      );
      assertEquals(
        (await h(req(B, "GET", "/-/bpfpm/v1/keys?user=nobody"))).status,
        404,
      );
      // A signed publish: with one's own key it goes in; with a key registered to another
      // user, or with files altered after signing, it is refused.
      const files = [{
        path: "package.json",
        data: new TextEncoder().encode(
          JSON.stringify({ name: "keyed", version: "1.0.0" }),
        ),
      }];
      const signed = (key: typeof k, data = files) =>
        createTarball([...data, {
          path: "bpfpm-signature.json",
          data: signPackage("keyed", "1.0.0", files, key),
        }]);
      const pub = async (token: string, tarball: Uint8Array) =>
        await h(req(B, "PUT", "/keyed", {
          token,
          body: await publishDoc({ name: "keyed", version: "1.0.0" }, {}, {
            tarball,
          }),
        }));
      const foreign = await pub(kbob, await signed(k));
      assertEquals(foreign.status, 403);
      assert(/registered to kalice/.test((await foreign.json()).error));
      const altered = await pub(
        kalice,
        await signed(k, [...files, {
          path: "extra.js",
          data: new TextEncoder().encode("x"),
        }]),
      );
      assertEquals(altered.status, 400);
      assertEquals((await altered.json()).code, "bad-publisher-signature");
      assertEquals((await pub(kalice, await signed(k))).status, 201);
      // Revocation: only the owner; then GET answers 410 with the date, and the key id
      // cannot come back.
      assertEquals((await h(req(B, "DELETE", path))).status, 401);
      assertEquals(
        (await h(req(B, "DELETE", path, { token: kbob }))).status,
        403,
      );
      const revoked = await h(req(B, "DELETE", path, { token: kalice }));
      assertEquals(revoked.status, 200);
      const when = (await revoked.json()).revoked;
      const gone = await h(req(B, "GET", path));
      assertEquals(gone.status, 410);
      const goneBody = await gone.json();
      assertEquals([goneBody.user, goneBody.revoked], ["kalice", when]);
      assertEquals((await put(kalice, keyBody(k, "kalice"))).status, 410);
      assertEquals(
        (await (await h(req(B, "GET", "/-/bpfpm/v1/keys?user=kalice"))).json())
          .keys[0].revoked,
        when,
      );
      assertEquals(
        (await h(req(B, "DELETE", `/-/bpfpm/v1/keys/${other.keyid}`, {
          token: kalice,
        }))).status,
        404,
      );
    },
  );

  await t.step("writers of one package serialise: no lost update", async () => {
    await store.transaction((tx) => tx.putPackage(pkgRow("counter", "0-x")));
    await Promise.all(
      Array.from({ length: 10 }, () =>
        store.transaction(async (tx) => {
          await tx.lockPackage("counter");
          const p = await tx.getPackage("counter");
          await new Promise((r) => setTimeout(r, 2));
          await tx.putPackage({ ...p!, rev: `${parseInt(p!.rev) + 1}-x` });
        })),
    );
    assertEquals(await store.getPackageRev("counter"), "10-x");
  });
}

Deno.test("SQLite store", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-store-" });
  const store = openSqliteStore(`${dir}/s.db`);
  try {
    await storeSuite(t, store);
    await t.step("a second server on the same file is refused", () => {
      let message = "";
      try {
        openSqliteStore(`${dir}/s.db`);
      } catch (e) {
        message = (e as Error).message;
      }
      assert(
        /Another registry process is using .*PostgreSQL/.test(message),
        message,
      );
    });
  } finally {
    await store.close();
  }
  await t.step("after close, the file can be opened again", async () => {
    const again = openSqliteStore(`${dir}/s.db`);
    assertEquals(await again.getPackageRev("counter"), "10-x");
    await again.close();
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "PostgreSQL store, and several servers on one database",
  ignore: !hasPostgres,
  async fn(t) {
    const pg: TestPostgres = await startPostgres();
    try {
      const store = await connectPostgresStore(
        await pg.createDatabase("suite"),
      );
      try {
        await storeSuite(t, store);
      } finally {
        await store.close();
      }
      await t.step(
        "two servers on one database serve consistently",
        async () => {
          const url = await pg.createDatabase("multi");
          const [a, b] = await Promise.all([
            startRegistry({ database: url }),
            startRegistry({ database: url }),
          ]);
          try {
            const f = (r: Request) => fetch(r);
            const alice = await signup(f, a.url, "alice");
            const doc = await publishDoc({ name: "shared", version: "1.0.0" }, {
              "index.js": "",
            });
            assertEquals(
              (await fetch(
                req(a.url, "PUT", "/shared", { token: alice, body: doc }),
              )).status,
              201,
            );
            // Same signing key, same document from either server.
            const ka = await (await fetch(`${a.url}/-/npm/v1/keys`)).json();
            const kb = await (await fetch(`${b.url}/-/npm/v1/keys`)).json();
            assertEquals(ka, kb);
            const fromB = await (await fetch(`${b.url}/shared`)).json();
            assertEquals(fromB["dist-tags"].latest, "1.0.0");
            // A change through A is seen at once through B (B's cache checks the revision).
            const doc2 = await publishDoc(
              { name: "shared", version: "1.1.0" },
              { "index.js": "" },
            );
            assertEquals(
              (await fetch(
                req(b.url, "PUT", "/shared", { token: alice, body: doc2 }),
              )).status,
              201,
            );
            assertEquals(
              (await (await fetch(`${a.url}/shared`)).json())["dist-tags"]
                .latest,
              "1.1.0",
            );
            // Concurrent publishes of one version through both servers: exactly one wins.
            const docs = await Promise.all(
              Array.from({ length: 10 }, (_, i) =>
                publishDoc({
                  name: "shared",
                  version: "2.0.0",
                  description: `try ${i}`,
                }, { "index.js": "" })),
            );
            const statuses = await Promise.all(docs.map(async (d, i) => {
              const res = await fetch(
                req(i % 2 ? a.url : b.url, "PUT", "/shared", {
                  token: alice,
                  body: d,
                }),
              );
              await res.body?.cancel();
              return res.status;
            }));
            assertEquals(
              statuses.filter((s) => s === 201).length,
              1,
              statuses.join(","),
            );
            assertEquals(
              statuses.filter((s) => s === 403).length,
              9,
              statuses.join(","),
            );
            const versions = Object.keys(
              (await (await fetch(`${a.url}/shared`)).json()).versions,
            );
            assertEquals(versions.sort(), ["1.0.0", "1.1.0", "2.0.0"]);
          } finally {
            await a.close();
            await b.close();
          }
        },
      );
    } finally {
      await pg.stop();
    }
  },
});
