/**
 * runtime/_path.ts keeps node:path's POSIX meaning (it replaces node:path on start-up paths):
 * every function is compared with node:path on the same inputs, and the file URL helpers
 * with node:url's.
 */
import * as assert from "node:assert/strict";
import * as node from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as ours from "../../runtime/_path.ts";

const PATHS = [
  "",
  ".",
  "..",
  "/",
  "//",
  "///a",
  "a",
  "a/",
  "/a/b/c",
  "/a/b/c/",
  "a/b/../c",
  "../../x",
  "/../x",
  "./a/./b/.",
  "a//b///c",
  "/a/b/../../..",
  "a/..",
  "a/../..",
  ".bashrc",
  "/x/.bashrc",
  "/x/y.bpf.c",
  "/x/y.",
  "/x/y..",
  "name.tar.gz/",
];

Deno.test("normalize, dirname, basename, extname, isAbsolute agree with node:path", () => {
  for (const p of PATHS) {
    assert.equal(ours.normalize(p), node.normalize(p), `normalize(${p})`);
    assert.equal(ours.dirname(p), node.dirname(p), `dirname(${p})`);
    assert.equal(ours.basename(p), node.basename(p), `basename(${p})`);
    assert.equal(ours.extname(p), node.extname(p), `extname(${p})`);
    assert.equal(ours.isAbsolute(p), node.isAbsolute(p), `isAbsolute(${p})`);
    // node:path keeps trailing slashes and the root when stripping a suffix (quirks no
    // caller relies on): compared on file names only.
    if (p.endsWith("/") || !ours.basename(p)) continue;
    for (const s of [".c", ".bpf.c", "c", "y.bpf.c", ".gz"]) {
      if (ours.basename(p) === s) continue; // node: "" for "c", "c"; "c" for "/a/c", "c"
      assert.equal(
        ours.basename(p, s),
        node.basename(p, s),
        `basename(${p}, ${s})`,
      );
    }
  }
});

Deno.test("join, resolve and relative agree with node:path", () => {
  for (const a of PATHS) {
    for (const b of PATHS) {
      assert.equal(ours.join(a, b), node.join(a, b), `join(${a}, ${b})`);
      assert.equal(
        ours.resolve(a, b),
        node.resolve(a, b),
        `resolve(${a}, ${b})`,
      );
      assert.equal(
        ours.relative(a, b),
        node.relative(a, b),
        `relative(${a}, ${b})`,
      );
    }
  }
  assert.equal(ours.join(), node.join());
  assert.equal(ours.resolve(), node.resolve());
  assert.equal(
    ours.join("/a", "b", "../c", "d"),
    node.join("/a", "b", "../c", "d"),
  );
  assert.equal(ours.sep, node.sep);
});

Deno.test("fromFileUrl and toFileUrl agree with node:url, also for %, #, ? and spaces", () => {
  for (
    const p of [
      "/tmp/a b.ts",
      "/x/%41.ts",
      "/x/a#b?c.ts",
      "/ü/ñ.ts",
      "/a\\b",
      "/",
    ]
  ) {
    assert.equal(ours.toFileUrl(p).href, pathToFileURL(p).href, p);
    assert.equal(ours.fromFileUrl(ours.toFileUrl(p)), p);
    assert.equal(
      ours.fromFileUrl(pathToFileURL(p).href),
      fileURLToPath(pathToFileURL(p)),
    );
  }
  assert.throws(() => ours.toFileUrl("rel/x"), /not absolute/);
  assert.throws(
    () => ours.fromFileUrl("https://example.com/x"),
    /not a file: URL/,
  );
});
