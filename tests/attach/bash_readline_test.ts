import assert from "node:assert/strict";
import { attachUretprobe } from "../../runtime/attach/uprobe.ts";
import { load, run, u64Array } from "./_helpers.ts";

// BCC's bashreadline: a uretprobe on bash's readline() reads the line it returns.
const PROBE = `
${u64Array("calls")}
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, char[64]); } lines SEC(".maps");
SEC("uretprobe") int on_readline(struct pt_regs *ctx) {
  __u32 k = 0;
  __u64 *n = bpf_map_lookup_elem(&calls, &k);
  if (!n) return 0;
  __u32 slot = __sync_fetch_and_add(n, 1) & 7;
  char *line = bpf_map_lookup_elem(&lines, &slot);
  if (line && PT_REGS_RC(ctx)) bpf_probe_read_user_str(line, 64, (void *)PT_REGS_RC(ctx));
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

Deno.test("bash readline uretprobe reads the lines an interactive bash returns", async () => {
  using obj = await load(PROBE);
  const marker = `bpfpm_marker_${Math.random().toString(36).slice(2, 10)}`;
  {
    using _link = attachUretprobe(obj.programs.get("on_readline")!, {
      binary: "bash",
      symbol: "readline",
    });
    // script(1) gives bash a pty, so it is interactive and reads with readline.
    const out = await run(
      "script",
      ["-qec", "bash --norc --noprofile -i", "/dev/null"],
      `echo ${marker}\nexit\n`,
    );
    assert.ok(out.includes(marker), out);
  }
  // Any interactive bash on the machine is probed; ours returned the two lines in order.
  const calls = Number(obj.u64("calls"));
  assert.ok(calls >= 2 && calls <= 8, `readline returned ${calls} times`);
  const dec = new TextDecoder();
  const lines = Array.from(
    { length: calls },
    (_, i) => dec.decode(obj.bytes("lines", i, 64)).split("\0")[0],
  );
  const at = lines.indexOf(`echo ${marker}`);
  assert.ok(at >= 0, JSON.stringify(lines));
  assert.ok(lines.slice(at + 1).includes("exit"), JSON.stringify(lines));
});
