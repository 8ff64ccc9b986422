// Histogram text compared with what BCC's own print_log2_hist/print_linear_hist print for
// the same counts (the expected strings below are BCC 0.26's output).
import assert from "node:assert/strict";
import { BPF } from "../../runtime/bpf.ts";
import {
  formatLinearHist,
  formatLog2Hist,
  histogramJson,
  histogramJsonOf,
  linearHistText,
  log2HistText,
  printLog2Hist,
} from "../../runtime/output/histogram.ts";
import { buildC } from "../maps/_helpers.ts";

const LOG2_1_TO_100 = `     value               : count     distribution
         0 -> 1          : 1        |*                                       |
         2 -> 3          : 2        |**                                      |
         4 -> 7          : 4        |****                                    |
         8 -> 15         : 8        |********                                |
        16 -> 31         : 16       |*****************                       |
        32 -> 63         : 32       |**********************************      |
        64 -> 127        : 37       |****************************************|
`;

const LINEAR = `     queue len     : count     distribution
        0          : 20       |****************************************|
        1          : 20       |****************************************|
        2          : 20       |****************************************|
        3          : 20       |****************************************|
        4          : 20       |****************************************|
        5          : 0        |                                        |
        6          : 0        |                                        |
        7          : 3        |******                                  |
`;

const SECTIONS = `
Bucket ptr = 0
     value               : count     distribution
         0 -> 1          : 0        |                                        |
         2 -> 3          : 1        |**********                              |
         4 -> 7          : 2        |********************                    |
         8 -> 15         : 4        |****************************************|
        16 -> 31         : 3        |******************************          |

Bucket ptr = 1
     value               : count     distribution
         0 -> 1          : 1        |**********                              |
         2 -> 3          : 1        |**********                              |
         4 -> 7          : 2        |********************                    |
         8 -> 15         : 4        |****************************************|
        16 -> 31         : 2        |********************                    |
`;

function slots(
  values: number[],
  slot: (v: number) => number,
  n: number,
): number[] {
  const out = new Array(n).fill(0);
  for (const v of values) out[slot(v)]++;
  return out;
}
const bitLength = (v: number) => v.toString(2).length;
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

Deno.test("log2 and linear text match BCC's for known counts", () => {
  assert.equal(formatLog2Hist(slots(oneTo(100), bitLength, 65)), LOG2_1_TO_100);
  const wide = new Array(65).fill(0);
  wide[1] = 3;
  wide[40] = 5;
  wide[50] = 1n;
  const text = formatLog2Hist(wide, { valType: "usecs" });
  const lines = text.split("\n");
  assert.equal(
    lines[0],
    "               usecs                         : count     distribution",
  );
  assert.equal(
    lines[1],
    "                   0 -> 1                    : 3        |************        |",
  );
  assert.equal(
    lines[40],
    "        549755813888 -> 1099511627775        : 5        |********************|",
  );
  assert.equal(
    lines[50],
    "     562949953421312 -> 1125899906842623     : 1        |****                |",
  );
  assert.equal(lines.length, 52);
  const strip = new Array(65).fill(0);
  strip[5] = 2;
  strip[6] = 9;
  assert.equal(
    formatLog2Hist(strip, { valType: "nsecs", stripLeadingZero: true }),
    `     nsecs               : count     distribution
        16 -> 31         : 2        |********                                |
        32 -> 63         : 9        |****************************************|
`,
  );
  const lin = slots(oneTo(100), (v) => v % 5, 1025);
  lin[7] = 3;
  assert.equal(formatLinearHist(lin, { valType: "queue len" }), LINEAR);
  assert.equal(formatLog2Hist(new Array(65).fill(0)), "");
});

Deno.test("JSON histograms name BCC's fields", () => {
  const j = histogramJson([0, 1, 4, 2], {
    valType: "usecs",
    now: new Date(2026, 0, 2, 3, 4, 5),
  });
  assert.deepEqual(j, {
    ts: "2026-01-02 03:04:05",
    val_type: "usecs",
    data: [
      { "interval-start": 0, "interval-end": 1, count: 1 },
      { "interval-start": 2, "interval-end": 3, count: 4 },
      { "interval-start": 4, "interval-end": 7, count: 2 },
    ],
  });
});

const HIST_PROGRAM = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct hist_key { u32 section; u32 slot; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 128); __type(key, u32); __type(value, u64); } dist SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 128); __type(key, u32); __type(value, u64); } lin SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 128); __type(key, struct hist_key); __type(value, u64); } keyed SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 65); __type(key, u32); __type(value, u64); } pdist SEC(".maps");
u32 target_pid;
u64 calls;

