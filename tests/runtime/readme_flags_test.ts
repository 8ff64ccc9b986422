import assert from "node:assert/strict";
import { readmeFlags, REPO, spawnDeno } from "../attach/_readme_flags.ts";

Deno.test("a cold compile, load and attach run under exactly README's narrow Deno flags", async () => {
  const cache = await Deno.makeTempDir({ prefix: "bpfpm_readme_cache_" });
  try {
    const flags = await readmeFlags(cache);
    assert.ok(
      !flags.some((f) => /^--allow-(all|ffi|read|write|env|sys)$/.test(f)),
      `the README's flags are narrow: ${flags.join(" ")}`,
    );
    const child = spawnDeno(
      ["--no-prompt", ...flags],
      `${REPO}/tests/runtime/_readme_cold_child.ts`,
      [],
      { BPFPM_CACHE_DIR: cache },
    );
    await child.stdin.close();
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const report = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.ok(BigInt(report.opens) >= 5n, `opens counted: ${report.opens}`);
    assert.equal(report.ppid, Deno.pid, "the CO-RE read gives the parent");
    assert.deepEqual(report.link, {
      isLink: true,
      kind: "tracepoint",
      target: "syscalls:sys_enter_openat",
    });
    const made = [...Deno.readDirSync(cache)].map((e) => e.name).sort();
    assert.ok(
      made.includes("obj"),
      `the compile wrote its cache (${made.join(", ")})`,
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
