import assert from "node:assert/strict";
import { BPF, Link } from "../../mod.ts";
import {
  attachKprobeMulti,
  attachUprobeMulti,
} from "../../runtime/attach/multi.ts";
import { haveKprobes } from "../../runtime/attach/kprobe.ts";
import { AttachError } from "../../runtime/errors.ts";
import { PermissionDeniedError } from "../../runtime/policy/check.ts";
import {
  buildC,
  inTempDir,
  load,
  OPENER,
  opensCounter,
  progLoaded,
  thrown,
  u64Array,
  withBuilt,
} from "./_helpers.ts";

// target_fn_a and target_fn_b are called argv[1] times each, target_fn_bb once.
const TARGET = `
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int target_fn_a(int x) { __asm__ volatile(""); return x + 1; }
__attribute__((noinline)) int target_fn_b(int x) { __asm__ volatile(""); return x + 2; }
__attribute__((noinline)) int target_fn_bb(int x) { __asm__ volatile(""); return x + 3; }
int main(int argc, char **argv) {
  int n = atoi(argv[1]), s = target_fn_bb(0);
  for (int i = 0; i < n; i++) s += target_fn_a(i) + target_fn_b(i);
  printf("%d\\n", s);
  return 0;
}`;

const COUNT = (section: string) => `
${u64Array("calls")}
${u64Array("rets")}
SEC("${section}") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  v = bpf_map_lookup_elem(&rets, &k);
  if (v) __sync_fetch_and_add(v, PT_REGS_RC(ctx));
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

/** A BPF object's u64 at index 0 of array map `name`. */
function u64(b: BPF, name: string): bigint {
  const value = b.map(name).get(0);
  return typeof value === "bigint" ? value : BigInt(value as number);
}

async function runTarget(bin: string, n: number): Promise<void> {
  const out = await new Deno.Command(bin, { args: [String(n)], stdout: "null" })
    .output();
  assert.ok(out.success);
}

const withTarget = (fn: (bin: string) => Promise<void>) =>
  withBuilt(TARGET, fn);

Deno.test("uprobe.multi/ auto-attaches to every function its glob matches, as one link", async () => {
  await withTarget(async (bin) => {
    const b = await BPF.load({
      text: COUNT(`uprobe.multi/${bin}:target_fn_*`),
    });
    try {
      assert.equal(b.links.length, 1);
      const link = b.links[0] as Link;
      assert.equal(link.kind, "uprobe");
      assert.equal(link.count, 3, "target_fn_a, target_fn_b, target_fn_bb");
      assert.ok(link.id > 0, "one kernel bpf link");
      assert.equal(link.target, `${bin}:target_fn_*`);
      await runTarget(bin, 7);
      assert.equal(u64(b, "calls"), 15n); // 7 + 7 + 1
    } finally {
      b.close();
    }
    // Detached with the object: a new object sees nothing from the old link.
    await runTarget(bin, 3);
  });
});

Deno.test("a uprobe.multi link is one bpf link: pinned, it keeps counting; reopened, it is a uprobe", async () => {
  await withTarget(async (bin) => {
    const pin = `/sys/fs/bpf/bpfpm_multi_${Deno.pid}`;
    using b = await BPF.load({
      text: COUNT(`uprobe.multi/${bin}:target_fn_*`),
    });
    const link = b.links[0] as Link;
    const id = link.id;
    try {
      link.pin(pin);
      link.close(); // the pin keeps it attached
      await runTarget(bin, 2);
      assert.equal(u64(b, "calls"), 5n);
      using reopened = Link.openPinned(pin);
      assert.equal(reopened.kind, "uprobe");
      assert.equal(reopened.id, id);
      reopened.unpin();
    } finally {
      try {
        Deno.removeSync(pin);
      } catch { /* unpinned */ }
    }
    await runTarget(bin, 2); // detached now
    assert.equal(u64(b, "calls"), 5n);
  });
});

Deno.test("uprobe.multi.s/ loads sleepable: it may fault user memory in (bpf_copy_from_user)", async () => {
  await withTarget(async (bin) => {
    using b = await BPF.load({
      text: `
