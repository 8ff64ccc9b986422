import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import tarStream from "tar-stream";
import { createTarball } from "../../registry/pack/mod.ts";
import { loadConfig } from "../../registry/client/config.ts";
import { IntegrityError } from "../../registry/client/errors.ts";
import { SignatureError } from "../../registry/common/errors.ts";
import { install } from "../../registry/client/install.ts";
import { verifyInstalled } from "../../registry/client/commands.ts";
import { publisherKey } from "../../registry/client/signatures.ts";
import { signPackage } from "../../registry/common/publisher_signature.ts";
import { Ui } from "../../registry/client/ui.ts";
import { fakeRegistry, sha512 } from "./_fake_registry.ts";
import { sandbox, snapshot } from "./_helpers.ts";

const quiet = new Ui({ quiet: true, tty: false });

function pkgTgz(
  name: string,
  version: string,
  extra: Record<string, string> = {},
) {
  return createTarball({
    "package.json": JSON.stringify({ name, version }),
    "index.js": `// ${name}`,
    ...extra,
  });
}

type RawEntry = {
  header: Partial<tarStream.Header> & { name: string };
  data?: string;
};
async function rawTgz(entries: RawEntry[]): Promise<Uint8Array> {
  const pack = tarStream.pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(c);
  })();
  for (const e of entries) {
    await new Promise<void>((res, rej) =>
      pack.entry(
        e.header as tarStream.Header,
        e.data ?? "",
        (err?: Error | null) => err ? rej(err) : res(),
      )
    );
  }
  pack.finalize();
  await done;
  const gz = new Blob(chunks as BlobPart[]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(gz).arrayBuffer());
}

function cacheContent(cache: string): string[] {
  const root = join(cache, "content", "sha512");
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((d) => readdirSync(join(root, d)));
}

Deno.test("a tampered tarball is refused and nothing is written", async () => {
  const good = await pkgTgz("victim", "1.0.0");
  const evil = await pkgTgz("victim", "1.0.0", { "index.js": "steal()" });
  await using reg = await fakeRegistry([{
    name: "victim",
    version: "1.0.0",
    tarball: evil,
    integrity: sha512(good),
  }]);
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const before = await snapshot(s.project);
  const err = await install(config, { add: ["victim"], yes: true, ui: quiet })
    .catch((e) => e);
  assert.ok(err instanceof IntegrityError, String(err));
  assert.equal(err.spec, "victim@1.0.0");
  assert.match(err.message, /Integrity mismatch for victim@1\.0\.0/);
  assert.deepEqual(await snapshot(s.project), before);
  assert.ok(!existsSync(join(s.project, "bpf_modules")));
  assert.ok(!existsSync(join(s.project, ".bpfpm")));
  assert.deepEqual(cacheContent(s.cache), []);
});

Deno.test("hostile tarballs are refused client-side with nothing installed", async () => {
  const pj: RawEntry = {
    header: { name: "package/package.json", type: "file" },
    data: JSON.stringify({ name: "h", version: "1.0.0" }),
  };
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "symlink",
      await rawTgz([pj, {
        header: { name: "package/x", type: "symlink", linkname: "/etc/passwd" },
      }]),
      /link/i,
    ],
    [
      "dot-dot",
      await rawTgz([pj, {
        header: { name: "package/../../evil.sh", type: "file" },
        data: "x",
      }]),
      /\.\./,
    ],
    [
      "absolute",
      await rawTgz([pj, {
        header: { name: "/etc/evil", type: "file" },
        data: "x",
      }]),
      /absolute|outside/i,
    ],
    [
      "device",
      await rawTgz([pj, {
        header: {
          name: "package/dev",
          type: "character-device",
          devmajor: 1,
          devminor: 3,
        },
      }]),
      /device/i,
    ],
    [
      "file count",
      await rawTgz([
        pj,
        ...Array.from({ length: 5001 }, (_, i) => ({
          header: { name: `package/f${i}`, type: "file" as const },
          data: "",
        })),
      ]),
      /more than 5000 entries/,
    ],
    [
      "case collision",
      await rawTgz([pj, {
        header: { name: "package/README", type: "file" },
        data: "a",
      }, {
        header: { name: "package/readme", type: "file" },
        data: "b",
      }]),
      /differ only in case/,
    ],
  ];
  for (const [label, tgz, reason] of cases) {
    await using reg = await fakeRegistry([{
      name: "h",
      version: "1.0.0",
      tarball: tgz,
    }]);
    await using s = await sandbox(reg.url);
    const config = loadConfig({ cwd: s.project, env: s.env });
    const err = await install(config, { add: ["h"], yes: true, ui: quiet })
      .catch((e) => e);
    assert.equal(err?.name, "TarballError", `${label}: ${err}`);
    assert.match(err.message, reason, label);
    assert.ok(!existsSync(join(s.project, "bpf_modules")), label);
    assert.ok(!existsSync(join(s.project, "bpfpm.lock")), label);
    assert.ok(
      !existsSync(join(s.root, "evil.sh")) &&
        !existsSync(join(s.project, "evil.sh")),
      label,
    );
    const pkgs = join(s.cache, "pkgs");
    assert.deepEqual(existsSync(pkgs) ? readdirSync(pkgs) : [], [], label);
  }
});

