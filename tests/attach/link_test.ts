import assert from "node:assert/strict";
import { type AttachKind, Attachment, BPF, BpfError, Link } from "bpf";

async function linkExists(id: number): Promise<boolean> {
  const out = await new Deno.Command("bpftool", {
    args: ["link", "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Waits (up to 3 s: links are freed after an RCU grace period) until the link is gone. */
async function linkGone(id: number): Promise<boolean> {
  for (let i = 0; i < 30; i++) {
    if (!(await linkExists(id))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const SOURCE = `
SEC("tracepoint/syscalls/sys_enter_getppid") int on_tp(void *ctx) { return 0; }
SEC("raw_tp/sys_enter") int on_raw(void *ctx) { return 0; }
SEC("uprobe") int on_up(struct pt_regs *ctx) { return 0; }
SEC("uretprobe") int on_uret(struct pt_regs *ctx) { return 0; }
SEC("perf_event") int on_sample(struct bpf_perf_event_data *ctx) { return 0; }
SEC("iter/task") int on_task(struct bpf_iter__task *ctx) { return 0; }
SEC("socket") int on_packet(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;

Deno.test("every b.attachX returns a Link with the same API", async () => {
  using b = await BPF.load({ text: SOURCE, autoAttach: false });
  const made: [Link, AttachKind, string][] = [
    [
      b.attachTracepoint("on_tp", "syscalls:sys_enter_getppid"),
      "tracepoint",
      "on_tp",
    ],
    [b.attachRawTracepoint("on_raw", "sys_enter"), "raw_tp", "on_raw"],
    [
      b.attachUprobe("on_up", { binary: "/bin/bash", symbol: "readline" }),
      "uprobe",
      "on_up",
    ],
    [
      b.attachUretprobe("on_uret", { binary: "/bin/bash", symbol: "readline" }),
      "uretprobe",
      "on_uret",
    ],
    [
      b.attachPerfEvent("on_sample", {
        event: "cpu-clock",
        frequency: 10,
        cpu: 0,
      }),
      "perf_event",
      "on_sample",
    ],
    [b.attachIter("on_task"), "iter", "on_task"],
  ];
  for (const [link, kind, program] of made) {
    assert.ok(link instanceof Link, `${kind}: instanceof Link`);
    assert.ok(link instanceof Attachment, `${kind}: the deprecated alias`);
    assert.equal(link.kind, kind);
    assert.equal(link.program, program);
    assert.equal(link.attached, true);
    assert.ok(link.fd >= 0, `${kind}: fd ${link.fd}`);
    assert.ok(link.id > 0, `${kind}: a bpf link has a kernel id`);
    assert.equal(
      link.programId,
      b.programs.get(program)!.id,
      `${kind}: the kernel's link info names the program`,
    );
    assert.equal(link.count, 1);
    assert.equal(link.pinnedPath, undefined);
    assert.ok(
      await linkExists(link.id),
      `${kind}: bpftool sees link ${link.id}`,
    );
  }
  const filter = b.attachSocketFilter("on_packet", { ifname: "lo" });
  assert.ok(filter instanceof Link);
  assert.equal(filter.kind, "socket_filter");
  assert.equal(filter.id, 0, "a socket filter is not a bpf link");
  assert.equal(filter.programId, 0);

  const ids = made.map(([link]) => link.id);
  for (const [link] of made) link[Symbol.dispose]();
  filter.close();
  for (const [link, kind] of made) {
    assert.equal(link.attached, false);
    assert.throws(() => link.fd, BpfError, `${kind}: fd after close`);
    link.close(); // idempotent
  }
  for (const id of ids) assert.ok(await linkGone(id), `link ${id} is gone`);
});

Deno.test("Link.openPinned reports the kind and target the kernel keeps", async () => {
  const tag = Math.random().toString(36).slice(2, 8);
  const pins: string[] = [];
  using b = await BPF.load({ text: SOURCE, autoAttach: false });
  try {
    const cases: [Link, AttachKind, RegExp][] = [
      [
        b.attachTracepoint("on_tp", "syscalls:sys_enter_getppid"),
        "tracepoint",
        /^sys_enter_getppid$/,
      ],
      [b.attachRawTracepoint("on_raw", "sys_enter"), "raw_tp", /^sys_enter$/],
      [
        b.attachUprobe("on_up", { binary: "/bin/bash", symbol: "readline" }),
        "uprobe",
        /bash:0x[0-9a-f]+$/,
      ],
      [
        b.attachUretprobe("on_uret", {
          binary: "/bin/bash",
          symbol: "readline",
        }),
        "uretprobe",
        /bash:0x[0-9a-f]+$/,
      ],
      [
        b.attachPerfEvent("on_sample", {
          event: "cpu-clock",
          frequency: 10,
          cpu: 0,
        }),
        "perf_event",
        /^\d+:0$/, // the PMU's type (the kernel's, not always PERF_TYPE_SOFTWARE):CPU_CLOCK
      ],
      [b.attachIter("on_task"), "iter", /^task$/],
    ];
    for (const [link, kind, target] of cases) {
      const pin = `/sys/fs/bpf/bpfpm_link_${tag}_${kind}`;
      pins.push(pin);
      const id = link.id;
      const prog = link.programId;
      link.pin(pin);
      assert.equal(link.pinnedPath, pin);
      link.close();
      assert.ok(await linkExists(id), `${kind}: the pin keeps link ${id}`);

      const reopened = Link.openPinned(pin);
      try {
        assert.ok(reopened instanceof Link);
        assert.equal(reopened.kind, kind);
        assert.match(reopened.target, target);
        assert.equal(reopened.id, id);
        assert.equal(reopened.programId, prog);
        assert.equal(reopened.program, "");
        assert.equal(reopened.pinnedPath, pin);
        reopened.unpin();
        assert.equal(reopened.pinnedPath, undefined);
      } finally {
        reopened.close();
      }
      assert.ok(await linkGone(id), `${kind}: link ${id} is gone after unpin`);
    }
    assert.throws(
      () => Link.openPinned(`/sys/fs/bpf/bpfpm_link_${tag}_none`),
      (e: unknown) => e instanceof BpfError && /no such pin/.test(e.message),
    );
    assert.throws(() => Link.openPinned("relative"), TypeError);
  } finally {
    for (const pin of pins) {
      try {
        Deno.removeSync(pin);
      } catch { /* unpinned */ }
    }
  }
});