${u64Array("calls")}
SEC("uprobe.multi.s/${bin}:target_fn_?") int on_call(struct pt_regs *ctx) {
  __u64 word = 0;
  if (bpf_copy_from_user(&word, sizeof word, (void *)PT_REGS_SP(ctx))) return 0;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&calls, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
    });
    await runTarget(bin, 3);
    assert.equal(u64(b, "calls"), 6n);
  });
});

Deno.test("uretprobe.multi/ sums the return values of every matched function", async () => {
  await withTarget(async (bin) => {
    using b = await BPF.load({
      text: COUNT(`uretprobe.multi/${bin}:target_fn_?`),
    });
    assert.equal(b.links[0].kind, "uretprobe");
    await runTarget(bin, 4);
    assert.equal(u64(b, "calls"), 8n);
    // a: 1+2+3+4, b: 2+3+4+5
    assert.equal(u64(b, "rets"), 10n + 14n);
  });
});

Deno.test("uprobe.session/ runs at entry and, when entry returns 0, at return", async () => {
  await withTarget(async (bin) => {
    using b = await BPF.load({
      text: `
${u64Array("seen", 2)}
extern bool bpf_session_is_return(void) __ksym;
SEC("uprobe.session/${bin}:target_fn_a") int on_session(struct pt_regs *ctx) {
  __u32 k = bpf_session_is_return() ? 1 : 0;
  __u64 *v = bpf_map_lookup_elem(&seen, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`,
    });
    assert.equal(b.links[0].kind, "uprobe");
    await runTarget(bin, 6);
    const seen = b.map("seen");
    assert.equal(BigInt(seen.get(0) as bigint), 6n, "entries");
    assert.equal(BigInt(seen.get(1) as bigint), 6n, "returns");
  });
});

