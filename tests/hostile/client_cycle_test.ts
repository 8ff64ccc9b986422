/**
 * Issue 14.7: an unsatisfiable dependency cycle, published for real to the bpfpm registry,
 * used to run the client out of memory. Resolution now reuses an ancestor that satisfies
 * a range and bounds its work.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../registry/client/config.ts";
import { ClientError } from "../../registry/client/errors.ts";
import { RegistryClient } from "../../registry/client/registry.ts";
import { resolveTree } from "../../registry/client/resolve.ts";
import { publishRaw, sandbox } from "../client/_helpers.ts";
import { baseEnv, realRegistry, runCli } from "./_client.ts";

async function publishCycle(url: string, token: string): Promise<void> {
  const versions: [string, string, Record<string, string>][] = [
    ["cyca", "1.0.0", { cycb: "^1" }],
    ["cycb", "1.0.0", { cyca: "^2" }],
    ["cyca", "2.0.0", { cycb: "^2" }],
    ["cycb", "2.0.0", { cyca: "^1" }],
  ];
  for (const [name, version, dependencies] of versions) {
    await publishRaw(url, token, { name, version, dependencies });
  }
}

Deno.test("an unsatisfiable cycle resolves by reusing ancestors, within a bounded heap", async () => {
  await using reg = await realRegistry();
  await publishCycle(reg.url, reg.token);
  await using s = await sandbox(reg.url);
  // A 256 MB heap: the old resolver grew the tree without end (4.5 GB, then a crash).
  const run = await runCli(["install", "cyca@^1", "--yes"], {
    cwd: s.project,
    env: { ...baseEnv(), ...s.env },
    deadlineMs: 30_000,
    heapMb: 256,
  });
  assert.equal(run.killed, false, `killed at the deadline: ${run.stderr}`);
  assert.equal(run.code, 0, run.stderr);
  const lock = JSON.parse(
    await Deno.readTextFile(join(s.project, "bpfpm.lock")),
  );
  const got = Object.fromEntries(
    Object.entries(lock.packages as Record<string, { version: string }>).map((
      [k, e],
    ) => [k, e.version]),
  );
  // cyca@1 → cycb@1 → cyca@2 → cycb@2 → cyca@1, whose cycb@^1 is its ancestor cycb@1.
  assert.deepEqual(got, {
    "bpf_modules/cyca": "1.0.0",
    "bpf_modules/cycb": "1.0.0",
    "bpf_modules/cycb/bpf_modules/cyca": "2.0.0",
    "bpf_modules/cycb/bpf_modules/cyca/bpf_modules/cycb": "2.0.0",
    "bpf_modules/cycb/bpf_modules/cyca/bpf_modules/cycb/bpf_modules/cyca":
      "1.0.0",
  });
});

Deno.test("resolution stops at its work bound with a one-line error", async () => {
  await using reg = await realRegistry();
  // A chain a0 → a1 → … → a11: twelve packages, over a bound of ten.
  for (let i = 0; i < 12; i++) {
    await publishRaw(reg.url, reg.token, {
      name: `chain${i}`,
      version: "1.0.0",
      dependencies: i < 11 ? { [`chain${i + 1}`]: "^1" } : {},
    });
  }
  await using s = await sandbox(reg.url);
  const client = new RegistryClient(loadConfig({ cwd: s.project, env: s.env }));
  await assert.rejects(
    resolveTree(client, { chain0: "^1" }, { maxPackages: 10 }),
    (e: Error) => {
      assert.ok(e instanceof ClientError, String(e));
      assert.equal(e.code, "ERESOLVE");
      assert.match(e.message, /more than 10 packages/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    },
  );
  const tree = await resolveTree(client, { chain0: "^1" }, {
    maxPackages: 12,
  });
  assert.equal(Object.keys(tree.packages).length, 12);
});
