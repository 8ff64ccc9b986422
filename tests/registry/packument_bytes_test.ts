/**
 * The packuments, one version's manifest and the dist-tags as served, byte for byte,
 * against `fixtures/packument_bytes.txt`: the output of the registry from before the
 * packuments were assembled from the version rows (they used to be stored whole). The
 * scenario has a README, a prerelease under a tag, a second tag, a second maintainer and
 * a deprecation; revisions and the registry's signatures (random per store) are masked.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import { assertEquals } from "./_assert.ts";
import { publishDoc, req, signup } from "./_helpers.ts";
import { createRegistryHandler } from "../../registry/server/handler.ts";
import { openSqliteStore } from "../../registry/server/sql_store.ts";
import { BASE } from "../../registry/server/_docs.ts";

const FIXTURE = new URL("./fixtures/packument_bytes.txt", import.meta.url);

Deno.test("packuments assembled from rows are byte-identical to the stored ones of before", async () => {
  let t = Date.parse("2026-02-01T00:00:00.000Z");
  const store = openSqliteStore(":memory:");
  try {
    const h = await createRegistryHandler({
      store,
      now: () => new Date(t += 1000),
    });
    const B = "http://r.test";
    const tok = await signup(h, B, "alice");
    await signup(h, B, "bob");
    const pj = (v: string) => ({
      name: "idpkg",
      version: v,
      description: `d ${v}`,
      keywords: ["bpf", v],
      license: "MIT",
      repository: { type: "git", url: "x" },
      dependencies: { a: "^1" },
      bin: "./cli.js",
      scripts: { postinstall: "x" },
    });
    const publish = async (v: string, tag?: string, readme = true) => {
      const files: Record<string, string> = { "cli.js": "x" };
      if (readme) files["README.md"] = `# readme ${v}`;
      const r = await h(req(B, "PUT", "/idpkg", {
        token: tok,
        body: await publishDoc(pj(v), files, { tag }),
      }));
      assertEquals(r.status, 201, await r.text());
    };
    await publish("1.0.0");
    await publish("1.1.0");
    await publish("2.0.0-beta.1", "beta", false);
    let r = await h(req(B, "PUT", "/-/package/idpkg/dist-tags/stable", {
      token: tok,
      body: "1.0.0",
    }));
    assertEquals(r.status, 200, await r.text());
    const full = await (await h(req(B, "GET", "/idpkg?write=true", {
      token: tok,
    }))).json();
    full.versions["1.0.0"].deprecated = "old";
    full.maintainers = [{ name: "alice" }, { name: "bob" }];
    r = await h(req(B, "PUT", `/idpkg/-rev/${full._rev}`, {
      token: tok,
      body: full,
    }));
    assertEquals(r.status, 200, await r.text());
    const out: string[] = [];
    for (
      const [path, accept] of [
        ["/idpkg", "application/json"],
        ["/idpkg", "application/vnd.npm.install-v1+json"],
        ["/idpkg/1.0.0", "application/json"],
        ["/idpkg/beta", "application/json"],
        ["/-/package/idpkg/dist-tags", "application/json"],
      ]
    ) {
      const res = await h(
        new Request(`${B}${path}`, { headers: { accept } }),
      );
      out.push(`${res.status} ${res.headers.get("etag")} ${await res.text()}`);
    }
    const page = await h(new Request(`${B}/package/idpkg`));
    out.push(`${page.status} ${(await page.text()).length}`);
    const masked = out.join("\n")
      .replace(/"sig":"[^"]*"/g, '"sig":S')
      .replace(/"keyid":"[^"]*"/g, '"keyid":K')
      .replace(/\d+-[0-9a-f]{32}/g, "REV");
    assertEquals(masked + "\n", await Deno.readTextFile(FIXTURE));
  } finally {
    await store.close();
  }
});

Deno.test("a large packument kept across revisions equals one assembled cold, plain and gzipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-packument-" });
  const B = "http://r.test";
  const store = openSqliteStore(`${dir}/r.db`);
  let closed = false;
  try {
    const h = await createRegistryHandler({ store });
    const tok = await signup(h, B, "alice");
    const pj = (v: string) => {
      const dependencies: Record<string, string> = {};
      for (let i = 0; i < 250; i++) {
        dependencies[`dependency-number-${i}`] = "^1";
      }
      return {
        name: "bigpkg",
        version: v,
        description: `d ${v}`,
        dependencies,
      };
    };
    const publish = async (v: string) => {
      const r = await h(req(B, "PUT", "/bigpkg", {
        token: tok,
        body: await publishDoc(pj(v), { "README.md": `# ${v}` }),
      }));
      assertEquals(r.status, 201, await r.text());
    };
    /** Both documents, plain and gzipped; the gzip body must unpack to the plain one. */
    const read = async () => {
      const docs: string[] = [];
      for (
        const accept of [
          "application/vnd.npm.install-v1+json",
          "application/json",
        ]
      ) {
        const plain =
          await (await h(new Request(`${B}/bigpkg`, { headers: { accept } })))
            .text();
        const zipped = await h(
          new Request(`${B}/bigpkg`, {
            headers: { accept, "accept-encoding": "gzip" },
          }),
        );
        assertEquals(zipped.headers.get("content-encoding"), "gzip");
        const body = new Uint8Array(await zipped.arrayBuffer());
        assertEquals(new TextDecoder().decode(gunzipSync(body)), plain);
        docs.push(plain);
      }
      return docs;
    };
    const versions: string[] = [];
    for (let i = 0; i < 24; i++) {
      versions.push(`1.${i}.0`);
      await publish(versions.at(-1)!);
      if (i === 0 || i === 11 || i === 23) {
        const [abbrev] = await read();
        assertEquals(Object.keys(JSON.parse(abbrev).versions), versions);
      }
    }
    // A deprecation in the first block and an unpublish in the middle change earlier blocks.
    const full =
      await (await h(req(B, "GET", "/bigpkg?write=true", { token: tok })))
        .json();
    full.versions["1.2.0"].deprecated = "use 2";
    delete full.versions["1.12.0"];
    const r = await h(
      req(B, "PUT", `/bigpkg/-rev/${full._rev}`, { token: tok, body: full }),
    );
    assertEquals(r.status, 200, await r.text());
    versions.splice(versions.indexOf("1.12.0"), 1);
    let [abbrev] = await read();
    assertEquals(Object.keys(JSON.parse(abbrev).versions), versions);
    assertEquals(JSON.parse(abbrev).versions["1.2.0"].deprecated, "use 2");
    await publish("1.24.0");
    versions.push("1.24.0");
    const served = await read();
    abbrev = served[0];
    assertEquals(Object.keys(JSON.parse(abbrev).versions), versions);
    assertEquals(JSON.parse(served[1]).readme, "# 1.24.0");
    await store.close();
    closed = true;
    // Another process, with nothing cached, assembles the same bytes.
    const cold = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { openSqliteStore } from ${
          JSON.stringify(
            new URL("../../registry/server/sql_store.ts", import.meta.url).href,
          )
        };
         const s = openSqliteStore(${JSON.stringify(`${dir}/r.db`)});
         const out = [];
         for (const a of [true, false]) out.push((await s.getPackageDoc("bigpkg", a)).doc);
         await s.close();
         console.log(JSON.stringify(out));`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assertEquals(cold.code, 0);
    const expected =
      (JSON.parse(new TextDecoder().decode(cold.stdout)) as string[])
        .map((d) => d.replaceAll(BASE, B));
    assertEquals(served, expected);
  } finally {
    if (!closed) await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