Deno.test("registry signatures: valid ones verify, wrong or missing ones are refused", async () => {
  const tgz = await pkgTgz("signed", "1.0.0");
  {
    await using reg = await fakeRegistry([{
      name: "signed",
      version: "1.0.0",
      tarball: tgz,
    }], { signed: true });
    await using s = await sandbox(reg.url);
    const config = loadConfig({ cwd: s.project, env: s.env });
    await install(config, { add: ["signed"], yes: true, ui: quiet });
    const v = await verifyInstalled(config);
    assert.deepEqual(v.problems, []);
    assert.equal(v.registrySigned, 1);
  }
  for (const mode of ["wrong", "omit"] as const) {
    await using reg = await fakeRegistry([{
      name: "signed",
      version: "1.0.0",
      tarball: tgz,
      signature: mode,
    }], {
      signed: true,
    });
    await using s = await sandbox(reg.url);
    const config = loadConfig({ cwd: s.project, env: s.env });
    const err = await install(config, { add: ["signed"], yes: true, ui: quiet })
      .catch((e) => e);
    assert.ok(err instanceof SignatureError, `${mode}: ${err}`);
    assert.equal(err.kind, "registry");
    assert.match(
      err.message,
      mode === "wrong" ? /does not verify/ : /no registry signature/,
    );
    assert.ok(!existsSync(join(s.project, "bpf_modules")));
  }
});

Deno.test("publisher signatures: altered files are refused; --require-signed needs a trusted key", async () => {
  await using s0 = await sandbox();
  const key = publisherKey(s0.config)!;
  const files = [
    {
      path: "package.json",
      data: new TextEncoder().encode(
        JSON.stringify({ name: "pub", version: "1.0.0" }),
      ),
    },
    { path: "index.js", data: new TextEncoder().encode("ok()") },
  ];
  const sig = signPackage("pub", "1.0.0", files, key);
  const signed = await createTarball([...files, {
    path: "bpfpm-signature.json",
    data: sig,
  }]);
  const unsigned = await pkgTgz("plain", "1.0.0");
  await using reg = await fakeRegistry([
    { name: "pub", version: "1.0.0", tarball: signed },
    { name: "plain", version: "1.0.0", tarball: unsigned },
  ]);
  {
    await using s = await sandbox(reg.url);
    const config = loadConfig({ cwd: s.project, env: s.env });
    const untrusted = await install(config, {
      add: ["pub"],
      yes: true,
      requireSigned: true,
      ui: quiet,
    }).catch((e) => e);
    assert.ok(untrusted instanceof SignatureError, String(untrusted));
    assert.equal(untrusted.reason, "unknown-key");
    assert.match(
      untrusted.message,
      /a key http:\S+ does not have registered and your trusted_keys \(.*\) does not list; run bpfpm trust ed25519:/,
    );
    await Deno.mkdir(s.config, { recursive: true });
    await Deno.writeTextFile(join(s.config, "trusted_keys"), key.keyid + "\n");
    const r = await install(config, {
      add: ["pub"],
      yes: true,
      requireSigned: true,
      ui: quiet,
    });
    assert.equal(r.lock.packages["bpf_modules/pub"].publisherKey, key.keyid);
    const unsignedErr = await install(config, {
      add: ["plain"],
      yes: true,
      requireSigned: true,
      ui: quiet,
    }).catch((e) => e);
    assert.ok(unsignedErr instanceof SignatureError);
    assert.equal(unsignedErr.reason, "unsigned");
    assert.match(
      unsignedErr.message,
      /plain@1\.0\.0 has no publisher signature/,
    );
    assert.deepEqual(
      Object.keys(
        JSON.parse(await Deno.readTextFile(join(s.project, "package.json")))
          .dependencies,
      ),
      ["pub"],
    );
  }
});

