import assert from "node:assert/strict";
import { attachUsdt, usdtProbes } from "../../runtime/attach/usdt.ts";
import { AttachError } from "../../runtime/errors.ts";
import { buildC, load, thrown, u64Array } from "./_helpers.ts";

// Two probes: bpfpm:tick (with a semaphore, so it only fires while traced) and bpfpm:done.
const APP = `
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
unsigned short bpfpm_tick_semaphore __attribute__((section(".probes")));
unsigned short bpfpm_done_semaphore __attribute__((section(".probes")));
int main(int argc, char **argv) {
  char line[16];
  if (argc > 2 && !fgets(line, sizeof line, stdin)) return 1;
  int n = atoi(argv[1]);
  long sum = 0;
  for (int i = 1; i <= n; i++) {
    long v = 100 * i;
    if (bpfpm_tick_semaphore) { DTRACE_PROBE2(bpfpm, tick, i, v); sum += v; }
  }
  DTRACE_PROBE(bpfpm, done);
  printf("%ld\\n", sum);
  return 0;
}`;

const PROBE = `
#include <bpf/usdt.bpf.h>
${u64Array("ticks")}
${u64Array("sum")}
SEC("usdt") int BPF_USDT(on_tick, int i, long v) {
  __u32 k = 0; __u64 *t = bpf_map_lookup_elem(&ticks, &k), *s = bpf_map_lookup_elem(&sum, &k);
  if (t) __sync_fetch_and_add(t, 1);
  if (s) __sync_fetch_and_add(s, v);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;

async function runApp(bin: string, n: number): Promise<number> {
  const out = await new Deno.Command(bin, {
    args: [String(n)],
    stdout: "piped",
  }).output();
  assert.ok(out.success);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("USDT probes are listed from .note.stapsdt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_usdt_" });
  try {
    const bin = await buildC(dir, "app", APP);
    const probes = usdtProbes(bin);
    const tick = probes.find((p) =>
      p.provider === "bpfpm" && p.name === "tick"
    );
    const done = probes.find((p) => p.name === "done");
    assert.ok(
      tick && done,
      JSON.stringify(probes, (_, v) => typeof v === "bigint" ? `${v}` : v),
    );
    assert.ok(
      tick.semaphore > 0n && tick.semaphoreOffset > 0n,
      "tick has a semaphore",
    );
    assert.equal(tick.args.split(" ").length, 2, tick.args);
    assert.match(tick.args, /^-?4@\S+ -?8@\S+$/);
    assert.equal(done.args, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("USDT attach reads arguments and enables the semaphore", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_usdt_" });
  try {
    const bin = await buildC(dir, "app", APP);
    assert.equal(await runApp(bin, 3), 0, "untraced: the semaphore is 0");
    using obj = await load(PROBE);
    {
      using link = attachUsdt(obj.programs.get("on_tick")!, {
        binary: bin,
        provider: "bpfpm",
        name: "tick",
      });
      assert.equal(link.kind, "usdt");
      assert.equal(await runApp(bin, 4), 1000, "traced: the semaphore is set");
      assert.equal(obj.u64("ticks"), 4n);
      assert.equal(obj.u64("sum"), 1000n); // 100 + 200 + 300 + 400
    }
    assert.equal(await runApp(bin, 2), 0, "detached: the semaphore is 0 again");
    assert.equal(obj.u64("ticks"), 4n);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("USDT bad input: unknown probe lists the ones there are", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_usdt_" });
  try {
    const bin = await buildC(dir, "app", APP);
    using obj = await load(PROBE);
    const e = thrown(
      () =>
        attachUsdt(obj.programs.get("on_tick")!, {
          binary: bin,
          provider: "bpfpm",
          name: "nope",
        }),
      AttachError,
    );
    assert.match(
      e.message,
      /has no USDT probe bpfpm:nope \(it has bpfpm:tick, bpfpm:done\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("USDT with a pid traces only that process", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_usdt_" });
  try {
    const bin = await buildC(dir, "app", APP);
    using obj = await load(PROBE);
    const spawn = (n: number) =>
      new Deno.Command(bin, {
        args: [String(n), "wait"],
        stdin: "piped",
        stdout: "piped",
      })
        .spawn();
    const a = spawn(3);
    const b = spawn(5);
    try {
      using _link = attachUsdt(obj.programs.get("on_tick")!, {
        binary: bin,
        provider: "bpfpm",
        name: "tick",
        pid: a.pid,
      });
      for (const c of [a, b]) {
        const w = c.stdin.getWriter();
        await w.write(new TextEncoder().encode("go\n"));
        await w.close();
      }
      const [outA, outB] = await Promise.all([a.output(), b.output()]);
      const dec = new TextDecoder();
      assert.equal(
        dec.decode(outA.stdout).trim(),
        "600",
        "a's semaphore was set",
      );
      assert.equal(
        dec.decode(outB.stdout).trim(),
        "0",
        "b's semaphore was not",
      );
      assert.equal(obj.u64("ticks"), 3n);
      assert.equal(obj.u64("sum"), 600n);
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
