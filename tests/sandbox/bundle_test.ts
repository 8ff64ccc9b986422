/**
 * The sandboxed child's "bpf" modules as one bundle (runtime/sandbox/_bundle.ts): built once,
 * reused while the modules are unchanged, rebuilt when one changes, and the same API as the
 * modules (one class per name across "bpf", "bpf/maps" and "bpf/events").
 */
import * as assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { childBundle, childEntries } from "../../runtime/sandbox/_bundle.ts";

const CHILD_MOD = decodeURIComponent(
  new URL("../../runtime/sandbox/child_mod.ts", import.meta.url).pathname,
);

/** Runs `code` as a module with `imports` as its import map; its stdout. */
async function runWith(
  imports: Record<string, string>,
  code: string,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-bundle-test-" });
  try {
    await Deno.writeTextFile(`${dir}/map.json`, JSON.stringify({ imports }));
    await Deno.writeTextFile(`${dir}/main.ts`, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        "--no-lock",
        `--import-map=${dir}/map.json`,
        `${dir}/main.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const API = `
import * as bpf from "bpf";
import * as maps from "bpf/maps";
import * as events from "bpf/events";
console.log(JSON.stringify({
  bpf: Object.keys(bpf).sort(),
  maps: Object.keys(maps).sort(),
  events: Object.keys(events).sort(),
  // An error "bpf/maps" throws is an instance of "bpf"'s class (one copy of each class).
  shared: (() => {
    try {
      maps.BpfMap.create({ type: "hash", key: maps.u32, value: maps.u32, maxEntries: 1 });
      return "created";
    } catch (e) {
      return \`\${(e as Error).name} \${e instanceof bpf.BpfError}\`;
    }
  })(),
  reader: typeof events.EventReader,
  errors: bpf.PermissionDeniedError.prototype instanceof bpf.BpfError,
  name: bpf.PermissionDeniedError.name,
}));
`;

Deno.test("the child's bundle is built once, has the modules' API, and is rebuilt when a module changes", async () => {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-bundle-root-" });
  try {
    const names = childEntries(CHILD_MOD);
    const built = childBundle(root, names);
    assert.ok(built, "no bundle was built");
    assert.deepEqual(Object.keys(built).sort(), [...names.keys()].sort());
    for (const url of Object.values(built)) {
      assert.ok(url.startsWith(`file://${root}/`), url);
      assert.equal((await Deno.stat(new URL(url))).mode! & 0o777, 0o644);
    }
    // The same API as the modules themselves.
    const modules = Object.fromEntries(
      [...names].map(([k, f]) => [k, `file://${f}`]),
    );
    const fromBundle = JSON.parse(await runWith(built, API));
    assert.deepEqual(fromBundle, JSON.parse(await runWith(modules, API)));
    assert.equal(fromBundle.name, "PermissionDeniedError");
    assert.ok(fromBundle.bpf.includes("BPF"));
    // Without --allow-ffi, the map cannot be made; the error is bpf's class.
    assert.equal(fromBundle.shared, "DenoPermissionError true");

    // Unchanged modules: the same bundle, not rebuilt.
    const dir = new URL(".", new URL("..", built.bpf)).pathname;
    const before = (await Deno.stat(`${dir}stamp`)).mtime;
    assert.deepEqual(childBundle(root, names), built);
    assert.deepEqual((await Deno.stat(`${dir}stamp`)).mtime, before);

    // A module that changes (its mtime here) gets a new bundle.
    const st = await Deno.stat(CHILD_MOD);
    try {
      Deno.utimeSync(
        CHILD_MOD,
        st.atime!,
        new Date(st.mtime!.getTime() + 2000),
      );
      const rebuilt = childBundle(root, names);
      assert.ok(rebuilt);
      assert.notEqual(rebuilt.bpf, built.bpf);
    } finally {
      Deno.utimeSync(CHILD_MOD, st.atime!, st.mtime!);
    }
    // Back as it was: the first bundle again.
    assert.deepEqual(childBundle(root, names), built);

    // A bundle whose stamp does not match what is there is replaced, not used.
    await Deno.writeTextFile(`${dir}stamp`, "broken");
    const again = childBundle(root, names);
    assert.deepEqual(again, built);
    assert.notEqual(await Deno.readTextFile(`${dir}stamp`), "broken");

    // A build removes the bundles of a bpfpm whose modules are gone (a deleted clone),
    // and leaves those of one still there.
    const goneRoot = join(root, "child-gonegone");
    await Deno.writeTextFile(
      `${goneRoot}.files`,
      JSON.stringify([join(root, "no-such-clone", "mod.ts")]),
    );
    await Deno.mkdir(`${goneRoot}-stamp1`);
    await Deno.writeTextFile(`${goneRoot}-stamp1/stamp`, "x");
    const liveRoot = join(root, "child-livelive");
    await Deno.writeTextFile(`${liveRoot}.files`, JSON.stringify([CHILD_MOD]));
    await Deno.mkdir(`${liveRoot}-stamp1`);
    await Deno.writeTextFile(`${dir}stamp`, "broken"); // forces a build
    assert.deepEqual(childBundle(root, names), built);
    assert.equal(existsSync(`${goneRoot}.files`), false);
    assert.equal(existsSync(`${goneRoot}-stamp1`), false);
    assert.ok(existsSync(`${liveRoot}.files`));
    assert.ok(existsSync(`${liveRoot}-stamp1`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