Deno.test("a signed package whose files were altered is refused", async () => {
  await using s0 = await sandbox();
  const key = publisherKey(s0.config)!;
  const pj = {
    path: "package.json",
    data: new TextEncoder().encode(
      JSON.stringify({ name: "alt", version: "1.0.0" }),
    ),
  };
  const sig = signPackage("alt", "1.0.0", [pj, {
    path: "index.js",
    data: new TextEncoder().encode("ok()"),
  }], key);
  const tgz = await createTarball([pj, { path: "index.js", data: "evil()" }, {
    path: "bpfpm-signature.json",
    data: sig,
  }]);
  await using reg = await fakeRegistry([{
    name: "alt",
    version: "1.0.0",
    tarball: tgz,
  }]);
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const err = await install(config, { add: ["alt"], yes: true, ui: quiet })
    .catch((e) => e);
  assert.ok(err instanceof SignatureError, String(err));
  assert.equal(err.kind, "publisher");
  assert.match(err.message, /does not match its files/);
  assert.ok(!existsSync(join(s.project, "bpf_modules")));
});

Deno.test("install scripts never run, and verify catches an installed file edited in place", async () => {
  const marker = join(
    await Deno.makeTempDir({ prefix: "bpfpm-marker-" }),
    "ran",
  );
  const scripts = {
    preinstall: `touch ${marker}`,
    install: `touch ${marker}`,
    postinstall: `touch ${marker}`,
  };
  const tgz = await createTarball({
    "package.json": JSON.stringify({
      name: "scripted",
      version: "1.0.0",
      scripts,
    }),
    "index.js": "original",
  });
  await using reg = await fakeRegistry([{
    name: "scripted",
    version: "1.0.0",
    tarball: tgz,
  }]);
  await using s = await sandbox(reg.url);
  try {
    const config = loadConfig({ cwd: s.project, env: s.env });
    await install(config, { add: ["scripted"], ui: quiet });
    assert.ok(!existsSync(marker), "an install script ran");
    const file = join(s.project, "bpf_modules", "scripted", "index.js");
    assert.equal(await Deno.readTextFile(file), "original");
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o644);

    await Deno.writeTextFile(file, "edited");
    const bad = await verifyInstalled(config);
    assert.deepEqual(bad.problems, [{
      spec: "scripted@1.0.0",
      problem: "modified file index.js",
    }]);
    const { ContentCache } = await import("../../registry/client/cache.ts");
    const swept = await new ContentCache(s.cache).verify();
    assert.equal(swept.checked, 1);
    assert.ok(swept.removed >= 1, "the edited unpacked tree must be dropped");
    await install(config, { frozenLockfile: true, ui: quiet });
    assert.equal(await Deno.readTextFile(file), "original");
    assert.deepEqual((await verifyInstalled(config)).problems, []);
  } finally {
    await Deno.remove(join(marker, ".."), { recursive: true });
  }
});

Deno.test("hostile metadata: path-like dependency names, lockfile paths, file: tarballs, swapped names", async () => {
  const evil = await pkgTgz("evil", "1.0.0");
  const good = await pkgTgz("good", "1.0.0");
  await using reg = await fakeRegistry([
    {
      name: "climber",
      version: "1.0.0",
      tarball: await pkgTgz("climber", "1.0.0"),
      dependencies: { "../../escape": "1.0.0" },
    },
    {
      name: "localfile",
      version: "1.0.0",
      tarball: good,
      tarballBase: "file:///etc/",
    },
    // The document for "good" serves evil's tarball.
    { name: "good", version: "1.0.0", tarball: evil },
  ]);
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const climb = await install(config, { add: ["climber"], ui: quiet }).catch((
    e,
  ) => e);
  assert.equal(climb.code, "EMANIFEST", String(climb));
  assert.match(
    climb.message,
    /depends on "\.\.\/\.\.\/escape", which is not a valid package name/,
  );
  const local = await install(config, { add: ["localfile"], ui: quiet }).catch((
    e,
  ) => e);
  assert.match(
    String(local),
    /Refusing to fetch file:\/\/\/etc\/.*must be http or https/,
  );
  const swapped = await install(config, { add: ["good"], ui: quiet }).catch((
    e,
  ) => e);
  assert.equal(swapped.code, "EMANIFEST");
  assert.match(
    swapped.message,
    /The tarball of good@1\.0\.0 contains evil@1\.0\.0/,
  );
  assert.ok(!existsSync(join(s.project, "bpf_modules")));
  assert.ok(!existsSync(join(s.root, "escape")));

  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { good: "1.0.0" } }),
  );
  await Deno.writeTextFile(
    join(s.project, "bpfpm.lock"),
    JSON.stringify({
      lockfileVersion: 1,
      root: { dependencies: { good: "1.0.0" } },
      packages: {
        "bpf_modules/good": {
          name: "good",
          version: "1.0.0",
          resolved: reg.url + "tarballs/good/1.0.0.tgz",
          integrity: sha512(evil),
        },
        "bpf_modules/../../good": {
          name: "good",
          version: "1.0.0",
          resolved: reg.url + "tarballs/good/1.0.0.tgz",
          integrity: sha512(evil),
        },
      },
    }),
  );
  const lockErr = await install(config, { frozenLockfile: true, ui: quiet })
    .catch((e) => e);
  assert.equal(lockErr.code, "ELOCKFILE");
  assert.match(
    lockErr.message,
    /unsafe or inconsistent entry "bpf_modules\/\.\.\/\.\.\/good"/,
  );
  await Deno.remove(join(s.project, "bpfpm.lock"));
  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { "../../good": "1.0.0" } }),
  );
  const rootErr = await install(config, { ui: quiet }).catch((e) => e);
  assert.equal(rootErr.code, "EMANIFEST", String(rootErr));
  assert.match(
    rootErr.message,
    /package\.json depends on "\.\.\/\.\.\/good", which is not a valid package name/,
  );
  assert.ok(!existsSync(join(s.project, "bpf_modules")));
});

