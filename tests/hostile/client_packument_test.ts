/**
 * Malformed package documents from a hostile registry: each install or info is one line
 * naming the registry, the package and what is wrong, exit 1, never a JavaScript error
 * ("Cannot read properties of null", "Invalid Version").
 */
import assert from "node:assert/strict";
import { sandbox } from "../client/_helpers.ts";
import {
  assertOneLineError,
  baseEnv,
  rawServer,
  runCli,
  writeAll,
  writeHead,
} from "./_client.ts";

const dist = {
  tarball: "http://127.0.0.1:1/x.tgz",
  integrity: "sha512-" + "A".repeat(86) + "==",
};
const doc = (name: string, versions: unknown, tags: unknown = {
  latest: "1.0.0",
}) => ({ name, "dist-tags": tags, versions });

const CASES: [string, unknown, RegExp][] = [
  ["notobj", 42, /sent a malformed document for notobj: not a JSON object/],
  ["nulldoc", null, /sent a malformed document for nulldoc: not a JSON object/],
  [
    "versarr",
    doc("versarr", [1, 2]),
    /malformed document for versarr: versions is not an object/,
  ],
  [
    "nullver",
    doc("nullver", { "1.0.0": null }),
    /malformed document for nullver: version 1\.0\.0 is not an object/,
  ],
  [
    "tagsnum",
    doc("tagsnum", { "1.0.0": { name: "tagsnum", version: "1.0.0", dist } }, 5),
    /malformed document for tagsnum: dist-tags is not an object/,
  ],
  [
    "depstr",
    doc("depstr", {
      "1.0.0": { name: "depstr", version: "1.0.0", dependencies: "abc", dist },
    }),
    /malformed document for depstr: version 1\.0\.0's dependencies are not an object of ranges/,
  ],
  [
    "depnum",
    doc("depnum", {
      "1.0.0": {
        name: "depnum",
        version: "1.0.0",
        dependencies: { x: 5 },
        dist,
      },
    }),
    /malformed document for depnum: version 1\.0\.0's dependencies are not an object of ranges/,
  ],
];

Deno.test("malformed packuments are one line naming the package and the fault", async (t) => {
  const docs = new Map(CASES.map(([n, d]) => [n, JSON.stringify(d)]));
  await using server = rawServer(async (path, conn) => {
    const body = new TextEncoder().encode(docs.get(path.slice(1)) ?? "{}");
    await writeHead(conn, 200, {
      "content-length": body.length,
      "content-type": "application/json",
    });
    await writeAll(conn, body);
  });
  await using s = await sandbox(server.url);
  const env = { ...baseEnv(), ...s.env, BPFPM_FETCH_RETRIES: "0" };
  for (const [name, , pattern] of CASES) {
    await t.step(name, async () => {
      for (const cmd of [["install", name, "--yes"], ["info", name]]) {
        const run = await runCli(cmd, { cwd: s.project, env });
        assertOneLineError(run, 1, pattern);
        assert.match(run.stderr, /^bpfpm \w+: http:\/\/127\.0\.0\.1:\d+ sent/);
      }
    });
  }
});

Deno.test("versions that are not semver are ignored, as npm does", async () => {
  const body = new TextEncoder().encode(JSON.stringify(doc("oddver", {
    "1.0.0": { name: "oddver", version: "1.0.0", dist },
    "not-a-version": { name: "oddver", version: "not-a-version", dist },
  })));
  await using server = rawServer(async (_path, conn) => {
    await writeHead(conn, 200, { "content-length": body.length });
    await writeAll(conn, body);
  });
  await using s = await sandbox(server.url);
  const run = await runCli(["info", "oddver"], {
    cwd: s.project,
    env: { ...baseEnv(), ...s.env },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^versions: 1\.0\.0$/m);
});
