import assert from "node:assert/strict";
import { features, missingFeatureFor } from "../../runtime/features.ts";
import { ATTACH_KINDS } from "../../runtime/spec/section_kinds.ts";
import { attachKprobe } from "../../runtime/attach/kprobe.ts";
import { AttachError } from "../../runtime/errors.ts";
import { load, thrown } from "./_helpers.ts";

Deno.test("features() answers every attach kind, once", () => {
  const f = features();
  assert.equal(features(), f, "cached");
  for (const kind of ATTACH_KINDS) {
    const s = f.attach[kind];
    assert.equal(typeof s.supported, "boolean", kind);
    if (!s.supported) {
      assert.ok(s.reason && s.reason.length > 10, `${kind} has a reason`);
    }
  }
  // What every kernel bpfpm supports (BTF, 5.8+) must have: a "no" here is a bug.
  for (
    const kind of [
      "tracepoint",
      "raw_tp",
      "tp_btf",
      "uprobe",
      "uretprobe",
      "usdt",
      "perf_event",
      "xdp",
      "tc",
      "socket_filter",
      "iter",
    ] as const
  ) {
    assert.ok(f.attach[kind].supported, `${kind}: ${f.attach[kind].reason}`);
  }
  for (
    const t of [
      "hash",
      "array",
      "ringbuf",
      "perf_event_array",
      "lru_hash",
      "percpu_array",
    ]
  ) {
    assert.ok(f.mapTypes[t], t);
  }
  for (
    const t of [
      "kprobe",
      "tracepoint",
      "xdp",
      "sched_cls",
      "perf_event",
      "tracing",
    ]
  ) {
    assert.ok(f.programTypes[t], t);
  }
});

Deno.test("features() agrees with what attaching does", async () => {
  using obj = await load(`
SEC("kprobe/do_sys_openat2") int p(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`);
  const kprobe = features().attach.kprobe;
  if (kprobe.supported) {
    using _link = attachKprobe(obj.programs.get("p")!, "do_sys_openat2");
  } else {
    const e = thrown(
      () => attachKprobe(obj.programs.get("p")!, "do_sys_openat2"),
      AttachError,
    );
    assert.ok(
      e.message.includes(kprobe.reason!),
      `${e.message} / ${kprobe.reason}`,
    );
  }
  const fentry = features().attach.fentry;
  assert.equal(
    missingFeatureFor("fentry/do_unlinkat"),
    fentry.supported ? undefined : fentry.reason,
  );
  if (!fentry.supported) assert.match(fentry.reason!, /ftrace function ops/);
  assert.equal(
    missingFeatureFor("tracepoint/syscalls/sys_enter_openat"),
    undefined,
  );
});
