import assert from "node:assert/strict";
import { buildC } from "./_helpers.ts";
import { lines, readmeFlags, REPO, spawnDeno } from "./_readme_flags.ts";

const TARGET = `
#include <stdlib.h>
#include <sys/sdt.h>
__attribute__((noinline)) int target_fn(int x) { __asm__ volatile(""); return x + 1; }
int main(int argc, char **argv) {
  int s = 0;
  for (int i = 0; i < atoi(argv[1]); i++) { s += target_fn(i); DTRACE_PROBE1(bpfpm, tick, i); }
  return s == -1;
}`;

async function linkExists(id: number): Promise<boolean> {
  const out = await new Deno.Command("bpftool", {
    args: ["link", "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

Deno.test("uprobe and USDT under README's narrow Deno flags (+ --allow-read=<binary>) count exact calls; native errors read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_narrow_" });
  let child: Deno.ChildProcess | undefined;
  try {
    const bin = await buildC(dir, "target", TARGET);
    const home = Deno.env.get("HOME") ?? "/root";
    // The compile cache stays the usual one (warm): this test is about attaching.
    const cache = Deno.env.get("BPFPM_CACHE_DIR") ?? `${home}/.cache/bpfpm`;
    const flags = [...await readmeFlags(cache), `--allow-read=${bin}`];
    assert.ok(
      !flags.some((f) => /^--allow-(all|ffi|read|write|env|sys)$/.test(f)),
      `the README's flags are narrow: ${flags.join(" ")}`,
    );
    const gone = new Deno.Command("true").spawn();
    await gone.status;
    child = spawnDeno(
      flags,
      `${REPO}/tests/attach/_narrow_uprobe_child.ts`,
      [bin, String(gone.pid)],
      { BPFPM_CACHE_DIR: cache },
    );
    const stderr = new Response(child.stderr).text();
    const out = lines(child.stdout);
    const first = await out.next();
    if (first.done) assert.fail(`the child printed nothing: ${await stderr}`);
    const { link, usdt, goneError } = JSON.parse(first.value);
    assert.deepEqual(
      { ...link, id: link.id > 0 },
      { isLink: true, kind: "uprobe", target: `${bin}:target_fn`, id: true },
    );
    assert.deepEqual(usdt, {
      isLink: true,
      kind: "usdt",
      target: `${bin}:bpfpm:tick`,
      id: 0, // libbpf's USDT link is a set of uprobes, not one kernel link
    });
    assert.match(
      goneError,
      new RegExp(`^AttachError errno 3: .*process ${gone.pid} does not exist`),
    );
    const run = await new Deno.Command(bin, { args: ["7"] }).output();
    assert.ok(run.success);
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("done\n"));
    await w.close();
    const second = await out.next();
    if (second.done) assert.fail(`the child stopped: ${await stderr}`);
    assert.deepEqual(JSON.parse(second.value), { calls: "7", ticks: "7" });
    const status = await child.status;
    const errors = await stderr;
    assert.equal(status.code, 0, errors);
    child = undefined;
    assert.equal(await linkExists(link.id), false, "the child's link is gone");
  } finally {
    if (child) {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});
