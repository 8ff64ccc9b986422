/**
 * Warm-start memos (runtime/_warm.ts): the rewritten C and the object's grant facts are reused
 * only when valid, equal what the full work gives, and never weaken the grants check.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import {
  INSPECT_MODULES,
  objectFacts,
  REWRITE_MODULES,
  rewritten,
} from "../../runtime/_warm.ts";
import { rewrite } from "../../runtime/source/rewrite.ts";
import { inspectObject } from "../../runtime/spec/object.ts";
import { sha256 } from "../../runtime/compile/_cache.ts";
import { PermissionDeniedError } from "../../runtime/policy/mod.ts";
import { REPO, runFixture, uniqueName, waitGone } from "./_helpers.ts";
import { evaluatedModules } from "../../runtime/_module_graph.ts";

const RUNTIME = `${REPO}runtime/`;

/** The local modules `entry` can run (lazily imported ones too), relative to runtime/. */
function moduleGraph(entry: string): string[] {
  const graph = evaluatedModules([
    new URL(`${RUNTIME}${entry}`, "file://").href,
  ], {
    dynamic: () => true,
  });
  assert.ok(graph, "deno info failed");
  const prefix = new URL(RUNTIME, "file://").href;
  return [...graph.keys()].filter((s) => s.startsWith(prefix))
    .map((s) => s.slice(prefix.length));
}

/** Runs `fn` with the compile cache (and so the memos) in a fresh directory. */
async function withCacheDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-warm-" });
  const saved = Deno.env.get("BPFPM_CACHE_DIR");
  Deno.env.set("BPFPM_CACHE_DIR", dir);
  try {
    return await fn(dir);
  } finally {
    if (saved === undefined) Deno.env.delete("BPFPM_CACHE_DIR");
    else Deno.env.set("BPFPM_CACHE_DIR", saved);
    await Deno.remove(dir, { recursive: true });
  }
}

function probe(name: string): string {
  return `
  TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    bpf_trace_printk("${name} %d\\n", args->__syscall_nr);
    return 0;
  }`;
}

Deno.test("warm: the memos list every module the rewrite and the inspector load", async () => {
  for (
    const [entry, list] of [
      ["source/rewrite.ts", REWRITE_MODULES],
      ["spec/object.ts", INSPECT_MODULES],
    ] as const
  ) {
    const missing = moduleGraph(entry).filter((m) => !list.includes(m));
    assert.deepEqual(missing, [], `${entry} loads modules its memo ignores`);
    for (const m of list) await Deno.stat(`${RUNTIME}${m}`);
  }
});

Deno.test("warm: the rewrite memo gives the rewrite's text, and is ignored when damaged or stale", async () => {
  await withCacheDir(async (dir) => {
    const source = probe(uniqueName());
    const expected = rewrite(source).text;
    assert.equal(await rewritten(source), expected);
    const [memoName] = [...Deno.readDirSync(`${dir}/obj`)]
      .filter((e) => e.name.endsWith(".src")).map((e) => e.name);
    const path = `${dir}/obj/${memoName}`;
    const memo = JSON.parse(await Deno.readTextFile(path));
    assert.equal(memo.text, expected);
    // A valid memo is what a warm start uses (the rewrite does not run).
    const marked = `/* from the memo */\n${expected}`;
    await Deno.writeTextFile(path, JSON.stringify({ ...memo, text: marked }));
    assert.equal(await rewritten(source), marked);

    // A memo made by other rewriter code (a module's mtime differs) is not used.
    const stale = structuredClone(memo);
    stale.text = "stale";
    stale.deps[0][2] -= 1000;
    await Deno.writeTextFile(path, JSON.stringify(stale));
    assert.equal(await rewritten(source), expected);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).text, expected);

    // Nor one made for another source (the file name is only a hash of it).
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...memo, text: "stale", source: `${source} ` }),
    );
    assert.equal(await rewritten(source), expected);

    // Nor one from another boot, nor a damaged one.
    await Deno.writeTextFile(
      path,
      JSON.stringify({ ...memo, text: "stale", boot: memo.boot - 3600 }),
    );
    assert.equal(await rewritten(source), expected);
    await Deno.writeTextFile(path, "{ not json");
    assert.equal(await rewritten(source), expected);
  });
});

