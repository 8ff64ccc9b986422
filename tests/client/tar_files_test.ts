/**
 * registry/client/_tar_files.ts (what `bpfpm run` of an installed package reads its verified
 * tarball with) gives the files the inspector gives, on tarballs from our packer (every
 * shipped probe, long paths), from npm pack and from GNU tar in its three formats.
 */
import * as assert from "node:assert/strict";
import { createTarball, inspectTarball } from "../../registry/pack/mod.ts";
import { tarballFiles } from "../../registry/client/_tar_files.ts";

const REPO = new URL("../../", import.meta.url);

/** The inspector's files of a tarball, keyed as tarballFiles keys them. */
async function inspected(tgz: Uint8Array): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const e of (await inspectTarball(tgz)).entries) {
    if (e.type === "file") {
      out.set(e.path.slice("package/".length), e.data ?? new Uint8Array());
    }
  }
  return out;
}

async function assertSame(tgz: Uint8Array, what: string): Promise<number> {
  const ours = await tarballFiles(tgz);
  const theirs = await inspected(tgz);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), what);
  for (const [path, data] of theirs) {
    assert.deepEqual(ours.get(path), data, `${what}: ${path}`);
  }
  return ours.size;
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${dir}/${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...filesUnder(dir, path));
    else if (e.isFile) out.push(path);
  }
  return out;
}

// Paths that need ustar's prefix field (over 100 bytes), and a pax or GNU long name (a
// component over 155 bytes, or over 255 bytes in all).
const LONG = {
  "package.json": JSON.stringify({ name: "long", version: "1.0.0" }),
  [`${"d".repeat(60)}/${"e".repeat(60)}/file.ts`]: "prefix",
  [`${"f".repeat(120)}.ts`]: "long last component",
  [`${"g".repeat(150)}/${"h".repeat(150)}/deep.ts`]: "over 255 in all",
  "é/ünïcode.ts": "utf-8 names",
  "empty.txt": "",
  "big.bin": "x".repeat(70_000),
};

Deno.test("tarballFiles reads what the inspector reads: our packer, every shipped probe, long paths", async () => {
  assert.equal(await assertSame(await createTarball(LONG), "long"), 7);
  let probes = 0;
  for (const e of Deno.readDirSync(new URL("probes/", REPO))) {
    const dir = new URL(`probes/${e.name}`, REPO).pathname;
    if (!e.isDirectory || e.name.startsWith("_")) continue;
    const files: Record<string, Uint8Array> = {};
    for (const f of filesUnder(dir)) {
      files[f] = Deno.readFileSync(`${dir}/${f}`);
    }
    if (!files["package.json"]) continue;
    await assertSame(await createTarball(files), e.name);
    probes++;
  }
  assert.ok(probes >= 18, `${probes} probes packed`);
});

Deno.test("tarballFiles reads npm pack's and GNU tar's (gnu, pax, ustar) tarballs as the inspector does", async () => {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-tar-" });
  try {
    const pkg = `${root}/package`;
    for (const [path, text] of Object.entries(LONG)) {
      const dir = `${pkg}/${path}`.slice(0, `${pkg}/${path}`.lastIndexOf("/"));
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(`${pkg}/${path}`, text);
    }
    let read = 0;
    for (const format of ["gnu", "pax", "ustar"]) {
      const out = `${root}/${format}.tgz`;
      // ustar cannot hold a last component over 100 bytes or a name over 255.
      const skip = format === "ustar"
        ? [`--exclude=${"f".repeat(120)}.ts`, `--exclude=${"g".repeat(150)}`]
        : [];
      const args = ["-czf", out, `--format=${format}`, ...skip, "-C", root];
      args.push("package");
      const r = await new Deno.Command("tar", { args, stderr: "piped" })
        .output();
      assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
      read += await assertSame(await Deno.readFile(out), `tar ${format}`);
    }
    const npm = await new Deno.Command("npm", {
      args: ["pack", "--silent", "--pack-destination", root],
      cwd: pkg,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(npm.code, 0, new TextDecoder().decode(npm.stderr));
    read += await assertSame(
      await Deno.readFile(`${root}/long-1.0.0.tgz`),
      "npm pack",
    );
    assert.ok(read >= 4 * 6, `${read} files read`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tarballFiles refuses what is not a tarball of files", async () => {
  const tgz = await createTarball(LONG);
  const tar = new Uint8Array(
    await new Response(
      new Blob([tgz as Uint8Array<ArrayBuffer>]).stream()
        .pipeThrough(new DecompressionStream("gzip")),
    ).arrayBuffer(),
  );
  tar[10] ^= 1; // the first header's name, so its checksum fails
  const gz = new Uint8Array(
    await new Response(
      new Blob([tar]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  await assert.rejects(() => tarballFiles(gz), /fails its checksum/);
  await assert.rejects(() => tarballFiles(new Uint8Array([1, 2, 3])));
});