Deno.test("attachUprobeMulti: named symbols with a cookie each, closed by the link", async () => {
  await withTarget(async (bin) => {
    using obj = await load(`
${u64Array("cookies")}
SEC("uprobe.multi") int on_call(struct pt_regs *ctx) {
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&cookies, &k);
  if (v) __sync_fetch_and_add(v, bpf_get_attach_cookie(ctx));
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
    const prog = obj.programs.get("on_call")!;
    {
      using link = attachUprobeMulti(prog, {
        binary: bin,
        symbols: ["target_fn_a", "target_fn_b"],
        cookies: [1n, 100n],
      });
      assert.equal(link.count, 2);
      await runTarget(bin, 5);
      assert.equal(obj.u64("cookies"), 505n);
    }
    await runTarget(bin, 5); // detached
    assert.equal(obj.u64("cookies"), 505n);
    const e = thrown(
      () => attachUprobeMulti(prog, { binary: bin, symbols: "nothing_*" }),
      AttachError,
    );
    assert.match(e.message, /No function of .* matches nothing_\*/);
    assert.equal(e.program, "on_call");
    assert.throws(
      () =>
        attachUprobeMulti(prog, {
          binary: bin,
          symbols: ["target_fn_a"],
          cookies: [1n, 2n],
        }),
      /2 cookies for 1 places/,
    );
  });
});

Deno.test("uprobe.multi/ grants: every function the glob matches must be granted", async () => {
  await withTarget(async (bin) => {
    // The section's glob passes the load check against target_fn_? ('?' matches '*'), but
    // target_fn_bb is one of the functions it names: refused at attach, nothing left loaded.
    const e = await BPF.load({
      text: COUNT(`uprobe.multi/${bin}:target_fn_*`),
      grants: { attach: [{ kind: "uprobe", target: `${bin}:target_fn_?` }] },
    }).then(() => undefined, (error) => error);
    assert.ok(e instanceof PermissionDeniedError, String(e));
    assert.equal(e.target, `${bin}:target_fn_bb`);
    assert.match(e.message, /target_fn_bb/);
    using b = await BPF.load({
      text: COUNT(`uprobe.multi/${bin}:target_fn_*`),
      grants: { attach: [{ kind: "uprobe", target: `${bin}:target_fn_*` }] },
    });
    await runTarget(bin, 2);
    assert.equal(u64(b, "calls"), 5n);
    // By hand: the same check, place by place, before anything is attached.
    using hand = await BPF.load({
      text: COUNT("uprobe.multi"),
      autoAttach: false,
      grants: { attach: [{ kind: "uprobe", target: `${bin}:target_fn_a` }] },
    });
    const denied = thrown(
      () =>
        hand.attachUprobeMulti("on_call", {
          binary: bin,
          symbols: "target_fn_*",
        }),
      PermissionDeniedError,
    );
    // target_fn_b or target_fn_bb, whichever the symbol table lists first: both are refused.
    assert.match(denied.target!, /:target_fn_bb?$/);
    assert.equal(hand.links.length, 0);
    hand.attachUprobeMulti("on_call", {
      binary: bin,
      symbols: ["target_fn_a"],
    });
    await runTarget(bin, 3);
    assert.equal(u64(hand, "calls"), 3n);
  });
});

Deno.test("kprobe.multi/ on a kernel without kprobes names CONFIG_KPROBES before loading", async () => {
  if (haveKprobes()) return;
  for (
    const section of [
      "kprobe.multi/do_sys_openat2",
      "kretprobe.multi/vfs_*",
      "kprobe.session/__x64_sys_openat",
    ]
  ) {
    const e = await BPF.load({ text: opensCounter(section) }).then(
      () => undefined,
      (error) => error,
    );
    assert.ok(e instanceof AttachError, `${section}: ${e}`);
    assert.match(e.message, /CONFIG_KPROBES is not set/);
    assert.equal(e.errno, 95);
    assert.equal(e.program, "count_opens");
  }
  using obj = await load(opensCounter("kprobe.multi"));
  const e = thrown(
    () =>
      attachKprobeMulti(obj.programs.get("count_opens")!, {
        symbols: ["__x64_sys_openat", "do_sys_openat2"],
      }),
    AttachError,
  );
  assert.match(e.message, /CONFIG_KPROBES is not set/);
  assert.match(e.message, /only syscall functions/);
  const cookies = thrown(
    () =>
      attachKprobeMulti(obj.programs.get("count_opens")!, {
        symbols: ["__x64_sys_openat"],
        cookies: [7n],
      }),
    AttachError,
  );
  assert.match(cookies.message, /cookies need kprobes/);
});

Deno.test("kprobe.multi on syscall functions falls back to their tracepoints as one link", async () => {
  if (haveKprobes()) return;
  await inTempDir("bpfpm_multi_", async (dir) => {
    const bin = await buildC(dir, "bpfpmopen", OPENER);
    await Deno.writeTextFile(`${dir}/file`, "x");
    const opens = async (n: number) => {
      const out = await new Deno.Command(bin, { args: [`${dir}/file`, `${n}`] })
        .output();
      assert.ok(out.success);
    };
    // Auto-attached from the section.
    {
      using b = await BPF.load({
        text: opensCounter("kprobe.multi/__x64_sys_openat"),
      });
      assert.equal(b.links[0].target, "syscalls:sys_enter_openat");
      await opens(9);
      const counted = u64(b, "opens");
      // The dynamic loader opens ld.so.cache and libc too, through openat.
      assert.ok(counted >= 9n && counted <= 12n, `counted ${counted}`);
    }
    // By hand, two syscalls: one twin on both tracepoints.
    using obj = await load(opensCounter("kretprobe.multi"));
    let twin = 0;
    {
      using link = attachKprobeMulti(obj.programs.get("count_opens")!, {
        symbols: ["__x64_sys_openat", "__x64_sys_close"],
        mode: "return",
      });
      assert.equal(link.kind, "kretprobe");
      assert.equal(link.count, 2);
      assert.equal(
        link.target,
        "syscalls:sys_exit_openat,syscalls:sys_exit_close",
      );
      twin =
        (link as unknown as { fallbackProgramId: number }).fallbackProgramId;
      assert.ok(twin > 0 && (await progLoaded(twin)));
      await opens(7);
      const counted = obj.u64("opens");
      assert.ok(counted >= 14n && counted <= 20n, `counted ${counted}`);
    }
    assert.equal(await progLoaded(twin), false, "the twin is unloaded");
  });
});
