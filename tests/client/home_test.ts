/**
 * No HOME needed: the cache location rule (runtime/cache_dir.ts) and a real BPF compile,
 * load and attach in a process whose environment has no HOME.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cacheDir, SYSTEM_CACHE_DIR } from "../../runtime/cache_dir.ts";
import { REPO, run } from "./_helpers.ts";

Deno.test("the cache location: BPFPM_CACHE_DIR, XDG_CACHE_HOME, HOME, then the system's for root", () => {
  const env = (e: Record<string, string>) => (n: string) => e[n];
  assert.equal(
    cacheDir(env({ BPFPM_CACHE_DIR: "/c", XDG_CACHE_HOME: "/x", HOME: "/h" })),
    "/c",
  );
  assert.equal(cacheDir(env({ XDG_CACHE_HOME: "/x", HOME: "/h" })), "/x/bpfpm");
  assert.equal(cacheDir(env({ HOME: "/h" })), "/h/.cache/bpfpm");
  const uid = Deno.uid();
  if (uid === 0) assert.equal(cacheDir(env({})), SYSTEM_CACHE_DIR);
  else {
    const home = Deno.readTextFileSync("/etc/passwd").split("\n").map((l) =>
      l.split(":")
    ).find((f) => Number(f[2]) === uid)?.[5];
    assert.equal(cacheDir(env({})), `${home}/.cache/bpfpm`);
  }
});

Deno.test("a BPF program compiles, loads and counts events in a process without HOME", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-nohome-" });
  try {
    const script = join(dir, "count.ts");
    await Deno.writeTextFile(
      script,
      `import { BPF } from "bpf";
using b = await BPF.load({ text: \`
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, u32); __type(value, u64); } nohome_hits SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_execve")
int nohome_exec(void *ctx) {
  u32 k = 0;
  u64 *v = bpf_map_lookup_elem(&nohome_hits, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
\` });
for (let i = 0; i < 3; i++) await new Deno.Command("/bin/true").output();
console.log(\`hits=\${b.map("nohome_hits").get(0)} home=\${Deno.env.get("HOME") ?? "unset"}\`);
`,
    );
    const out = await run([
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      "--config",
      join(REPO, "deno.json"),
      script,
    ], {
      clearEnv: true,
      env: {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        XDG_CACHE_HOME: join(dir, "xdg"),
        DENO_DIR: join(dir, "deno"),
      },
    });
    const text = out.stdout;
    assert.equal(out.code, 0, out.stderr);
    const m = /^hits=(\d+) home=unset$/m.exec(text);
    assert.ok(m, text);
    assert.ok(Number(m[1]) >= 3, text);
    assert.ok(
      existsSync(join(dir, "xdg", "bpfpm", "obj")),
      "compiled object cached under XDG_CACHE_HOME",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
