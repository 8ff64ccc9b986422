/**
 * Compile errors point at the token the user wrote: the line and column of this test file
 * where the bad token sits in the template literal, also on lines the BCC rewriter changed
 * (TRACEPOINT_PROBE heads, map method calls), never into the rewriter's own declarations.
 */
import assert from "node:assert/strict";
import { BPF, CompileError, type Diagnostic } from "../../mod.ts";
import { compilerStats } from "../../runtime/compile/mod.ts";
import { crashError } from "../../runtime/compile/compile_error.ts";
import { TrackedText } from "../../runtime/source/_positions.ts";

const SELF = decodeURIComponent(new URL(import.meta.url).pathname);
const LINES = Deno.readTextFileSync(SELF).split("\n");

/** Where the C in this file has `token` (the occurrence not in quotes). */
function written(token: string): { line: number; column: number } {
  const re = new RegExp(`(?<![\\w'"])${token}(?![\\w'"])`);
  for (let i = 0; i < LINES.length; i++) {
    const m = re.exec(LINES[i]);
    if (m) return { line: i + 1, column: m.index + 1 };
  }
  throw new Error(`${token} is not in ${SELF}`);
}

/** The CompileError that loading throws (fails the test when it loads). */
async function compileError(load: () => Promise<BPF>): Promise<CompileError> {
  try {
    (await load()).close();
  } catch (e) {
    if (e instanceof CompileError) return e;
    throw e;
  }
  assert.fail("the C compiled");
}

/** The error diagnostic about `token`, as file, line and column. */
function placeOf(e: CompileError, token: string) {
  const d = e.diagnostics.find((d: Diagnostic) =>
    d.severity.endsWith("error") && d.message.includes(`'${token}'`)
  );
  assert.ok(d, `no error about '${token}' in:\n${e.text}`);
  return { file: d.file, line: d.line, column: d.column };
}

Deno.test("diagnostics: an error in a one-line TRACEPOINT_PROBE body has the .ts column", async () => {
  const e = await compileError(() =>
    BPF.load({
      text:
        `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return q_tp_body; }`,
      autoAttach: false,
    })
  );
  assert.deepEqual(placeOf(e, "q_tp_body"), {
    file: SELF,
    ...written("q_tp_body"),
  });
  // The line shown under the error is the user's, with the caret under the token.
  const line = LINES[written("q_tp_body").line - 1];
  const c = line.slice(line.indexOf("`") + 1, line.lastIndexOf("`"));
  const caret = `${" ".repeat(c.indexOf("q_tp_body"))}^`;
  assert.ok(`${e.message}\n`.includes(`\n${c}\n${caret}\n`), e.message);
});

Deno.test("diagnostics: TRACEPOINT_PROBE's arguments over two lines keep the next line's columns", async () => {
  const e = await compileError(() =>
    BPF.load({
      text: `
  TRACEPOINT_PROBE(syscalls,
      sys_enter_getppid) { return q_tp_split; }`,
      autoAttach: false,
    })
  );
  assert.deepEqual(placeOf(e, "q_tp_split"), {
    file: SELF,
    ...written("q_tp_split"),
  });
});

Deno.test("diagnostics: an error in a map method call's argument has the .ts column", async () => {
  const e = await compileError(() =>
    BPF.load({
      text: `BPF_HASH(q_counts, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  q_counts.increment(q_method_arg); return 0;
}`,
      autoAttach: false,
    })
  );
  assert.deepEqual(placeOf(e, "q_method_arg"), {
    file: SELF,
    ...written("q_method_arg"),
  });
});

