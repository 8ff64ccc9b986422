import assert from "node:assert/strict";
import { join } from "node:path";
import { createTarball } from "../../registry/pack/mod.ts";
import { loadConfig } from "../../registry/client/config.ts";
import { ResolveError } from "../../registry/client/errors.ts";
import { install } from "../../registry/client/install.ts";
import { verifyInstalled } from "../../registry/client/commands.ts";
import { stableStringify } from "../../registry/common/stable_json.ts";
import { RegistryClient } from "../../registry/client/registry.ts";
import { parseSpec, resolveTree } from "../../registry/client/resolve.ts";
import { Ui } from "../../registry/client/ui.ts";
import { fakeRegistry, type FakeVersion } from "./_fake_registry.ts";
import { sandbox, snapshot } from "./_helpers.ts";

const quiet = new Ui({ quiet: true, tty: false });

async function v(
  name: string,
  version: string,
  dependencies?: Record<string, string>,
): Promise<FakeVersion> {
  const tarball = await createTarball({
    "package.json": JSON.stringify({ name, version, dependencies }),
    "index.js": `${name}@${version}`,
  });
  return { name, version, tarball, dependencies };
}

async function universe() {
  return [
    await v("shared", "1.0.0"),
    await v("shared", "1.2.0"),
    await v("shared", "2.0.0"),
    await v("x", "1.0.0", { shared: "^1.0.0" }),
    await v("y", "1.0.0", { shared: "^2.0.0" }),
    await v("z", "1.0.0", { x: "^1.0.0", shared: "~1.2.0" }),
    await v("cyc-a", "1.0.0", { "cyc-b": "^1" }),
    await v("cyc-b", "1.0.0", { "cyc-a": "^1" }),
  ];
}

Deno.test("the tree is deduplicated, conflicts nest, cycles end, and the result is deterministic", async () => {
  await using reg = await fakeRegistry(await universe(), {
    distTags: { shared: { next: "2.0.0" } },
  });
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const lock = await resolveTree(new RegistryClient(config), {
    z: "^1",
    y: "^1",
    x: "^1",
    "cyc-a": "^1",
  });
  const got = Object.fromEntries(
    Object.entries(lock.packages).map(([k, e]) => [k, e.version]),
  );
  assert.deepEqual(got, {
    "bpf_modules/cyc-a": "1.0.0",
    "bpf_modules/cyc-b": "1.0.0",
    "bpf_modules/shared": "1.2.0",
    "bpf_modules/x": "1.0.0",
    "bpf_modules/y": "1.0.0",
    "bpf_modules/y/bpf_modules/shared": "2.0.0",
    "bpf_modules/z": "1.0.0",
  });
  const again = await resolveTree(new RegistryClient(config), {
    "cyc-a": "^1",
    x: "^1",
    y: "^1",
    z: "^1",
  });
  assert.equal(stableStringify(again.packages), stableStringify(lock.packages));

  await install(config, {
    add: ["x", "y", "z", "cyc-a"],
    yes: true,
    ui: quiet,
  });
  const files = await snapshot(join(s.project, "bpf_modules"));
  assert.equal(files["y/bpf_modules/shared/index.js"], "shared@2.0.0");
  assert.equal(files["shared/index.js"], "shared@1.2.0");
  assert.deepEqual((await verifyInstalled(config)).problems, []);
  const pj = JSON.parse(
    await Deno.readTextFile(join(s.project, "package.json")),
  );
  assert.deepEqual(pj.dependencies, {
    "cyc-a": "^1.0.0",
    x: "^1.0.0",
    y: "^1.0.0",
    z: "^1.0.0",
  });
});

