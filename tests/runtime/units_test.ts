/**
 * Pure functions of the runtime core: trace line parsing, verifier summaries, tracepoint
 * format structs, the C scanner, locating embedded C, capability bits.
 */
import assert from "node:assert/strict";
import { parseTraceLine } from "../../runtime/trace/trace_pipe.ts";
import { summarizeVerifierLog } from "../../runtime/verifier.ts";
import {
  formatToStruct,
  parseFormat,
} from "../../runtime/source/tracepoint_format.ts";
import {
  findCalls,
  maskC,
  spliceKeepingLines,
} from "../../runtime/source/_scan.ts";
import { rewrite } from "../../runtime/source/rewrite.ts";
import { locateText } from "../../runtime/_location.ts";
import { missingCapabilities } from "../../runtime/_system.ts";

Deno.test("parseTraceLine: task with dashes, tgid column, message", () => {
  assert.deepEqual(
    parseTraceLine(
      "   kworker/0:1-events-123   [001] d..31  10.500001: bpf_trace_printk: Hello, World!",
    ),
    {
      task: "kworker/0:1-events",
      pid: 123,
      cpu: 1,
      flags: "d..31",
      ts: 10.500001,
      msg: "Hello, World!",
    },
  );
  assert.deepEqual(
    parseTraceLine(
      "           <...>-42      (     40) [000] .....  1.000000: bpf_trace_printk: x y",
    ),
    { task: "<...>", pid: 42, cpu: 0, flags: ".....", ts: 1, msg: "x y" },
  );
  assert.equal(parseTraceLine("CPU:1 [LOST 12 EVENTS]"), undefined);
});

Deno.test("summarizeVerifierLog: failing insn, its C line and the reason", () => {
  const log = [
    "func#0 @0",
    "0: R1=ctx() R10=fp0",
    "; return *(int *)((char *)ctx + 100000); @ script.bpf.c:4",
    "0: (07) r1 += 100000",
    "1: (61) r0 = *(u32 *)(r1 +0)",
    "dereference of modified ctx ptr R1 off=100000 disallowed",
    "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0",
    "",
  ].join("\n");
  assert.equal(
    summarizeVerifierLog(log),
    'insn 1 (r0 = *(u32 *)(r1 +0)) at script.bpf.c:4 ("return *(int *)((char *)ctx + 100000);"): dereference of modified ctx ptr R1 off=100000 disallowed',
  );
  assert.equal(summarizeVerifierLog("\n"), "no reason given");
});

const FORMAT = `name: demo
ID: 1
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:pid_t pid;\toffset:32;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:36;\tsize:16;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:52;\tsize:4;\tsigned:1;
\tfield:u64 odd;\toffset:58;\tsize:8;\tsigned:0;

print fmt: "x"`;

Deno.test("formatToStruct: kernel offsets, kernel sizes, declared types where C knows them", () => {
  assert.deepEqual(parseFormat(FORMAT).map((f) => [f.name, f.offset, f.size]), [
    ["common_type", 0, 2],
    ["common_pid", 4, 4],
    ["dfd", 16, 8],
    ["filename", 24, 8],
    ["pid", 32, 4],
    ["comm", 36, 16],
    ["name", 52, 4],
    ["odd", 58, 8],
  ]);
  assert.equal(
    formatToStruct("cat", "demo", FORMAT),
    [
      "struct tracepoint__cat__demo {",
      "\tunsigned short common_type;",
      "\t__u8 __pad_2[2];",
      "\tint common_pid;",
      "\t__u8 __pad_8[8];",
      "\t__s64 dfd;",
      "\tconst char * filename;",
      "\t__s32 pid;",
      "\tchar comm[16];",
      "\tint data_loc_name;",
      "\t__u8 __pad_56[2];",
      "\t__u8 odd[8];",
      "};",
    ].join("\n"),
  );
});

Deno.test("maskC and findCalls: comments and strings never match; lines are kept", () => {
  const text =
    `// TRACEPOINT_PROBE(a, b)\nchar *s = "TRACEPOINT_PROBE(c, d)";\nTRACEPOINT_PROBE(e,\n f) {}`;
  const masked = maskC(text);
  assert.equal(masked.length, text.length);
  assert.equal(masked.split("\n").length, text.split("\n").length);
  const calls = findCalls(text, masked, "TRACEPOINT_PROBE");
  assert.deepEqual(calls.map((c) => c.args), [["e", "f"]]);
  const out = spliceKeepingLines(text, calls[0].start, calls[0].end, "X");
  assert.equal(out.split("\n").length, text.split("\n").length);
});

Deno.test("rewrite: BCC sources get a prelude, #line 1 and a GPL license; libbpf C with a license is untouched", () => {
  const libbpf =
    `SEC("tp/a/b") int f(void *c) { return 0; }\nchar L[] SEC("license") = "GPL";\n`;
  assert.equal(rewrite(libbpf).text, libbpf);
  const bcc = rewrite(
    `int hello(void *ctx) {\n  bpf_trace_printk("hi\\n");\n  return 0;\n}`,
  );
  assert.equal(bcc.bcc, true);
  const after = bcc.text.slice(bcc.text.indexOf("#line 1\n") + 8);
  assert.equal(
    after.split("\n")[1],
    '  bpf_trace_printk("hi\\n");',
    "user line 2 stays line 2",
  );
  assert.match(bcc.text, /SEC\("license"\) = "GPL"/);
});

Deno.test("locateText: the literal's first character, escapes and interpolations matched loosely", () => {
  const file = [
    'import { BPF } from "bpf";',
    "const other = `int x;`;",
    "await BPF.load({ text: `",
    "  TRACEPOINT_PROBE(syscalls, sys_enter_clone) {",
    '    bpf_trace_printk("Hello\\\\n");',
    "  }` });",
  ].join("\n");
  const text =
    '\n  TRACEPOINT_PROBE(syscalls, sys_enter_clone) {\n    bpf_trace_printk("Hello\\n");\n  }';
  assert.deepEqual(locateText(file, text, 3), { line: 3, column: 25 });
  assert.deepEqual(locateText(file, "int x;", 3), { line: 2, column: 16 });
  assert.equal(locateText(file, "not there", 1), undefined);
});

Deno.test("locateText: a later literal holding a backslash or ${} is not taken for the C", () => {
  const file = [
    "const prog = `",
    '  bpf_trace_printk("a\\\\n");',
    "`;",
    "const b = await BPF.load({ text: prog });",
    "const note = `\\\\ not the program`;",
    "const t = `",
    "  int y = ${n};",
    "`;",
  ].join("\n");
  assert.deepEqual(
    locateText(file, '\n  bpf_trace_printk("a\\n");\n', 4),
    { line: 1, column: 15 },
  );
  assert.deepEqual(locateText(file, "\n  int y = 42;\n", 1), {
    line: 6,
    column: 12,
  });
  assert.equal(locateText(file, "\n  int y = 42; z\n", 1), undefined);
});

Deno.test("missingCapabilities: CAP_SYS_ADMIN covers both; otherwise CAP_BPF and CAP_PERFMON", () => {
  assert.deepEqual(missingCapabilities(0n), ["CAP_BPF", "CAP_PERFMON"]);
  assert.deepEqual(missingCapabilities(1n << 21n), []);
  assert.deepEqual(missingCapabilities((1n << 39n) | (1n << 38n)), []);
  assert.deepEqual(missingCapabilities(1n << 39n), ["CAP_PERFMON"]);
});