Deno.test("diagnostics: an undeclared identifier after rewritten constructs on its line", async () => {
  const load = () =>
    BPF.load({
      text:
        `BPF_HASH(q_hist, u32, u64); TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { u32 k = 1; q_hist.increment(k); q_hist.increment(k, 2); return q_after; }`,
      autoAttach: false,
    });
  const first = await compileError(load);
  assert.deepEqual(placeOf(first, "q_after"), {
    file: SELF,
    ...written("q_after"),
  });
  // A warm start takes the rewrite from its memo: the same place.
  const again = await compileError(load);
  assert.deepEqual(placeOf(again, "q_after"), placeOf(first, "q_after"));
});

Deno.test("diagnostics: escapes before a rewritten construct count as written in the .ts", async () => {
  const e = await compileError(() =>
    BPF.load({
      text:
        `BPF_HASH(q_esc, u32, u64); TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { bpf_trace_printk("a\\tb\\n"); q_esc.increment(q_esc_key); return 0; }`,
      autoAttach: false,
    })
  );
  assert.deepEqual(placeOf(e, "q_esc_key"), {
    file: SELF,
    ...written("q_esc_key"),
  });
});

Deno.test("diagnostics: a bad member in a kernel read the rewriter turns into a CO-RE read", async () => {
  const e = await compileError(() =>
    BPF.load({
      text:
        `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { struct task_struct *t = (struct task_struct *)bpf_get_current_task(); return t->real_parent->q_member; }`,
      autoAttach: false,
    })
  );
  assert.deepEqual(placeOf(e, "q_member"), {
    file: SELF,
    ...written("q_member"),
  });
});

