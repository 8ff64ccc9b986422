import assert from "node:assert/strict";
import { estimateMapMemory } from "../../runtime/spec/object.ts";

function possibleCpus(): number {
  // "0-1" or "0,2-3": count every listed CPU.
  const text = Deno.readTextFileSync("/sys/devices/system/cpu/possible").trim();
  let n = 0;
  for (const part of text.split(",")) {
    const [a, b] = part.split("-").map(Number);
    n += b === undefined ? 1 : b - a + 1;
  }
  return n;
}

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command("bpftool", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(
    out.success,
    `bpftool ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
  );
  return new TextDecoder().decode(out.stdout);
}

Deno.test("map memory estimates match what the kernel reports for created maps", async () => {
  const cpus = possibleCpus();
  const cases: [string, number, number, number, string[]][] = [
    ["hash", 8, 8, 100000, []],
    ["hash", 4, 64, 1000, []],
    ["lru_hash", 16, 8, 10000, []],
    ["percpu_hash", 8, 8, 10000, []],
    ["array", 4, 16, 1000, []],
    ["percpu_array", 4, 24, 512, []],
    ["ringbuf", 0, 0, 1 << 20, []],
    ["queue", 0, 16, 1000, []],
    ["stack_trace", 4, 1016, 1024, []],
    ["prog_array", 4, 4, 16, []],
  ];
  const dir = "/sys/fs/bpf";
  for (const [type, key, value, entries, extra] of cases) {
    const name = `bpfpm_spec_${Deno.pid}_${type}`.slice(0, 15);
    const pin = `${dir}/bpfpm_spec_${Deno.pid}_${type}_${key}`;
    try {
      await run([
        "map",
        "create",
        pin,
        "type",
        type,
        "key",
        String(key),
        "value",
        String(value),
        "entries",
        String(entries),
        "name",
        name,
        ...extra,
      ]);
      const shown = JSON.parse(await run(["map", "show", "pinned", pin, "-j"]));
      const kernel = Number(shown.bytes_memlock);
      const estimate = estimateMapMemory({
        type,
        keySize: key,
        valueSize: value,
        maxEntries: entries,
      }, cpus);
      const slack = kernel * 0.01 + 2048;
      assert.ok(
        Math.abs(estimate - kernel) <= slack,
        `${type} key ${key} value ${value} entries ${entries}: estimate ${estimate}, kernel ${kernel}`,
      );
    } finally {
      await Deno.remove(pin).catch(() => {});
    }
  }
});
