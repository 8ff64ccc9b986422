import assert from "node:assert/strict";
import { requiredDenoFlags } from "../../runtime/policy/mod.ts";

const MOD = new URL("../../mod.ts", import.meta.url).href;

Deno.test("BPF.load compiles, checks grants and loads under exactly requiredDenoFlags()", async () => {
  const file = await Deno.makeTempFile({
    prefix: "bpfpm_narrow_",
    suffix: ".ts",
  });
  try {
    await Deno.writeTextFile(
      file,
      `import { BPF } from "${MOD}";
using b = await BPF.load({
  text: \`SEC("tp/syscalls/sys_enter_getppid") int narrow_flags_probe(void *ctx) { return 0; }\`,
  grants: { attach: [{ kind: "tracepoint", target: "syscalls:*" }] },
});
console.log([...b.programs.keys()].join(","));
try {
  await BPF.load({ text: \`SEC("tp/syscalls/sys_enter_getppid") int k(void *ctx) { bpf_send_signal(0); return 0; }\` });
} catch (e) { console.log(e.name); }
`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...requiredDenoFlags(), file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    assert.equal(stdout, "narrow_flags_probe\nPermissionDeniedError");
  } finally {
    await Deno.remove(file);
  }
});