Deno.test("diagnostics: C read from a file gets that file's columns on a rewritten line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-diag-" });
  try {
    const file = `${dir}/probe.bpf.c`;
    const c =
      `BPF_ARRAY(q_arr, u64, 4);\nTRACEPOINT_PROBE(syscalls, sys_enter_getppid) { u32 i = 0; u64 *v = q_arr.lookup(&i); return q_in_file; }\n`;
    await Deno.writeTextFile(file, c);
    const e = await compileError(() => BPF.load({ file, autoAttach: false }));
    assert.deepEqual(placeOf(e, "q_in_file"), {
      file,
      line: 2,
      column: c.split("\n")[1].indexOf("q_in_file") + 1,
    });
    // Under the error: the file's line as written, the caret under the token.
    const line = c.split("\n")[1];
    const caret = `${" ".repeat(line.indexOf("q_in_file"))}^`;
    assert.ok(`${e.message}\n`.includes(`\n${line}\n${caret}\n`), e.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("diagnostics: an error inside the rewriter's declarations never names a .ts line", async () => {
  const e = await compileError(() =>
    BPF.load({
      text: `struct q_pair { int a; };
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  struct q_pair p = {};
  bpf_trace_printk("%d", p);
  return 0;
}`,
      autoAttach: false,
    })
  );
  assert.ok(e.diagnostics.length > 0, e.text);
  // The literal spans these lines of this file; anything placed in it must be one of them.
  const first = written("q_pair").line;
  for (const d of e.diagnostics) {
    if (d.file !== SELF) continue;
    assert.ok(d.line >= first && d.line <= first + 5, JSON.stringify(d));
  }
  assert.ok(
    e.diagnostics.some((d) =>
      d.file === "<generated by bpfpm for bpf_trace_printk>"
    ),
    `the macro's diagnostic names what bpfpm generated it for:\n${e.text}`,
  );
});

Deno.test("diagnostics: a failed load compiles once (the error is re-mapped, not recompiled)", async () => {
  const before = compilerStats().compiles;
  const e = await compileError(() =>
    BPF.load({
      text: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return q_once; }`,
      autoAttach: false,
    })
  );
  assert.equal(compilerStats().compiles - before, 1);
  assert.deepEqual(placeOf(e, "q_once"), { file: SELF, ...written("q_once") });
});

Deno.test("diagnostics: LLVM 14 aborting on a used 32-bit atomic add is a CompileError at the call", async () => {
  // BPF CPU v3, the default, has a 32-bit fetch-and-add; v1 makes LLVM 14 abort.
  const e = await compileError(() =>
    BPF.load({
      text: `u32 q_counter;
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  u32 v = __sync_add_and_fetch(&q_counter, 1);
  return v;
}`,
      cflags: ["-mcpu=v1"],
      autoAttach: false,
    })
  );
  const [d] = e.diagnostics;
  assert.deepEqual(
    { file: d.file, line: d.line, column: d.column, severity: d.severity },
    { file: SELF, ...written("__sync_add_and_fetch"), severity: "fatal error" },
  );
  assert.match(d.message, /the compiler crashed on this C \(an LLVM 14 bug/);
  assert.match(d.message, /XADD/);
  assert.match(d.message, /make the variable 64-bit \(u64\)/);
  assert.doesNotMatch(e.message, /setup\.sh/);
});

Deno.test("diagnostics: a crash stack's innermost source place, or its function, is where the error points", () => {
  const source = "int f(void *ctx)\n{\n  return g(ctx);\n}\n";
  const mapping = { name: "/x/p.bpf.c", file: "p.ts", lineOffset: 10 };
  const parser = crashError(
    `the compiler crashed (signal 11: Segmentation fault); the compiler's output: PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/ and include the crash backtrace.
Stack dump:
0.\tProgram arguments: clang -cc1 -triple bpf -O2
1.\t/x/p.bpf.c:3:12: current parser token ')'
2.\t/x/p.bpf.c:1:1: parsing function body 'f'`,
    source,
    mapping,
  );
  assert.ok(parser);
  assert.deepEqual(
    parser.diagnostics.map((d) => [d.file, d.line, d.column, d.severity]),
    [["p.ts", 12, 12, "fatal error"]],
  );
  assert.match(
    parser.diagnostics[0].message,
    /^the compiler crashed on this C \(an LLVM 14 bug, signal 11\): current parser token '\)'/,
  );
  assert.doesNotMatch(parser.message, /Program arguments|setup\.sh/);

  const codegen = crashError(
    `the compiler crashed (signal 11: Segmentation fault); the compiler's output: Stack dump:
1.\t<eof> parser at end of file
2.\tCode generation
4.\tRunning pass 'BPF DAG->DAG Pattern Instruction Selection' on function '@f'`,
    source,
    mapping,
  );
  assert.deepEqual(
    codegen?.diagnostics.map((d) => [d.line, d.column]),
    [[10, 5]],
  );
  assert.match(codegen!.diagnostics[0].message, /in function f/);

  // Not a crash: the library could not run, which crashError leaves to its caller.
  assert.equal(
    crashError(
      "cannot locate libclang-cpp.so.14 next to libbpfpm_compiler.so",
      source,
      mapping,
    ),
    undefined,
  );
});

Deno.test("diagnostics: the rewrite's position map follows insertions, several edits on a line and whole-text changes", () => {
  const t = new TrackedText("ab cd ef\nxy\n");
  t.edit([{ start: 3, end: 3, text: "INS " }, {
    start: 6,
    end: 8,
    text: "(long)",
  }]);
  t.text = `${t.text}tail\n`;
  assert.equal(t.text, "ab INS cd (long)\nxy\ntail\n");
  const map = t.positions();
  const at = (line: number, column: number) =>
    CompileError.fromClang(`s.c:${line}:${column}: error: e`, {
      name: "s.c",
      positions: map,
    }).diagnostics[0];
  // "cd" moved from column 4 to 8; the replacement maps to what it replaced; line 2 is as is.
  assert.deepEqual([at(1, 8).line, at(1, 8).column], [1, 4]);
  assert.deepEqual([at(1, 5).column, at(1, 12).column], [4, 7]);
  assert.deepEqual([at(2, 2).line, at(2, 2).column], [2, 2]);
  assert.equal(map["2"], undefined);
  assert.equal(t.generatedTail(), "ab INS cd (long)\nxy\n".length);
});
