/**
 * runtime/_ffi.ts's symbol table against the public headers (native/include), the one place
 * the library's C signatures are written: every declared symbol exists there, is exported by
 * the built library, and has the same number of parameters of the same classes.
 */
import assert from "node:assert/strict";
import { libraryPath, SYMBOLS } from "../../runtime/_ffi.ts";

const INCLUDE = new URL("../../native/include/", import.meta.url);

/** The FFI types a C type may be declared as. */
function ffiTypes(cType: string): string[] {
  const t = cType.replace(/\bconst\b/g, "").replace(/\s+/g, " ").trim();
  if (t.includes("*") || t.includes("[")) return ["pointer", "buffer"];
  const scalar: Record<string, string> = {
    void: "void",
    int: "i32",
    int32_t: "i32",
    uint32_t: "u32",
    int64_t: "i64",
    uint64_t: "u64",
    size_t: "usize",
  };
  if (!(t in scalar)) throw new Error(`no FFI type for C type '${cType}'`);
  return [scalar[t]];
}

/** `BPFPM_API <result> <name>(<params>);` of every public header, by name. */
function declarations(): Map<string, { result: string; params: string[] }> {
  const out = new Map<string, { result: string; params: string[] }>();
  for (const entry of Deno.readDirSync(INCLUDE)) {
    if (!entry.name.endsWith(".h")) continue;
    const text = Deno.readTextFileSync(new URL(entry.name, INCLUDE))
      .replace(/\/\*[\s\S]*?\*\//g, "");
    const re = /BPFPM_API\s+([^;(]*?)\b(bpfpm_\w+)\s*\(([^)]*)\)\s*;/g;
    for (const m of text.matchAll(re)) {
      const params = m[3].trim() === "void" ? [] : m[3].split(",").map((p) =>
        // The type is what is left of a parameter once its name goes.
        p.trim().replace(/\b\w+(\s*\[\d*\])?$/, (_, array) => array ? "*" : "")
      );
      out.set(m[2], { result: m[1], params });
    }
  }
  return out;
}

Deno.test("every symbol runtime/_ffi.ts declares matches its public header's declaration", () => {
  const declared = declarations();
  assert.ok(declared.size > 50, `read ${declared.size} declarations`);
  for (const [name, ffi] of Object.entries(SYMBOLS)) {
    const c = declared.get(name);
    assert.ok(c, `${name} is declared in no header of native/include`);
    const where = `${name}(${c.params.join(", ")}) -> ${c.result}`;
    assert.equal(
      ffi.parameters.length,
      c.params.length,
      `${where}: ${ffi.parameters.length} FFI parameters`,
    );
    ffi.parameters.forEach((p, i) =>
      assert.ok(
        ffiTypes(c.params[i]).includes(p),
        `${where}: parameter ${i} is ${p} in runtime/_ffi.ts`,
      )
    );
    assert.ok(
      ffiTypes(c.result).includes(ffi.result),
      `${where}: result is ${ffi.result} in runtime/_ffi.ts`,
    );
  }
});

Deno.test("every symbol runtime/_ffi.ts declares is exported by the built library", async () => {
  const out = await new Deno.Command("nm", {
    args: ["-D", "--defined-only", libraryPath()],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  const exported = new Set(
    new TextDecoder().decode(out.stdout).split("\n").map((l) =>
      l.split(" ").pop()
    ),
  );
  const missing = Object.keys(SYMBOLS).filter((n) => !exported.has(n));
  assert.deepEqual(missing, []);
});
