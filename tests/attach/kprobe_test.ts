import assert from "node:assert/strict";
import {
  attachKprobe,
  attachKretprobe,
  haveKprobes,
} from "../../runtime/attach/kprobe.ts";
import { AttachError } from "../../runtime/errors.ts";
import {
  buildC,
  inTempDir,
  load,
  OPENER,
  opensCounter,
  progLoaded,
  thrown,
} from "./_helpers.ts";

Deno.test("kprobe on a non-syscall function names the missing kernel feature", async () => {
  using obj = await load(opensCounter("kprobe/do_sys_openat2"));
  const prog = obj.programs.get("count_opens")!;
  if (haveKprobes()) {
    using link = attachKprobe(prog, "do_sys_openat2");
    assert.equal(link.kind, "kprobe");
    return;
  }
  for (const attach of [attachKprobe, attachKretprobe]) {
    const e = thrown(() => attach(prog, "do_sys_openat2"), AttachError);
    assert.match(
      e.message,
      /this kernel has no kprobes \(CONFIG_KPROBES is not set\)/,
    );
    assert.equal(e.errno, 95);
    assert.equal(e.program, "count_opens");
  }
  const e = thrown(
    () => attachKprobe(prog, "__x64_sys_openat", { fallback: "error" }),
    AttachError,
  );
  assert.match(e.message, /CONFIG_KPROBES is not set/);
});

Deno.test("a syscall kprobe falls back to the syscall tracepoint and counts a child's opens", async () => {
  await inTempDir("bpfpm_kprobe_", async (dir) => {
    const bin = await buildC(dir, "bpfpmopen", OPENER);
    await Deno.writeTextFile(`${dir}/file`, "x");
    using obj = await load(opensCounter("kprobe/__x64_sys_openat"));
    const prog = obj.programs.get("count_opens")!;
    let twin = 0;
    {
      using link = attachKprobe(prog, "__x64_sys_openat");
      if (!haveKprobes()) {
        assert.equal(link.target, "syscalls:sys_enter_openat");
        twin =
          (link as unknown as { fallbackProgramId: number }).fallbackProgramId;
        assert.ok(twin > 0 && (await progLoaded(twin)));
      }
      const before = obj.u64("opens");
      const out = await new Deno.Command(bin, { args: [`${dir}/file`, "9"] })
        .output();
      assert.ok(out.success);
      // The dynamic loader opens ld.so.cache and libc too, through openat.
      const counted = obj.u64("opens") - before;
      assert.ok(counted >= 9n && counted <= 12n, `counted ${counted}`);
    }
    if (twin) {
      assert.equal(
        await progLoaded(twin),
        false,
        "the fallback program is unloaded",
      );
    }
  });
});

Deno.test("a syscall kprobe reading pt_regs cannot fall back and says why", async () => {
  if (haveKprobes()) return;
  using obj = await load(`
SEC("kprobe/__x64_sys_openat") int read_regs(struct pt_regs *ctx) {
  bpf_printk("%lx", PT_REGS_PARM2(ctx));
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`);
  const e = thrown(
    () => attachKprobe(obj.programs.get("read_regs")!, "__x64_sys_openat"),
    AttachError,
  );
  assert.match(e.message, /TRACEPOINT_PROBE\(syscalls/);
});