Deno.test("dist-tags resolve, locked versions are kept, update moves within the range", async () => {
  await using reg = await fakeRegistry(await universe(), {
    distTags: { shared: { next: "2.0.0" } },
  });
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { shared: "~1.0.0" } }),
  );
  let r = await install(config, { ui: quiet });
  assert.equal(r.lock.packages["bpf_modules/shared"].version, "1.0.0");
  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { shared: "^1.0.0" } }),
  );
  r = await install(config, { ui: quiet });
  assert.equal(
    r.lock.packages["bpf_modules/shared"].version,
    "1.0.0",
    "a locked version that still satisfies is kept",
  );
  r = await install(config, { update: "all", ui: quiet });
  assert.equal(r.lock.packages["bpf_modules/shared"].version, "1.2.0");
  r = await install(config, { add: ["shared@next"], ui: quiet });
  assert.equal(r.lock.packages["bpf_modules/shared"].version, "2.0.0");
  assert.equal(
    JSON.parse(await Deno.readTextFile(join(s.project, "package.json")))
      .dependencies.shared,
    "^2.0.0",
  );
  const err = await install(config, { add: ["shared@^3"], ui: quiet }).catch((
    e,
  ) => e);
  assert.ok(err instanceof ResolveError);
  assert.deepEqual(err.available, ["1.0.0", "1.2.0", "2.0.0"]);
  const frozen = await install(config, { frozenLockfile: true, ui: quiet });
  assert.equal(frozen.lock.packages["bpf_modules/shared"].version, "2.0.0");
  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { shared: "^1.0.0" } }),
  );
  const stale = await install(config, { frozenLockfile: true, ui: quiet })
    .catch((e) => e);
  assert.equal(stale.code, "ELOCKFILE");
  assert.match(stale.message, /bpfpm\.lock does not match package\.json/);
});

Deno.test("metadata is revalidated with ETags and installs work offline from the cache", async () => {
  await using reg = await fakeRegistry(await universe());
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  await install(config, { add: ["z"], ui: quiet });
  await Deno.remove(join(s.project, "bpfpm.lock"));
  reg.requests.length = 0;
  await install(config, { ui: quiet });
  const meta = reg.requests.filter((q) =>
    !q.path.startsWith("/tarballs/") && !q.path.startsWith("/-/")
  );
  assert.ok(meta.length >= 3);
  assert.ok(meta.every((q) => q.status === 304), JSON.stringify(meta));
  assert.equal(
    reg.requests.filter((q) => q.path.startsWith("/tarballs/")).length,
    0,
  );

  await using s2 = await sandbox("http://127.0.0.1:9/");
  const offline = loadConfig({
    cwd: s2.project,
    env: { ...s2.env, BPFPM_CACHE_DIR: s.cache },
  });
  await Deno.copyFile(
    join(s.project, "package.json"),
    join(s2.project, "package.json"),
  );
  await Deno.copyFile(
    join(s.project, "bpfpm.lock"),
    join(s2.project, "bpfpm.lock"),
  );
  const r = await install(offline, {
    offline: true,
    frozenLockfile: true,
    ui: quiet,
  });
  assert.deepEqual(Object.keys(r.lock.packages).sort(), [
    "bpf_modules/shared",
    "bpf_modules/x",
    "bpf_modules/z",
  ]);
  assert.equal(r.downloaded, 0);
});

Deno.test("package specs parse, and bad names are refused", () => {
  assert.deepEqual(parseSpec("tcplife"), {
    name: "tcplife",
    range: "latest",
    explicit: false,
  });
  assert.deepEqual(parseSpec("@acme/tool@^1.2"), {
    name: "@acme/tool",
    range: "^1.2",
    explicit: true,
  });
  assert.deepEqual(parseSpec("x@next"), {
    name: "x",
    range: "next",
    explicit: true,
  });
  assert.throws(() => parseSpec("../evil"), TypeError);
  assert.throws(() => parseSpec("UPPER"), TypeError);
});

Deno.test("a bpf_modules shipped inside a tarball is not installed", async () => {
  const smuggler = await createTarball({
    "package.json": JSON.stringify({ name: "smuggler", version: "1.0.0" }),
    "index.js": "ok",
    "bpf_modules/shared/index.js": "smuggled",
    "bpf_modules/shared/package.json": JSON.stringify({
      name: "shared",
      version: "9.9.9",
    }),
  });
  await using reg = await fakeRegistry([{
    name: "smuggler",
    version: "1.0.0",
    tarball: smuggler,
  }]);
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  await install(config, { add: ["smuggler"], ui: quiet });
  const files = await snapshot(join(s.project, "bpf_modules"));
  assert.deepEqual(Object.keys(files).sort(), [
    "smuggler/index.js",
    "smuggler/package.json",
  ]);
  assert.deepEqual((await verifyInstalled(config)).problems, []);
});
