/**
 * runtime/_fs.ts keeps node:fs's meaning where the client's start-up modules used node:fs:
 * each helper is compared with the node:fs call it replaced, on real files.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import {
  exists,
  fileHolds,
  lstatOrUndefined,
  namesIn,
  removeIfThere,
} from "../../runtime/_fs.ts";

Deno.test("exists, namesIn and lstatOrUndefined agree with existsSync, readdirSync and lstatSync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-fs-" });
  try {
    for (const n of ["b", "a", "C", "_x", "a.b"]) {
      Deno.writeTextFileSync(`${dir}/${n}`, n);
    }
    Deno.symlinkSync(`${dir}/missing`, `${dir}/dangling`);
    Deno.symlinkSync(`${dir}/a`, `${dir}/link`);
    for (
      const p of [
        dir,
        `${dir}/a`,
        `${dir}/nope`,
        `${dir}/dangling`,
        `${dir}/link`,
        "",
      ]
    ) {
      assert.equal(exists(p), fs.existsSync(p), p);
      const ours = lstatOrUndefined(p);
      let theirs: fs.Stats | undefined;
      try {
        theirs = fs.lstatSync(p);
      } catch { /* absent */ }
      assert.equal(ours?.isSymlink, theirs?.isSymbolicLink(), p);
      assert.equal(ours?.isFile, theirs?.isFile(), p);
    }
    assert.deepEqual(namesIn(dir), fs.readdirSync(dir));
    assert.deepEqual(namesIn(`${dir}/nope`), []);
    // Only "nothing there" is undefined: a path through a file is an error.
    assert.equal(exists(`${dir}/a/x`), false);
    assert.throws(
      () => lstatOrUndefined(`${dir}/a/x`),
      Deno.errors.NotADirectory,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("removeIfThere is rmSync with force", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-fs-" });
  try {
    Deno.mkdirSync(`${dir}/t/u`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/t/u/f`, "x");
    assert.throws(() => removeIfThere(`${dir}/t`));
    removeIfThere(`${dir}/t`, { recursive: true });
    assert.equal(fs.existsSync(`${dir}/t`), false);
    removeIfThere(`${dir}/t`, { recursive: true });
    removeIfThere(`${dir}/never`);
    // As rmSync with force, only "nothing there" is quiet: a path through a file is not.
    Deno.writeTextFileSync(`${dir}/f`, "x");
    assert.throws(() => fs.rmSync(`${dir}/f/x`, { force: true }));
    assert.throws(() => removeIfThere(`${dir}/f/x`), Deno.errors.NotADirectory);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileHolds: only a regular file with exactly these bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-fs-" });
  try {
    const data = new TextEncoder().encode("probe code");
    Deno.writeFileSync(`${dir}/f`, data);
    assert.equal(fileHolds(`${dir}/f`, data), true);
    assert.equal(fileHolds(`${dir}/f`, data.subarray(1)), false);
    assert.equal(fileHolds(`${dir}/f`, new Uint8Array(data.length)), false);
    assert.equal(fileHolds(`${dir}/missing`, new Uint8Array()), false);
    assert.equal(fileHolds(dir, new Uint8Array()), false);
    Deno.symlinkSync(`${dir}/f`, `${dir}/l`);
    assert.equal(fileHolds(`${dir}/l`, data), true, "a symlink to it, as stat");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
