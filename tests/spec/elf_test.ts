import assert from "node:assert/strict";
import { EM, ET, PT, readElf, SHT } from "../../runtime/spec/elf.ts";
import { ElfFormatError } from "../../runtime/errors.ts";

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

Deno.test("readElf reads a C executable's symbols as nm does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_elf_" });
  try {
    await Deno.writeTextFile(
      `${dir}/t.c`,
      "int counter;\nint __attribute__((noinline)) add_one(int x) { return x + counter + 1; }\n" +
        "int main(void) { return add_one(41) == 42 ? 0 : 1; }\n",
    );
    await run("gcc", ["-O1", "-o", `${dir}/t`, `${dir}/t.c`]);
    const elf = readElf(await Deno.readFile(`${dir}/t`));
    assert.equal(elf.machine, EM.X86_64);
    assert.ok(elf.type === ET.DYN || elf.type === ET.EXEC);
    assert.ok(elf.programHeaders.some((p) => p.type === PT.LOAD));
    assert.ok(elf.section(".symtab"));
    assert.ok(elf.section(".dynsym"));
    // nm is the oracle for symbol addresses and types.
    const nm = await run("nm", ["--defined-only", `${dir}/t`]);
    const expected = new Map<string, bigint>();
    for (const line of nm.trim().split("\n")) {
      const [addr, kind, name] = line.split(/\s+/);
      if (kind === "T" || kind === "t") expected.set(name, BigInt("0x" + addr));
    }
    assert.ok(expected.has("add_one"));
    for (const [name, addr] of expected) {
      const sym = elf.symbols.find((s) =>
        s.name === name && s.table === "symtab"
      );
      assert.ok(sym, `symbol ${name} missing`);
      assert.equal(sym.value, addr, name);
    }
    const addOne = elf.symbols.find((s) => s.name === "add_one")!;
    assert.equal(addOne.type, "func");
    assert.equal(addOne.binding, "global");
    assert.equal(elf.sections[addOne.sectionIndex].name, ".text");
    assert.ok(addOne.size > 0n);
    const counter = elf.symbols.find((s) => s.name === "counter")!;
    assert.equal(counter.type, "object");
    // PIE executables load at vaddr 0.
    assert.equal(elf.loadBase(), 0n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readElf reads a shared library's dynamic symbols and relocations", async () => {
  const libc = await Deno.realPath("/lib/x86_64-linux-gnu/libc.so.6");
  const elf = readElf(await Deno.readFile(libc));
  assert.equal(elf.type, ET.DYN);
  const dyn = elf.symbols.filter((s) => s.table === "dynsym");
  const nm = await run("nm", ["-D", "--defined-only", libc]);
  const mallocLine = nm.split("\n").find((l) => / T malloc(@@.*)?$/.test(l))!;
  const malloc = dyn.find((s) => s.name === "malloc" && s.sectionIndex !== 0)!;
  assert.equal(malloc.value, BigInt("0x" + mallocLine.split(" ")[0]));
  const rela = elf.relocations().find((r) => r.section.name === ".rela.plt");
  assert.ok(rela && rela.relocations.length > 0);
  assert.equal(rela.section.type, SHT.RELA);
});

Deno.test("readElf rejects non-ELF and truncated input with ElfFormatError", () => {
  assert.throws(
    () => readElf(new TextEncoder().encode("#!/bin/sh\necho hi\n".repeat(8))),
    {
      name: "ElfFormatError",
      message: /Not an ELF file/,
    },
  );
  const header = new Uint8Array(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  new DataView(header.buffer).setBigUint64(40, 4096n, true);
  new DataView(header.buffer).setUint16(58, 64, true);
  new DataView(header.buffer).setUint16(60, 3, true);
  assert.throws(
    () => readElf(header),
    (e) => e instanceof ElfFormatError && /truncated/.test(e.message),
  );
  // @ts-expect-error: wrong argument type on purpose
  assert.throws(() => readElf("x"), TypeError);
});
