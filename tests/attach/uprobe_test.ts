import assert from "node:assert/strict";
import {
  attachUprobe,
  attachUretprobe,
  symbolOffset,
} from "../../runtime/attach/uprobe.ts";
import { AttachError } from "../../runtime/errors.ts";
import { buildC, load, thrown, u64Array } from "./_helpers.ts";

const TARGET = `
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int target_fn(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
  char line[16];
  if (argc > 2 && !fgets(line, sizeof line, stdin)) return 1;
  int n = atoi(argv[1]), s = 0;
  for (int i = 0; i < n; i++) s += target_fn(i);
  printf("%d\\n", s);
  return 0;
}`;

const PROBES = `
${u64Array("calls")}
${u64Array("rets")}
SEC("uprobe") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
SEC("uretprobe") int on_ret(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&rets, &k);
  if (v) __sync_fetch_and_add(v, PT_REGS_RC(ctx));
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

async function runTarget(bin: string, n: number) {
  const out = await new Deno.Command(bin, {
    args: [String(n)],
    stdout: "piped",
  }).output();
  assert(out.success);
}

Deno.test("uprobe and uretprobe count exact calls and sum return values", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_uprobe_" });
  try {
    const bin = await buildC(dir, "target", TARGET);
    using obj = await load(PROBES);
    {
      using call = attachUprobe(obj.programs.get("on_call")!, {
        binary: bin,
        symbol: "target_fn",
      });
      using ret = attachUretprobe(obj.programs.get("on_ret")!, {
        binary: bin,
        symbol: "target_fn",
      });
      assert.equal(call.kind, "uprobe");
      assert(call.id > 0 && ret.id > 0, "perf links have kernel link ids");
      await runTarget(bin, 7);
      assert.equal(obj.u64("calls"), 7n);
      assert.equal(obj.u64("rets"), 28n); // 1 + 2 + ... + 7
    }
    await runTarget(bin, 5); // detached: nothing more counted
    assert.equal(obj.u64("calls"), 7n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uprobe with a pid counts only that process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_uprobe_" });
  try {
    const bin = await buildC(dir, "target", TARGET);
    using obj = await load(PROBES);
    const spawn = (n: number) =>
      new Deno.Command(bin, {
        args: [String(n), "wait"],
        stdin: "piped",
        stdout: "null",
      }).spawn();
    const a = spawn(5);
    const b = spawn(3);
    try {
      using _link = attachUprobe(obj.programs.get("on_call")!, {
        binary: bin,
        symbol: "target_fn",
        pid: a.pid,
      });
      for (const c of [a, b]) {
        const w = c.stdin.getWriter();
        await w.write(new TextEncoder().encode("go\n"));
        await w.close();
      }
      assert((await a.status).success && (await b.status).success);
      assert.equal(obj.u64("calls"), 5n);
    } finally {
      for (const c of [a, b]) {
        try {
          c.kill();
        } catch { /* exited */ }
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uprobe resolves library names like BCC's find_library", async () => {
  using obj = await load(PROBES);
  using link = attachUprobe(obj.programs.get("on_call")!, {
    binary: "c",
    symbol: "getpid",
  });
  assert(link.target.includes("libc.so"), link.target);
  const off = symbolOffset(link.target.split(":")[0], "getpid");
  assert(off > 0n);
});

Deno.test("uprobe bad input: unknown symbol, not ELF, missing binary, gone pid", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_uprobe_" });
  try {
    const bin = await buildC(dir, "target", TARGET);
    using obj = await load(PROBES);
    const prog = obj.programs.get("on_call")!;
    const e1 = thrown(
      () => attachUprobe(prog, { binary: bin, symbol: "no_such_fn" }),
      AttachError,
    );
    assert(/Symbol no_such_fn not found/.test(e1.message), e1.message);
    assert.equal(e1.errno, 2);
    await Deno.writeTextFile(
      `${dir}/script.txt`,
      "not an elf file at all, just text",
    );
    const e2 = thrown(
      () => attachUprobe(prog, { binary: `${dir}/script.txt`, symbol: "main" }),
      AttachError,
    );
    assert(/is not an ELF binary/.test(e2.message), e2.message);
    const e3 = thrown(
      () => attachUprobe(prog, { binary: `${dir}/missing`, symbol: "main" }),
      AttachError,
    );
    assert(/does not exist/.test(e3.message), e3.message);
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    const e4 = thrown(
      () =>
        attachUprobe(prog, { binary: bin, symbol: "target_fn", pid: gone.pid }),
      AttachError,
    );
    assert(/process \d+ does not exist/.test(e4.message), e4.message);
    assert.equal(e4.errno, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
