import assert from "node:assert/strict";
import { join } from "node:path";
import { inspectTarball } from "../../registry/pack/mod.ts";
import { loadConfig } from "../../registry/client/config.ts";
import { pack, stopBundler } from "../../registry/client/publish.ts";
import { verifyPublisherSignature } from "../../registry/common/publisher_signature.ts";
import { Ui } from "../../registry/client/ui.ts";
import { bpfpm, sandbox } from "./_helpers.ts";
import { integrityOf } from "../../registry/common/digests.ts";

const quiet = new Ui({ quiet: true, tty: false });

Deno.test("pack bundles the entry (bpf external), signs, and gives the same bytes twice", async () => {
  await using _bundler = { [Symbol.asyncDispose]: stopBundler };
  await using s = await sandbox();
  const dir = join(s.root, "p");
  await Deno.mkdir(join(dir, "src"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({
      name: "packme",
      version: "2.0.0",
      files: ["main.ts", "src/"],
      bpf: {
        entry: "main.ts",
        grants: { attach: [{ kind: "raw_tp" }] },
        deno: ["--allow-net=127.0.0.1"],
      },
    }),
  );
  await Deno.writeTextFile(
    join(dir, "main.ts"),
    `import { BPF } from "bpf";\nimport { helper } from "./src/helper.ts";\nconsole.log(BPF, helper());\n`,
  );
  await Deno.writeTextFile(
    join(dir, "src", "helper.ts"),
    `export function helper(): string { return "from-helper"; }\n`,
  );
  await Deno.writeTextFile(join(dir, "secret.env"), "TOKEN=1");
  const config = loadConfig({ cwd: s.project, env: s.env });
  const out = join(s.root, "packme.tgz");
  const a = await pack(config, dir, { ui: quiet, out });
  const b = await pack(config, dir, { ui: quiet });
  assert.equal(a.summary.integrity, b.summary.integrity);
  assert.equal(a.path, out);
  const { entries, packageJson } = await inspectTarball(
    await Deno.readFile(out),
  );
  assert.deepEqual(entries.map((e) => e.path).sort(), [
    "package/bpfpm-signature.json",
    "package/main.bundle.js",
    "package/main.ts",
    "package/package.json",
    "package/src/helper.ts",
  ]);
  assert.equal((packageJson.bpf as { entry: string }).entry, "main.bundle.js");
  const bundle = new TextDecoder().decode(
    entries.find((e) => e.path === "package/main.bundle.js")!.data,
  );
  assert.match(bundle, /from "bpf"/);
  assert.match(bundle, /from-helper/);
  assert.doesNotMatch(bundle, /\.\/src\/helper/);
  assert.equal(
    verifyPublisherSignature("packme", "2.0.0", entries),
    a.summary.signedBy,
  );
  assert.deepEqual(a.summary.grants, [
    "attach raw_tp",
    "deno --allow-net=127.0.0.1",
  ]);
});

Deno.test("pack refuses an invalid manifest, a missing entry, and an entry that does not bundle", async () => {
  await using _bundler = { [Symbol.asyncDispose]: stopBundler };
  await using s = await sandbox();
  const config = loadConfig({ cwd: s.project, env: s.env });
  const dir = join(s.root, "bad");
  await Deno.mkdir(dir, { recursive: true });
  const write = (pj: unknown, main?: string) =>
    Promise.all([
      Deno.writeTextFile(join(dir, "package.json"), JSON.stringify(pj)),
      main === undefined
        ? Promise.resolve()
        : Deno.writeTextFile(join(dir, "main.ts"), main),
    ]);
  await write({
    name: "bad",
    version: "1.0.0",
    bpf: { entry: "main.ts", grants: { helpers: ["rm_rf"] } },
  }, "1");
  await assert.rejects(
    pack(config, dir, { ui: quiet }),
    /bpf\.grants\.helpers\[0\]: must be one of/,
  );
  await write({ name: "bad", version: "1", bpf: { entry: "main.ts" } });
  await assert.rejects(
    pack(config, dir, { ui: quiet }),
    /version "1" is not a semver version/,
  );
  await write({
    name: "bad",
    version: "1.0.0",
    files: ["other.ts"],
    bpf: { entry: "main.ts" },
  });
  await assert.rejects(
    pack(config, dir, { ui: quiet }),
    /main\.ts is named in the bpf manifest but is not among the packed files/,
  );
  await write(
    { name: "bad", version: "1.0.0", bpf: { entry: "main.ts" } },
    `import { x } from "./nowhere.ts";\nconsole.log(x);\n`,
  );
  await assert.rejects(
    pack(config, dir, { ui: quiet }),
    /The entry main\.ts does not bundle:\n.*nowhere/,
  );
});

Deno.test("bpfpm pack writes the tarball and reports it", async () => {
  await using s = await sandbox();
  const dir = join(s.root, "cli-pack");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    join(dir, "package.json"),
    JSON.stringify({ name: "cli-pack", version: "0.0.1" }),
  );
  await Deno.writeTextFile(join(dir, "index.js"), "export {};\n");
  const r = await bpfpm(["pack", dir, "--json", "--no-sign"], {
    cwd: s.root,
    env: s.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.path, join(s.root, "cli-pack-0.0.1.tgz"));
  const bytes = await Deno.readFile(summary.path);
  assert.equal(summary.integrity, integrityOf(bytes));
  assert.equal(summary.signedBy, undefined);
  assert.deepEqual(summary.files.map((f: { path: string }) => f.path), [
    "index.js",
    "package.json",
  ]);
});
