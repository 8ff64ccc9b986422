/**
 * Diagnostics of C that is not a literal in the calling file (read from a file, built at run
 * time) name the C text's own line, in a name that says where it was passed; a literal's keep
 * pointing at the script's line.
 */
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import { CompileError } from "../../runtime/compile/compile_error.ts";
import { VerifierError } from "../../runtime/errors.ts";
import { rejects } from "./_helpers.ts";

const HERE = new URL(import.meta.url).pathname;

Deno.test("C read from a file: a compile error names the C text's own line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_bcc_diag_" });
  try {
    const path = `${dir}/tool.c`;
    await Deno.writeTextFile(
      path,
      [
        "#include <linux/sched.h>",
        "BPF_HASH(counts, u32, u64);",
        "",
        "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {",
        "  u32 pid = bpf_get_current_pid_tgid() >> 32;",
        "  counts.increment(no_such_variable);",
        "  return 0;",
        "}",
      ].join("\n"),
    );
    const text = await Deno.readTextFile(path);
    const e = await rejects(() => BPF.load({ text }), CompileError);
    const where = new RegExp(
      `<C text passed at ${HERE}:\\d+>:6:\\d+: error: use of undeclared identifier 'no_such_variable'`,
    );
    assert.match(e.message, where);
    assert.doesNotMatch(e.message, new RegExp(`${HERE}:\\d+:\\d+: error`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("C built at run time: the error's line is the built text's", async () => {
  const probes = ["getpid", "getppid"].map((s) =>
    `TRACEPOINT_PROBE(syscalls, sys_enter_${s}) {\n  return ${
      s === "getppid" ? "oops_undeclared" : "0"
    };\n}`
  );
  const text = ["BPF_HASH(c, u32, u64);", ...probes].join("\n");
  const e = await rejects(() => BPF.load({ text }), CompileError);
  assert.match(e.message, /<C text passed at [^>]+>:6:10: error/);
  assert.match(e.message, /\n {2}return oops_undeclared;\n/);
});

Deno.test("C built at run time: the verifier's line is the built text's", async () => {
  const text = [
    "BPF_HASH(c, u32, u64);",
    "TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {",
    "  u64 *p = (u64 *)bpf_get_current_pid_tgid();",
    "  return *p;",
    "}",
  ].join("\n");
  const e = await rejects(() => BPF.load({ text }), VerifierError);
  assert.match(e.message, /at <C text passed at [^>]+>:4\b/);
});

Deno.test("a literal in the script keeps pointing at the script's line", async () => {
  const e = await rejects(
    () =>
      BPF.load({
        text: `TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
          return literal_undeclared;
        }`,
      }),
    CompileError,
  );
  const line = (await Deno.readTextFile(HERE)).split("\n")
    .findIndex((l) => l.includes("return literal_undeclared;")) + 1;
  assert.match(
    e.message,
    new RegExp(`${HERE}:${line}:18: error: use of undeclared identifier`),
  );
});
