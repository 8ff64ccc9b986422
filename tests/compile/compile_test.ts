// The compile layer against the real in-process clang: objects, the LLVM 14 CO-RE
// recompile bug, diagnostics mapped into the .ts file, and the cache (hits, corruption,
// stale headers, flags). No root needed. One cache dir for the file, so vmlinux.h and its
// PCH are built once.
import assert from "node:assert/strict";
import {
  compile,
  CompileError,
  compilePermissions,
  compilerStats,
  type Diagnostic,
  prepareCompiler,
} from "../../runtime/compile/mod.ts";

const EM_BPF = 247;

/** Section names of an ELF64 little-endian object, and its e_machine. */
function elfSections(obj: Uint8Array): { machine: number; sections: string[] } {
  assert.deepEqual([...obj.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  const v = new DataView(obj.buffer, obj.byteOffset, obj.byteLength);
  const shoff = Number(v.getBigUint64(0x28, true));
  const shentsize = v.getUint16(0x3a, true);
  const shnum = v.getUint16(0x3c, true);
  const shstrndx = v.getUint16(0x3e, true);
  const sh = (i: number) => shoff + i * shentsize;
  const strOff = Number(v.getBigUint64(sh(shstrndx) + 0x18, true));
  const sections: string[] = [];
  for (let i = 1; i < shnum; i++) {
    let p = strOff + v.getUint32(sh(i), true);
    let name = "";
    while (obj[p]) name += String.fromCharCode(obj[p++]);
    sections.push(name);
  }
  return { machine: v.getUint16(18, true), sections };
}

/** Compiles `source` in a new deno process; returns what that process observed. */
async function inFreshProcess(
  cacheDir: string,
  source: string,
  flags: string[] = ["-A"],
) {
  const mod = new URL("../../runtime/compile/mod.ts", import.meta.url).href;
  const script = `
    import { compile, compilerStats } from ${JSON.stringify(mod)};
    const r = await compile(${JSON.stringify(source)}, { cacheDir: ${
    JSON.stringify(cacheDir)
  } });
    const maps = ${JSON.stringify(flags.includes("-A"))}
      ? Deno.readTextFileSync("/proc/self/maps")
      : "";
    console.log(JSON.stringify({
      cached: r.cached,
      stats: compilerStats(),
      compilerLibMapped: maps.includes("libbpfpm_compiler.so"),
      llvmMapped: /libLLVM|libclang-cpp|libbpfpm_clang/.test(maps),
    }));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const { code, stdout, stderr } = await child.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

const TRACEPOINT = `
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	bpf_printk("getppid");
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

// A CO-RE field read: what makes LLVM 14 crash on a second compile in one process.
const CORE = `
SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int tgid = BPF_CORE_READ(t, tgid);
	bpf_printk("tgid %d", tgid);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("compile", async (t) => {
  const cacheDir = await Deno.makeTempDir({ prefix: "bpfpm_compile_test_" });
  try {
    await t.step(
      "prepareCompiler() builds vmlinux.h and the PCH once",
      async () => {
        const before = compilerStats();
        const ready = await prepareCompiler({ cacheDir });
        assert.match(
          Deno.readTextFileSync(ready.vmlinuxH),
          /struct task_struct \{/,
        );
        assert.equal(
          new TextDecoder().decode(Deno.readFileSync(ready.pch).subarray(0, 4)),
          "CPCH",
        );
        await prepareCompiler({ cacheDir });
        const after = compilerStats();
        assert.equal(after.vmlinuxBuilds, before.vmlinuxBuilds + 1);
        assert.equal(after.pchBuilds, before.pchBuilds + 1);
        assert.equal(after.compiles, before.compiles);
      },
    );

    await t.step(
      "a tracepoint program becomes a BPF ELF with its section",
      async () => {
        const before = compilerStats();
        const { object, cached } = await compile(TRACEPOINT, { cacheDir });
        assert.equal(cached, false);
        assert.equal(compilerStats().pchBuilds, before.pchBuilds, "prepared");
        const elf = elfSections(object);
        assert.equal(elf.machine, EM_BPF);
        assert.ok(
          elf.sections.includes("tracepoint/syscalls/sys_enter_getppid"),
        );
        assert.ok(elf.sections.includes("license"));
        assert.ok(elf.sections.includes(".BTF"));
      },
    );

    await t.step(
      "libbpf-style includes of vmlinux.h and bpf headers work",
      async () => {
        const { object } = await compile(
          `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev)
{
	return BPF_CORE_READ(prev, pid) == 0;
}
char LICENSE[] SEC("license") = "GPL";
`,
          { cacheDir },
        );
        assert.ok(elfSections(object).sections.includes("tp_btf/sched_switch"));
      },
    );

    await t.step("a CO-RE program compiles twice in one process", async () => {
      const first = await compile(CORE, { cacheDir, noCache: true });
      const second = await compile(CORE, { cacheDir, noCache: true });
      for (const r of [first, second]) {
        assert.equal(r.cached, false);
        const { sections } = elfSections(r.object);
        assert.ok(sections.includes("raw_tp/sys_enter"));
        assert.ok(
          sections.includes(".BTF.ext"),
          "CO-RE relocations are in .BTF.ext",
        );
      }
      assert.deepEqual(second.object, first.object);
      // DWARF (≈ 600 KB here) is emptied; BTF and CO-RE relocations stay.
      assert.ok(first.object.length < 64_000, `${first.object.length} bytes`);
    });

    await t.step("a syntax error maps to the .ts line and column", async () => {
      // As if the C started at line 20, column 28 of probe.ts (after a backtick).
      const source = `int ok(void)\n{\n  return missing + 1;\n}\n`;
      const e = await compile(source, {
        cacheDir,
        file: "/home/u/probe.ts",
        lineOffset: 20,
        columnOffset: 28,
      }).catch((x) => x);
      assert.ok(e instanceof CompileError);
      const first = e.diagnostics[0];
      assert.deepEqual(
        { ...first },
        {
          file: "/home/u/probe.ts",
          line: 22,
          column: 10,
          severity: "error",
          message: "use of undeclared identifier 'missing'",
        },
      );
      assert.match(
        e.message,
        /^BPF C source does not compile \(1 error\).*\n\/home\/u\/probe\.ts:22:10: error: use of undeclared identifier 'missing'\n {2}return missing \+ 1;\n +\^/,
      );
      assert.ok(!e.text.includes("script.bpf.c"), "every position is mapped");
    });

    await t.step(
      "an error on the first C line gets the column offset",
      async () => {
        const e = await compile(`int x = ;`, {
          cacheDir,
          file: "a.ts",
          lineOffset: 7,
          columnOffset: 30,
        }).catch((x) => x);
        assert.ok(e instanceof CompileError);
        assert.equal(e.diagnostics[0].line, 7);
        assert.equal(e.diagnostics[0].column, 30 + 8);
      },
    );

    await t.step(
      "columns count a template literal's escapes as written",
      async () => {
        const dir = await Deno.makeTempDir({ dir: cacheDir });
        const file = `${dir}/probe.ts`;
        // In the .ts, "\\n" is 3 characters; in the C it is 2.
        const ts =
          'const text = `int f(void)\n{\n  bpf_printk("a\\\\n"); return nope;\n}`;\n';
        await Deno.writeTextFile(file, ts);
        const cooked = 'int f(void)\n{\n  bpf_printk("a\\n"); return nope;\n}';
        const e = await compile(cooked, {
          cacheDir,
          file,
          lineOffset: 1,
          columnOffset: 15,
        }).catch((x) => x);
        assert.ok(e instanceof CompileError);
        const line3 = ts.split("\n")[2];
        assert.equal(e.diagnostics[0].line, 3);
        assert.equal(e.diagnostics[0].column, line3.indexOf("nope") + 1);
        assert.equal(
          e.diagnostics[0].message,
          "use of undeclared identifier 'nope'",
        );
      },
    );

    await t.step("a CompileError can be mapped after the fact", async () => {
      const bare = await compile(`int f(void)\n{\n  return missing;\n}`, {
        cacheDir,
      })
        .catch((x) => x);
      assert.ok(bare instanceof CompileError);
      assert.equal(bare.diagnostics[0].file, "/bpfpm/script.bpf.c");
      assert.equal(bare.diagnostics[0].line, 3);
      const at = bare.at({ file: "late.ts", lineOffset: 40, columnOffset: 9 });
      assert.deepEqual(
        { ...at.diagnostics[0] },
        {
          file: "late.ts",
          line: 42,
          column: 10,
          severity: "error",
          message: "use of undeclared identifier 'missing'",
        },
      );
      assert.match(
        at.message,
        /\nlate\.ts:42:10: error: use of undeclared identifier 'missing'/,
      );
    });

    await t.step(
      "a prelude keeps the source's lines and is not blamed on the file",
      async () => {
        const e = await compile("int a = VALUE;\nint b = nope;", {
          cacheDir,
          file: "p.ts",
          lineOffset: 10,
          prelude: "#define VALUE 1\nint c = ;",
        }).catch((x) => x);
        assert.ok(e instanceof CompileError);
        assert.deepEqual(
          e.diagnostics.map((d: Diagnostic) =>
            `${d.file}:${d.line}:${d.column}`
          ),
          ["<bpfpm prelude>:2:9", "p.ts:11:9"],
        );
      },
    );

    await t.step(
      "the compile child keeps none of the parent's files open",
      async () => {
        const marker = await Deno.makeTempFile({ dir: cacheDir });
        const file = Deno.openSync(marker, { write: true });
        try {
          let done = false;
          const compiling = compile(CORE, { cacheDir, noCache: true })
            .finally(() => done = true);
          let seen: string[] | undefined;
          // The last look counts: the first might come between fork() and the fd cleanup.
          while (!done) {
            await new Promise((r) => setTimeout(r, 2));
            for (const task of Deno.readDirSync("/proc/self/task")) {
              const kids = Deno.readTextFileSync(
                `/proc/self/task/${task.name}/children`,
              )
                .trim().split(" ").filter(Boolean);
              for (const pid of kids) {
                try {
                  const fds = [...Deno.readDirSync(`/proc/${pid}/fd`)].map((
                    e,
                  ) =>
                    `${e.name}=${
                      Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`)
                    }`
                  );
                  // Only the compile child holds clang's stderr memfd: other children
                  // of this test process (other tests' servers and probes) are not it.
                  if (fds.some((f) => f.includes("bpfpm-compiler-stderr"))) {
                    seen = fds;
                  }
                } catch {
                  // Exited meanwhile.
                }
              }
            }
          }
          await compiling;
          assert.ok(seen, "the compile child was observed");
          const fd = new Map(
            seen.map((f) => f.split(/=(.*)/s).slice(0, 2) as [string, string]),
          );
          assert.equal(fd.get("0"), "/dev/null");
          assert.equal(fd.get("1"), "/dev/null");
          assert.match(fd.get("2")!, /^\/memfd:bpfpm-compiler-stderr/);
          assert.match(fd.get("3")!, /^pipe:/);
          // Beyond those, only files clang itself opened (headers, the PCH) may show up:
          // nothing the parent had open (the marker file, sockets, BPF links, pipes).
          for (const [n, target] of fd) {
            if (Number(n) <= 3) continue;
            assert.ok(
              target.startsWith("/") && target !== marker,
              `fd ${n}: ${target}`,
            );
          }
        } finally {
          file.close();
        }
      },
    );

    await t.step("a second compile is a cache hit", async () => {
      const before = compilerStats();
      const hit = await compile(TRACEPOINT, { cacheDir });
      const after = compilerStats();
      assert.equal(hit.cached, true);
      assert.equal(after.compiles, before.compiles);
      assert.equal(after.cacheHits, before.cacheHits + 1);
    });

    await t.step(
      "a fresh process with a warm cache does not load LLVM",
      async () => {
        assert.deepEqual(await inFreshProcess(cacheDir, TRACEPOINT), {
          cached: true,
          stats: {
            compiles: 0,
            cacheHits: 1,
            corruptEntries: 0,
            vmlinuxBuilds: 0,
            pchBuilds: 0,
            libraryLoaded: false,
          },
          compilerLibMapped: false,
          llvmMapped: false,
        });
      },
    );

    await t.step(
      "two processes on an empty cache build the PCH once",
      async () => {
        const empty = await Deno.makeTempDir({ dir: cacheDir });
        const [a, b] = await Promise.all([
          inFreshProcess(empty, TRACEPOINT),
          inFreshProcess(empty, CORE),
        ]);
        assert.equal(a.cached, false);
        assert.equal(b.cached, false);
        assert.equal(a.stats.vmlinuxBuilds + b.stats.vmlinuxBuilds, 1);
        assert.equal(a.stats.pchBuilds + b.stats.pchBuilds, 1);
        // Both compiled, yet LLVM only ever lived in their compile children.
        assert.ok(a.compilerLibMapped && b.compilerLibMapped);
        assert.equal(a.llvmMapped || b.llvmMapped, false);
      },
    );

    await t.step(
      "compilePermissions() suffices without -A, cold and warm",
      async () => {
        // No BTF memo: the cold process must read the kernel's BTF through the library.
        await Deno.remove(`${cacheDir}/btf`, { recursive: true });
        const source = `${TRACEPOINT}// narrow flags\n`;
        const flagsFor = (warmOnly: boolean) => {
          const byKind = new Map<string, string[]>();
          for (const p of compilePermissions({ cacheDir })) {
            if (warmOnly && !p.warm) continue;
            const [kind, value] = p.flag.split("=");
            byKind.set(kind, [...(byKind.get(kind) ?? []), value]);
          }
          return [...byKind].map(([kind, values]) =>
            `${kind}=${values.join(",")}`
          );
        };
        const cold = await inFreshProcess(cacheDir, source, flagsFor(false));
        assert.equal(cold.cached, false);
        const warm = await inFreshProcess(cacheDir, source, flagsFor(true));
        assert.equal(warm.cached, true);
        assert.equal(warm.stats.libraryLoaded, false);
      },
    );

    for (
      const [what, damage] of [
        ["truncated", (b: Uint8Array) => b.subarray(0, b.length - 100)],
        ["bit-flipped", (b: Uint8Array) => {
          const c = b.slice();
          c[c.length - 200] ^= 0x40;
          return c;
        }],
        ["emptied", () => new Uint8Array(0)],
      ] as const
    ) {
      await t.step(`a ${what} entry is detected and recompiled`, async () => {
        const good = await compile(TRACEPOINT, { cacheDir });
        const path = `${cacheDir}/obj/${good.key}.bpfo`;
        Deno.writeFileSync(path, damage(Deno.readFileSync(path)));
        const before = compilerStats();
        const again = await compile(TRACEPOINT, { cacheDir });
        const after = compilerStats();
        assert.equal(again.cached, false);
        assert.equal(after.corruptEntries, before.corruptEntries + 1);
        assert.equal(after.compiles, before.compiles + 1);
        assert.deepEqual(again.object, good.object);
        const healed = await compile(TRACEPOINT, { cacheDir });
        assert.equal(healed.cached, true, "the recompiled entry was stored");
      });
    }

    await t.step("cflags change the key and reach the source", async () => {
      const src = `
        SEC("raw_tp/sys_enter") int f(void *ctx) { return VALUE; }
        char LICENSE[] SEC("license") = "GPL";`;
      const one = await compile(src, { cacheDir, cflags: ["-D", "VALUE=1"] });
      const two = await compile(src, { cacheDir, cflags: ["-DVALUE=2"] });
      assert.notEqual(one.key, two.key);
      assert.equal(two.cached, false);
      assert.notDeepEqual(one.object, two.object);
      const oneAgain = await compile(src, {
        cacheDir,
        cflags: ["-D", "VALUE=1"],
      });
      assert.equal(oneAgain.cached, true);
      assert.equal(oneAgain.key, one.key);
    });

    await t.step(
      "flags that change the language compile without the PCH",
      async () => {
        const r = await compile(TRACEPOINT, {
          cacheDir,
          cflags: ["-std=gnu11"],
        });
        assert.equal(r.cached, false);
        assert.ok(elfSections(r.object).sections.includes("license"));
      },
    );

    await t.step(
      "an edited header invalidates the objects built from it",
      async () => {
        const dir = await Deno.makeTempDir({ dir: cacheDir });
        const src = `#include "value.h"
        SEC("raw_tp/sys_enter") int f(void *ctx) { return VALUE; }
        char LICENSE[] SEC("license") = "GPL";`;
        await Deno.writeTextFile(`${dir}/value.h`, "#define VALUE 1\n");
        const one = await compile(src, { cacheDir, name: `${dir}/p.bpf.c` });
        assert.equal(
          (await compile(src, { cacheDir, name: `${dir}/p.bpf.c` })).cached,
          true,
        );
        await Deno.writeTextFile(`${dir}/value.h`, "#define VALUE 22\n");
        const two = await compile(src, { cacheDir, name: `${dir}/p.bpf.c` });
        assert.equal(two.cached, false);
        assert.equal(two.key, one.key, "same key, but the header changed");
        assert.notDeepEqual(two.object, one.object);
      },
    );

    await t.step("a damaged PCH is rebuilt", async () => {
      const [kernel] = [...Deno.readDirSync(`${cacheDir}/kernel`)];
      const dir = `${cacheDir}/kernel/${kernel.name}`;
      const pchDir = [...Deno.readDirSync(dir)].find((e) =>
        e.name.startsWith("pch-")
      )!;
      const pch = `${dir}/${pchDir.name}/bpfpm_pch.h.pch`;
      const before = Deno.statSync(pch);
      // Same size and mtime, so only clang can notice.
      const f = Deno.openSync(pch, { read: true, write: true });
      try {
        f.writeSync(new TextEncoder().encode("XXXX"));
      } finally {
        f.close();
      }
      Deno.utimeSync(pch, before.atime!, before.mtime!);
      const compiles = compilerStats().compiles;
      const r = await compile(TRACEPOINT + "// new source\n", { cacheDir });
      assert.equal(r.cached, false);
      assert.equal(
        compilerStats().compiles,
        compiles + 2,
        "failed once, then rebuilt",
      );
      assert.ok(elfSections(r.object).sections.includes("license"));
      const magic = Deno.readFileSync(pch).subarray(0, 4);
      assert.equal(new TextDecoder().decode(magic), "CPCH");
    });

    await t.step(
      "warnings are returned, mapped, and kept in the cache",
      async () => {
        const src = `int unused(void) { int x; return 0; }`;
        const opts = {
          cacheDir,
          file: "w.ts",
          lineOffset: 3,
          columnOffset: 5,
          cflags: ["-Wunused-variable"],
        };
        const fresh = await compile(src, opts);
        const hit = await compile(src, opts);
        assert.equal(hit.cached, true);
        for (const r of [fresh, hit]) {
          assert.deepEqual(
            r.warnings.map((w) => ({ ...w })),
            [{
              file: "w.ts",
              line: 3,
              column: 5 + 23,
              severity: "warning",
              message: "unused variable 'x' [-Wunused-variable]",
            }],
          );
          assert.match(
            r.warningText,
            /^w\.ts:3:28: warning: unused variable 'x'/,
          );
        }
      },
    );

    await t.step("a cache dir other users can write is refused", async () => {
      const shared = await Deno.makeTempDir({ dir: cacheDir });
      Deno.chmodSync(shared, 0o777);
      await assert.rejects(
        compile(TRACEPOINT, { cacheDir: shared }),
        (e: Error) => {
          assert.equal(
            e.message,
            `The BPF compile cache ${shared} is writable by other users, so its objects cannot be trusted: run chmod go-w ${shared} (and chown it), or set BPFPM_CACHE_DIR to a private directory`,
          );
          return true;
        },
      );
    });

    await t.step("a miss prunes unused entries once a day", async () => {
      const ago = (days: number) => new Date(Date.now() - days * 86400_000);
      const plant = (path: string, days: number) => {
        Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), {
          recursive: true,
        });
        Deno.writeFileSync(path, new Uint8Array(8));
        Deno.utimeSync(path, ago(days), ago(days));
      };
      plant(`${cacheDir}/obj/${"0".repeat(64)}.bpfo`, 40);
      plant(`${cacheDir}/obj/${"1".repeat(64)}.bpfo`, 2);
      plant(`${cacheDir}/obj/x.bpfo.1.tmp`, 1);
      plant(`${cacheDir}/kernel/${"f".repeat(24)}/vmlinux.h`, 10);
      const [ours] = [...Deno.readDirSync(`${cacheDir}/kernel`)]
        .filter((e) => e.name !== "f".repeat(24));
      const stalePch = `kernel/${ours.name}/pch-${"e".repeat(24)}`;
      plant(`${cacheDir}/${stalePch}/deps.json`, 3);
      plant(`${cacheDir}/btf/00000000-0000-0000-0000-000000000000`, 0);
      const kept = (await compile(TRACEPOINT, { cacheDir })).key;
      const [current] = [...Deno.readDirSync(`${cacheDir}/kernel`)]
        .filter((e) => e.name !== "f".repeat(24));
      Deno.utimeSync(`${cacheDir}/.pruned`, ago(2), ago(2));

      await compile(TRACEPOINT + "// a miss\n", { cacheDir });

      const exists = (p: string) => {
        try {
          Deno.statSync(`${cacheDir}/${p}`);
          return true;
        } catch {
          return false;
        }
      };
      assert.equal(
        exists(`obj/${"0".repeat(64)}.bpfo`),
        false,
        "40 days unused",
      );
      assert.equal(exists(`obj/x.bpfo.1.tmp`), false, "stale temp file");
      assert.equal(exists(`kernel/${"f".repeat(24)}`), false, "another kernel");
      assert.equal(exists(stalePch), false, "another compiler build's PCH");
      assert.equal(exists(`btf/00000000-0000-0000-0000-000000000000`), false);
      assert.equal(exists(`obj/${"1".repeat(64)}.bpfo`), true, "2 days unused");
      assert.equal(exists(`obj/${kept}.bpfo`), true);
      assert.equal(exists(`kernel/${current.name}/vmlinux.h`), true);
      assert.equal((await compile(TRACEPOINT, { cacheDir })).cached, true);
    });

    await t.step("a missing compiler library names the fix", async () => {
      const dir = await Deno.makeTempDir({ dir: cacheDir });
      const mod = new URL("../../runtime/compile/mod.ts", import.meta.url).href;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { compile } from ${JSON.stringify(mod)};
           await compile("int x;", { cacheDir: ${JSON.stringify(dir)} });`,
        ],
        env: { BPFPM_COMPILER_LIB: `${dir}/nope/libbpfpm_compiler.so` },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.notEqual(out.code, 0);
      assert.match(
        new TextDecoder().decode(out.stderr),
        new RegExp(
          `NativeLibraryError: The BPF compiler library ${dir}/nope/libbpfpm_compiler\\.so is missing: run \\./scripts/setup\\.sh \\(or make -C native\\), or set BPFPM_COMPILER_LIB`,
        ),
      );
    });

    await t.step(
      "a missing read permission names the directory to allow",
      async () => {
        const mod =
          new URL("../../runtime/compile/mod.ts", import.meta.url).href;
        const repo = new URL("../../", import.meta.url).pathname;
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            `--allow-read=${cacheDir},${repo}`,
            "--allow-env",
            "--allow-sys",
            "-",
          ],
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const w = out.stdin.getWriter();
        await w.write(new TextEncoder().encode(
          `import { compile } from ${JSON.stringify(mod)};
         await compile(${JSON.stringify(TRACEPOINT)}, { cacheDir: ${
            JSON.stringify(cacheDir)
          } });`,
        ));
        await w.close();
        const { code, stderr } = await out.output();
        assert.notEqual(code, 0);
        assert.match(
          new TextDecoder().decode(stderr),
          /DenoPermissionError: Deno may not read \/usr\/lib\/llvm-14\/lib\/libclang-cpp\.so\.14, which compiling BPF C needs: run deno with --allow-read=\/usr\/lib\/llvm-14\/lib \(or -A\)/,
        );
      },
    );

    await t.step(
      "BPFPM_BTF_PATH: vmlinux.h comes from that BTF file",
      async () => {
        const dir = await Deno.makeTempDir({ dir: cacheDir });
        const btf = `${dir}/vmlinux.btf`;
        Deno.copyFileSync("/sys/kernel/btf/vmlinux", btf);
        const source = `${TRACEPOINT}// BPFPM_BTF_PATH\n`;
        Deno.env.set("BPFPM_BTF_PATH", btf);
        try {
          const r = await compile(source, { cacheDir });
          assert.equal(r.cached, false);
          const memos = [...Deno.readDirSync(`${cacheDir}/btf`)]
            .filter((e) => e.name.startsWith("file-"));
          assert.equal(memos.length, 1);
          assert.match(memos[0].name, /^file-[0-9a-f]{24}$/);
          assert.equal(
            (await compile(source, { cacheDir })).cached,
            true,
          );

          Deno.env.set("BPFPM_BTF_PATH", `${dir}/nope.btf`);
          await assert.rejects(
            compile(TRACEPOINT, { cacheDir }),
            (e: Error) => {
              assert.equal(e.name, "KernelBtfError");
              assert.match(
                e.message,
                /^The BTF file .*nope\.btf \(BPFPM_BTF_PATH\) is unreadable/,
              );
              return true;
            },
          );
        } finally {
          Deno.env.delete("BPFPM_BTF_PATH");
        }
      },
    );

    await t.step("bad arguments are TypeError/RangeError", async () => {
      await assert.rejects(compile(42 as unknown as string), TypeError);
      await assert.rejects(
        compile("", { name: 7 as unknown as string, cacheDir }),
        TypeError,
      );
      await assert.rejects(
        compile("", { lineOffset: 0, cacheDir }),
        RangeError,
      );
    });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