Deno.test("warm: the spec memo is bound to the object's bytes and equals inspectObject", async () => {
  await withCacheDir(async (dir) => {
    const name = uniqueName();
    let object: Uint8Array;
    {
      using b = await BPF.load({ text: probe(name), autoAttach: false });
      object = b.object;
    }
    const spec = inspectObject(object);
    const fromMemo = await objectFacts(object);
    assert.deepEqual(fromMemo.programs, spec.programs);
    assert.deepEqual(fromMemo.maps, spec.maps);
    assert.ok(
      fromMemo.programs[0].instructions.buffer === object.buffer,
      "instructions are views into the object, as inspectObject gives them",
    );

    // A memo that names other bytes, or another CPU count, is not used.
    const path = `${dir}/obj/${await sha256(object)}.spec`;
    const memo = JSON.parse(await Deno.readTextFile(path));
    for (const forged of [{ object: "0".repeat(64) }, { cpus: -1 }]) {
      await Deno.writeTextFile(
        path,
        JSON.stringify({ ...memo, ...forged, programs: [] }),
      );
      assert.deepEqual(
        (await objectFacts(object)).programs.map((p) => p.name),
        spec.programs.map((p) => p.name),
      );
    }
  });
});

Deno.test("warm: grants are checked on a warm load (script grants and BPFPM_GRANTS)", async () => {
  await withCacheDir(async () => {
    const name = uniqueName();
    const text = probe(name);
    const ids: number[] = [];
    {
      using b = await BPF.load({ text, autoAttach: false });
      ids.push(b.programs.get(`tracepoint__syscalls__sys_enter_getppid`)!.id);
    }
    const grants = { attach: [{ kind: "uprobe" as const }] };
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        BPF.load({ text, grants, autoAttach: false }),
        (e: unknown) =>
          e instanceof PermissionDeniedError && e.kind === "tracepoint",
      );
    }
    assert.deepEqual(await waitGone(ids), []);
  });
  // A new process, the object and its memos warm: BPFPM_GRANTS still refuses it.
  const name = uniqueName();
  const warm = await runFixture(["ok", name]);
  assert.equal(warm.code, 0, warm.stderr);
  const refused = await runFixture(["ok", name], {
    env: {
      BPFPM_GRANTS: JSON.stringify({ attach: [{ kind: "uprobe" }] }),
    },
  });
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /Permission denied/);
});

Deno.test("warm: under exactly requiredDenoFlags() the memos are written and a warm start takes them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-warm-narrow-" });
  const script = `${dir}/probe.ts`;
  const cache = `${dir}/cache`;
  try {
    await Deno.writeTextFile(
      script,
      `import { BPF } from ${JSON.stringify(`${REPO}mod.ts`)};
using b = await BPF.load({ text: ${
        JSON.stringify(probe(uniqueName()))
      }, autoAttach: false });
console.log(b.cached);
`,
    );
    const { requiredDenoFlags } = await import(
      "../../runtime/policy/deno_permissions.ts"
    );
    const saved = Deno.env.get("BPFPM_CACHE_DIR");
    Deno.env.set("BPFPM_CACHE_DIR", cache);
    let flags: string[];
    try {
      flags = requiredDenoFlags();
    } finally {
      if (saved === undefined) Deno.env.delete("BPFPM_CACHE_DIR");
      else Deno.env.set("BPFPM_CACHE_DIR", saved);
    }
    const run = async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", ...flags, script],
        env: { BPFPM_CACHE_DIR: cache },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.ok(out.success, dec.decode(out.stderr));
      return dec.decode(out.stdout).trim();
    };
    assert.equal(await run(), "false");
    const memos = () =>
      [...Deno.readDirSync(`${cache}/obj`)].map((e) => e.name.split(".").at(-1))
        .sort();
    assert.deepEqual(memos(), ["bpfo", "spec", "src"]);
    const before = (await Deno.stat(`${cache}/obj`)).mtime;
    assert.equal(await run(), "true");
    assert.deepEqual(memos(), ["bpfo", "spec", "src"]);
    assert.deepEqual((await Deno.stat(`${cache}/obj`)).mtime, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
