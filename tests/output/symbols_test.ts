// Stack traces from bpf_get_stackid, symbolized: user frames through the ELF symbols of the
// binary the test builds, kernel frames through /proc/kallsyms.
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import {
  ksym,
  ksymAddress,
  sym,
  userSymbolizer,
} from "../../runtime/output/symbols.ts";
import { buildC } from "../maps/_helpers.ts";

// level3 enters the kernel itself (inline syscall), so every frame has a frame pointer.
const DEMO = `
#include <unistd.h>
__attribute__((noinline)) void level3(void) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(110L) : "rcx", "r11", "memory");
}
__attribute__((noinline)) void level2(void) { level3(); }
__attribute__((noinline)) void level1(void) { level2(); }
int main(void) {
  char c;
  read(0, &c, 1);
  level1();
  read(0, &c, 1);
  return 0;
}
`;

const STACKS = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_STACK_TRACE); __uint(max_entries, 64); __uint(key_size, 4); __uint(value_size, 127 * 8); } stacks SEC(".maps");
struct ids { s32 user; s32 kernel; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, struct ids); } found SEC(".maps");
u32 target_pid;
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_pid) return 0;
  u32 k = 0;
  struct ids v = {
    .user = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK),
    .kernel = bpf_get_stackid(ctx, &stacks, 0),
  };
  bpf_map_update_elem(&found, &k, &v, BPF_ANY);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("a user stack from a test-built binary symbolizes to its function names", async () => {
  if (Deno.build.arch !== "x86_64") return; // the demo's inline syscall is x86-64
  const prog = await buildC("stack_demo", DEMO);
  const child = new Deno.Command(prog.path, { stdin: "piped" }).spawn();
  const w = child.stdin.getWriter();
  try {
    using b = await BPF.load({ text: STACKS });
    b.map<number, { target_pid: number }>("bpfpm.bss").set(0, {
      target_pid: child.pid,
    });
    await w.write(new Uint8Array([10]));
    // Wait until the program has seen the call.
    const found = b.map<number, { user: number; kernel: number }>("found");
    for (let i = 0; i < 200 && (found.get(0)?.user ?? 0) === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const ids = found.get(0)!;
    assert.ok(ids.user >= 0, `bpf_get_stackid(user) failed with ${ids.user}`);
    const stacks = b.stackTraces("stacks");
    const user = stacks.symbolize(ids.user, { pid: child.pid });
    assert.deepEqual(user.slice(0, 4), ["level3", "level2", "level1", "main"]);
    const withOffsets = stacks.symbolize(ids.user, {
      pid: child.pid,
      offset: true,
      module: true,
    });
    assert.match(withOffsets[0], /^level3\+0x[0-9a-f]+ \[stack_demo\]$/);
    assert.equal(sym(stacks.stack(ids.user)[1], child.pid), "level2");
    const name = userSymbolizer(child.pid);
    assert.deepEqual(
      stacks.stack(ids.user).slice(0, 4).map((x) => name(x)),
      ["level3", "level2", "level1", "main"],
    );
    assert.ok(
      ids.kernel >= 0,
      `bpf_get_stackid(kernel) failed with ${ids.kernel}`,
    );
    const kernel = stacks.symbolize(ids.kernel);
    assert.ok(kernel.length > 0);
    assert.ok(kernel.every((s) => s !== "[unknown]"), kernel.join(" "));
    assert.ok(kernel.some((s) => /syscall/.test(s)), kernel.join(" "));
  } finally {
    await w.write(new Uint8Array([10])).catch(() => {});
    await w.close().catch(() => {});
    await child.status;
    prog.cleanup();
  }
});

Deno.test("ksym finds kernel symbols by address, with offsets", () => {
  const addr = ksymAddress("schedule");
  assert.ok(addr !== undefined && addr > 0n);
  assert.equal(ksym(addr), "schedule");
  assert.equal(ksym(addr + 3n, { offset: true }), "schedule+0x3");
  assert.equal(ksym(addr, { module: true }), "schedule [kernel]");
  assert.equal(ksym(1n), "[unknown]");
  assert.throws(() => ksym(-1), RangeError);
  assert.equal(sym(0x10n, Deno.pid), "[unknown]");
});
