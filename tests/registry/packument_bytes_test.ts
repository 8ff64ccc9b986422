/**
 * The packuments, one version's manifest and the dist-tags as served, byte for byte,
 * against `fixtures/packument_bytes.txt`: the output of the registry from before the
 * packuments were assembled from the version rows (they used to be stored whole). The
 * scenario has a README, a prerelease under a tag, a second tag, a second maintainer and
 * a deprecation; revisions and the registry's signatures (random per store) are masked.
 *
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { publishDoc, req, signup } from "./_helpers.ts";
import { createRegistryHandler } from "../../registry/server/handler.ts";
import { openSqliteStore } from "../../registry/server/sql_store.ts";

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
