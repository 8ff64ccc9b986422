/**
 * BPF.load's sources: `file` (diagnostics name the file), `object` (no compile), and bad
 * arguments (TypeError).
 */
import assert from "node:assert/strict";
import { BPF, CompileError } from "../../mod.ts";
import { compile } from "../../runtime/compile/mod.ts";
import { uniqueName, waitGone } from "./_helpers.ts";

Deno.test("file: loads a .bpf.c; its compile errors name the file and line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-load-" });
  try {
    const name = uniqueName();
    const good = `${dir}/good.bpf.c`;
    await Deno.writeTextFile(
      good,
      `SEC("tracepoint/syscalls/sys_enter_getppid")\nint ${name}(void *ctx) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n`,
    );
    let id: number;
    {
      using b = await BPF.load({ file: good });
      id = b.programs.get(name)!.id;
      assert.equal(b.links.length, 1);
    }
    assert.deepEqual(await waitGone([id]), []);

    const bad = `${dir}/bad.bpf.c`;
    await Deno.writeTextFile(bad, `int f(void *ctx) {\n  return oops;\n}\n`);
    await assert.rejects(
      () => BPF.load({ file: bad }),
      (e: unknown) => {
        assert.ok(e instanceof CompileError);
        assert.ok(
          e.message.includes(
            `${bad}:2:10: error: use of undeclared identifier 'oops'`,
          ),
          e.message,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("object: a compiled ELF loads without compiling; cached reports false", async () => {
  const name = uniqueName();
  const { object } = await compile(
    `SEC("raw_tp/sys_enter") int ${name}(void *ctx) { return 0; }\nchar LICENSE[] SEC("license") = "GPL";\n`,
  );
  using b = await BPF.load({ object, autoAttach: false });
  assert.equal(b.cached, false);
  assert.deepEqual([...b.programs.keys()], [name]);
  assert.equal(b.programs.get(name)!.section, "raw_tp/sys_enter");
  assert.equal(b.links.length, 0);
  assert.deepEqual(b.object, object);
});

Deno.test("bad arguments: TypeError naming what to pass", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => BPF.load(undefined as any),
    TypeError,
  );
  await assert.rejects(
    () => BPF.load({ text: "x", file: "y" }),
    /BPF.load needs exactly one of text, file or object, got text, file/,
  );
  await assert.rejects(
    () => BPF.load({ object: new Uint8Array([1, 2, 3]) }),
    /Not a BPF object/,
  );
});