static void bump(void *map, void *key) {
  u64 one = 1, *v = bpf_map_lookup_elem(map, key);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  if ((bpf_get_current_pid_tgid() >> 32) != target_pid) return 0;
  u64 i = ++calls, v = i;
  u32 slot = 0;
  for (int b = 0; b < 64 && v; b++) { v >>= 1; slot++; }
  bump(&dist, &slot);
  u64 *p = bpf_map_lookup_elem(&pdist, &slot);
  if (p) *p += 1;
  u32 l = i % 5;
  bump(&lin, &l);
  if (i <= 20) {
    struct hist_key k = { .section = i % 2, .slot = slot };
    bump(&keyed, &k);
  }
  return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

Deno.test("histograms of a program's maps print as BCC prints them", async () => {
  const prog = await buildC(
    "getppid100",
    `#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { char c; read(0, &c, 1); for (int i = 0; i < 100; i++) syscall(SYS_getppid); return 0; }\n`,
  );
  try {
    using b = await BPF.load({ text: HIST_PROGRAM });
    const child = new Deno.Command(prog.path, { stdin: "piped" }).spawn();
    const bss = b.map<number, { target_pid: number; calls: bigint }>(
      "bpfpm.bss",
    );
    bss.set(0, { target_pid: child.pid, calls: 0n });
    const w = child.stdin.getWriter();
    await w.write(new Uint8Array([10]));
    await w.close();
    assert.equal((await child.status).success, true);
    assert.equal(log2HistText(b.map("dist")), LOG2_1_TO_100);
    assert.equal(log2HistText(b.map("pdist")), LOG2_1_TO_100);
    assert.equal(
      linearHistText(b.map("lin"), { valType: "queue len" }),
      LINEAR.split("\n").slice(0, 6).join("\n") + "\n",
    );
    assert.equal(
      log2HistText(b.map("keyed"), { sectionSort: (s) => [...s].sort() }),
      SECTIONS,
    );
    const json = histogramJsonOf(b.map("keyed"), { sectionHeader: "parity" });
    assert.equal(json.length, 2);
    assert.deepEqual(
      json.map((h) => h.parity).sort(),
      [0, 1],
    );
  } finally {
    prog.cleanup();
  }
});

const BCC_HIST = `
BPF_HISTOGRAM(dist);
BPF_ARRAY(state, u64, 2);
TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
  int k0 = 0, k1 = 1;
  u64 *pid = state.lookup(&k0);
  u64 *calls = state.lookup(&k1);
  if (!pid || !calls || (bpf_get_current_pid_tgid() >> 32) != *pid) return 0;
  u64 i = ++(*calls);
  dist.increment(bpf_log2l(i));
  return 0;
}
`;

Deno.test("a BCC-dialect BPF_HISTOGRAM prints as BCC prints it", async () => {
  const prog = await buildC(
    "getppid100",
    `#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { char c; read(0, &c, 1); for (int i = 0; i < 100; i++) syscall(SYS_getppid); return 0; }\n`,
  );
  try {
    using b = await BPF.load({ text: BCC_HIST });
    const child = new Deno.Command(prog.path, { stdin: "piped" }).spawn();
    b.map<number, bigint>("state").set(0, BigInt(child.pid));
    const w = child.stdin.getWriter();
    await w.write(new Uint8Array([10]));
    await w.close();
    assert.equal((await child.status).success, true);
    assert.equal(log2HistText(b.map("dist")), LOG2_1_TO_100);
  } finally {
    prog.cleanup();
  }
});

Deno.test("histograms of entries: any [slot, count] pairs, per-CPU and { value } counts; bad input names the fix", () => {
  const perCpu = Object.assign([1n, 2n], { sum: () => 3n });
  assert.equal(
    log2HistText([[1, 1n], [2, perCpu], [3, { value: 4n }]]),
    formatLog2Hist([0, 1n, 3n, 4n]),
  );
  assert.deepEqual(
    histogramJsonOf([[1, 2]])[0].data,
    [{ "interval-start": 0, "interval-end": 1, count: 2 }],
  );
  assert.throws(
    () => log2HistText([[1, "x"]]),
    /A histogram needs integer counts .*got string: print a map of counters/,
  );
  assert.throws(() => log2HistText([[65, 1]]), /slot 65 is out of range/);
  assert.throws(
    () => log2HistText([[{ only: 1 }, 1]]),
    /Keyed histograms need a key struct \{ section, slot \}, got one with only the field only/,
  );
  // Printing writes the same text, without its last newline.
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    printLog2Hist([[2, 3]], { valType: "usecs" });
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines, [
    log2HistText([[2, 3]], { valType: "usecs" }).replace(/\n$/, ""),
  ]);
});
