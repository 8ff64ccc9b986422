import assert from "node:assert/strict";
import { join } from "node:path";
import { createTarball } from "../../registry/pack/mod.ts";
import {
  loadConfig,
  registryFor,
  tokenFor,
} from "../../registry/client/config.ts";
import { install } from "../../registry/client/install.ts";
import { Ui } from "../../registry/client/ui.ts";
import { fakeRegistry } from "./_fake_registry.ts";
import { sandbox } from "./_helpers.ts";

Deno.test("scoped packages go to their registry with its token, and no token leaks elsewhere", async () => {
  const scoped = await createTarball({
    "package.json": JSON.stringify({ name: "@acme/tool", version: "1.0.0" }),
  });
  const plain = await createTarball({
    "package.json": JSON.stringify({
      name: "plain",
      version: "1.0.0",
      dependencies: { "@acme/tool": "^1" },
    }),
  });
  // The tarball host C is a third server: it must receive no token at all.
  await using c = await fakeRegistry([{
    name: "@acme/tool",
    version: "1.0.0",
    tarball: scoped,
  }]);
  await using a = await fakeRegistry([{
    name: "@acme/tool",
    version: "1.0.0",
    tarball: scoped,
    tarballBase: c.url,
  }]);
  await using b = await fakeRegistry([{
    name: "plain",
    version: "1.0.0",
    tarball: plain,
    dependencies: { "@acme/tool": "^1" },
  }]);
  await using s = await sandbox();
  const hostA = new URL(a.url).host;
  await Deno.writeTextFile(
    join(s.project, ".bpfpmrc"),
    `registry=${b.url}\n@acme:registry=${a.url}\n//${hostA}/:_authToken=\${ACME_TOKEN}\n`,
  );
  await Deno.mkdir(s.config, { recursive: true });
  await Deno.writeTextFile(
    join(s.config, "bpfpmrc"),
    `//${new URL(b.url).host}/:_authToken=token-b\n`,
  );
  const config = loadConfig({
    cwd: s.project,
    env: { ...s.env, ACME_TOKEN: "token-a" },
  });
  assert.equal(registryFor(config, "@acme/tool"), a.url);
  assert.equal(registryFor(config, "@other/x"), b.url);
  assert.equal(tokenFor(config, a.url + "@acme%2ftool"), "token-a");
  assert.equal(tokenFor(config, c.url + "tarballs/x.tgz"), undefined);

  const r = await install(config, {
    add: ["plain"],
    yes: true,
    ui: new Ui({ quiet: true, tty: false }),
  });
  assert.deepEqual(Object.keys(r.lock.packages).sort(), [
    "bpf_modules/@acme/tool",
    "bpf_modules/plain",
  ]);
  assert.ok(
    a.requests.length > 0 && b.requests.length > 0 && c.requests.length > 0,
  );
  for (const q of a.requests) {
    assert.equal(q.auth, "Bearer token-a", `A got ${q.path} with ${q.auth}`);
    assert.ok(q.path.startsWith("/@acme/") || q.path.startsWith("/-/"), q.path);
  }
  for (const q of b.requests) {
    assert.equal(q.auth, "Bearer token-b", `B got ${q.path} with ${q.auth}`);
    assert.ok(!q.path.includes("@acme"), `B was asked for ${q.path}`);
  }
  for (const q of c.requests) {
    assert.equal(q.auth, null, `C got ${q.path} with a token`);
  }
  assert.ok(
    c.requests.some((q) => q.path === "/tarballs/@acme/tool/1.0.0.tgz"),
  );
  assert.equal(
    await Deno.readTextFile(
      join(s.project, "bpf_modules", "@acme", "tool", "package.json"),
    ),
    JSON.stringify({ name: "@acme/tool", version: "1.0.0" }),
  );
});

Deno.test("a redirect to another host drops the token", async () => {
  const tgz = await createTarball({
    "package.json": JSON.stringify({ name: "moved", version: "1.0.0" }),
  });
  await using cdn = await fakeRegistry([{
    name: "moved",
    version: "1.0.0",
    tarball: tgz,
  }]);
  await using reg = await fakeRegistry([{
    name: "moved",
    version: "1.0.0",
    tarball: tgz,
  }], {
    redirectTarballsTo: cdn.url,
  });
  await using s = await sandbox(reg.url);
  await Deno.writeTextFile(
    join(s.project, ".bpfpmrc"),
    `//${new URL(reg.url).host}/:_authToken=secret\n`,
  );
  const config = loadConfig({ cwd: s.project, env: s.env });
  await install(config, {
    add: ["moved"],
    ui: new Ui({ quiet: true, tty: false }),
  });
  const hop = reg.requests.find((q) => q.path.startsWith("/tarballs/"));
  assert.equal(hop?.auth, "Bearer secret");
  const landed = cdn.requests.filter((q) => q.path.startsWith("/tarballs/"));
  assert.equal(landed.length, 1);
  assert.equal(landed[0].auth, null);
  assert.ok(
    await Deno.stat(join(s.project, "bpf_modules", "moved", "package.json")),
  );
});