Deno.test("a package whose publisher key changes needs consent again", async () => {
  await using k1 = await sandbox();
  await using k2 = await sandbox();
  const signedTgz = async (version: string, configDir: string) => {
    const key = publisherKey(configDir)!;
    const files = [
      {
        path: "package.json",
        data: new TextEncoder().encode(
          JSON.stringify({ name: "keyed", version }),
        ),
      },
      { path: "index.js", data: new TextEncoder().encode(version) },
    ];
    return {
      keyid: key.keyid,
      tgz: await createTarball([...files, {
        path: "bpfpm-signature.json",
        data: signPackage("keyed", version, files, key),
      }]),
    };
  };
  const v1 = await signedTgz("1.0.0", k1.config);
  const v2 = await signedTgz("1.1.0", k2.config);
  await using reg = await fakeRegistry([
    { name: "keyed", version: "1.0.0", tarball: v1.tgz },
    { name: "keyed", version: "1.1.0", tarball: v2.tgz },
  ]);
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const first = await install(config, { add: ["keyed@1.0.0"], ui: quiet });
  assert.equal(first.lock.packages["bpf_modules/keyed"].publisherKey, v1.keyid);
  await Deno.writeTextFile(
    join(s.project, "package.json"),
    JSON.stringify({ dependencies: { keyed: "^1.0.0" } }),
  );
  const err = await install(config, { update: "all", ui: quiet }).catch((e) =>
    e
  );
  assert.equal(err.code, "EGRANTS", String(err));
  assert.match(err.message, /changed publisher keys; nothing was installed/);
  const yes = await install(config, { update: "all", yes: true, ui: quiet });
  assert.equal(yes.lock.packages["bpf_modules/keyed"].publisherKey, v2.keyid);
  assert.equal(yes.lock.packages["bpf_modules/keyed"].version, "1.1.0");
});

Deno.test("a cache others can write to is not trusted", async () => {
  const tgz = await pkgTgz("plain", "1.0.0");
  await using reg = await fakeRegistry([{
    name: "plain",
    version: "1.0.0",
    tarball: tgz,
  }]);
  await using s = await sandbox(reg.url);
  await Deno.mkdir(s.cache, { recursive: true });
  await Deno.chmod(s.cache, 0o777);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const err = await install(config, { add: ["plain"], ui: quiet }).catch((e) =>
    e
  );
  assert.equal(err.code, "ECACHE", String(err));
  assert.match(
    err.message,
    /is writable by other users, so its contents cannot be trusted: run chmod go-w/,
  );
  assert.ok(!existsSync(join(s.project, "bpf_modules")));
  await Deno.chmod(s.cache, 0o700);
  await install(config, { add: ["plain"], ui: quiet });
  assert.ok(
    existsSync(join(s.project, "bpf_modules", "plain", "package.json")),
  );
});

Deno.test("--require-signed accepts a key the registry vouches for", async () => {
  await using s0 = await sandbox();
  const key = publisherKey(s0.config)!;
  const files = [
    {
      path: "package.json",
      data: new TextEncoder().encode(
        JSON.stringify({ name: "vouched", version: "1.0.0" }),
      ),
    },
  ];
  const tgz = await createTarball([...files, {
    path: "bpfpm-signature.json",
    data: signPackage("vouched", "1.0.0", files, key),
  }]);
  await using reg = await fakeRegistry([{
    name: "vouched",
    version: "1.0.0",
    tarball: tgz,
  }], {
    vouchedKeys: [key.keyid],
  });
  await using s = await sandbox(reg.url);
  const config = loadConfig({ cwd: s.project, env: s.env });
  const r = await install(config, {
    add: ["vouched"],
    requireSigned: true,
    ui: quiet,
  });
  assert.equal(r.lock.packages["bpf_modules/vouched"].publisherKey, key.keyid);
  assert.ok(
    reg.requests.some((q) => q.path === `/-/bpfpm/v1/keys/${key.keyid}`),
  );
});
