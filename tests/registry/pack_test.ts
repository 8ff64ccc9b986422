import { assert, assertEquals } from "./_assert.ts";
import { gzip, hostileCases, pjEntry, rawTar } from "./_hostile.ts";
import {
  createTarball,
  inspectTarball,
  TarballError,
} from "../../registry/pack/mod.ts";

async function refusal(p: Promise<unknown>): Promise<TarballError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TarballError) return e;
    throw e;
  }
  throw new Error("the tarball was accepted");
}

Deno.test("inspectTarball reads a valid package", async () => {
  const tgz = await createTarball({
    "package.json": JSON.stringify({ name: "ok", version: "1.0.0" }),
    "lib/index.js": "module.exports = 1;\n",
  });
  const { packageJson, entries } = await inspectTarball(tgz);
  assertEquals(packageJson, { name: "ok", version: "1.0.0" });
  assertEquals(entries.map((e) => e.path), [
    "package/lib/index.js",
    "package/package.json",
  ]);
  assertEquals(
    new TextDecoder().decode(entries[0].data),
    "module.exports = 1;\n",
  );
  assertEquals(entries[0].type, "file");
});

Deno.test("inspectTarball refuses every hostile tarball with its reason", async (t) => {
  for (const c of await hostileCases("evil", "1.0.0")) {
    await t.step(c.label, async () => {
      const e = await refusal(inspectTarball(c.tgz));
      assertEquals(e.reason, c.reason, `${c.label}: ${e.message}`);
      assert(e.message.length > 10);
    });
  }
});

Deno.test("inspectTarball stops a gzip bomb early", async () => {
  const bomb = await gzip(
    await rawTar([pjEntry("b", "1.0.0"), {
      name: "package/z",
      data: new Uint8Array(200 * 1024 * 1024),
    }]),
  );
  const before = performance.now();
  const e = await refusal(
    inspectTarball(bomb, { maxUnpackedSize: 1024 * 1024 }),
  );
  assertEquals(e.reason, "too-large-unpacked");
  assert(performance.now() - before < 5000, "the bomb was not stopped early");
});

Deno.test("inspectTarball enforces the caps", async () => {
  const pj = pjEntry("c", "1.0.0");
  const many = await gzip(
    await rawTar([
      pj,
      ...Array.from(
        { length: 20 },
        (_, i) => ({ name: `package/f${i}`, data: "x" }),
      ),
    ]),
  );
  assertEquals(
    (await refusal(inspectTarball(many, { maxFiles: 10 }))).reason,
    "too-many-files",
  );
  assertEquals(
    (await refusal(inspectTarball(many, { maxCompressedSize: 100 }))).reason,
    "too-large-compressed",
  );
  const big = await gzip(
    await rawTar([pj, {
      name: "package/big",
      data: crypto.getRandomValues(new Uint8Array(60000)),
    }]),
  );
  assertEquals(
    (await refusal(inspectTarball(big, { maxUnpackedSize: 50000 }))).reason,
    "too-large-unpacked",
  );
  const long = await gzip(
    await rawTar([pj, { name: `package/${"a/".repeat(600)}x`, data: "x" }]),
  );
  assertEquals((await refusal(inspectTarball(long))).reason, "bad-path");
  const backslash = await gzip(
    await rawTar([pj, { name: "package/..\\..\\x", data: "x" }]),
  );
  assertEquals((await refusal(inspectTarball(backslash))).reason, "bad-path");
});

Deno.test("inspectTarball drops setuid, setgid and sticky bits", async () => {
  const tgz = await gzip(
    await rawTar([pjEntry("m", "1.0.0"), {
      name: "package/bin/x",
      data: "#!/bin/sh\n",
      mode: 0o6755,
    }]),
  );
  const { entries } = await inspectTarball(tgz);
  assertEquals(entries.find((e) => e.path === "package/bin/x")!.mode, 0o755);
});
