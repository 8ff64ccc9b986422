/**
 * `deno task bench compile [runs]`: what a compile costs a fresh process, in the cases a
 * script meets. Each figure is the median, over fresh `deno` processes, of the time from
 * just before `compile()` to the object in hand (module import excluded):
 *
 * - warm: a cache hit (no LLVM loaded);
 * - cold: a miss with vmlinux.h and its PCH already built (loads LLVM, compiles);
 * - first: a miss in an empty cache (also generates vmlinux.h and builds the PCH);
 * - baseline: the clang 14 CLI compiling the same source with `-include vmlinux.h`, which
 *   is what a tool without a PCH does (process spawn included).
 *
 * Figures, not pass/fail. Ends with one line:
 * `result compile warm_ms=… cold_ms=… first_ms=… clang_cli_ms=…`.
 *
 * @module
 */

const SOURCE = `
SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	bpf_printk("getppid from %d", bpf_get_current_pid_tgid() >> 32);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

const MOD = new URL("../runtime/compile/mod.ts", import.meta.url).href;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs one compile in a fresh deno process; returns its in-process milliseconds. */
async function inFreshProcess(
  cacheDir: string,
  source: string,
): Promise<{ ms: number; cached: boolean }> {
  const script = `
    import { compile } from ${JSON.stringify(MOD)};
    const t = performance.now();
    const r = await compile(${JSON.stringify(source)}, { cacheDir: ${
    JSON.stringify(cacheDir)
  } });
    console.log(JSON.stringify({ ms: performance.now() - t, cached: r.cached }));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const out = await child.output();
  if (out.code !== 0) {
    throw new Error(
      `The benchmark's compile failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

async function clangCli(vmlinuxH: string, dir: string): Promise<number> {
  const src = `${dir}/bench.bpf.c`;
  await Deno.writeTextFile(src, SOURCE);
  const include = new URL("../runtime/include", import.meta.url).pathname;
  const t = performance.now();
  const out = await new Deno.Command("clang", {
    args: [
      "-target",
      "bpf",
      "-O2",
      "-g",
      "-D__TARGET_ARCH_x86",
      "-I",
      include,
      "-include",
      vmlinuxH,
      "-include",
      "bpfpm.h",
      "-c",
      src,
      "-o",
      `${dir}/bench.o`,
    ],
    stderr: "piped",
  }).output();
  const ms = performance.now() - t;
  if (!out.success) {
    throw new Error(`clang failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

/** The benchmark entry: `args[0]` is the number of runs (default 10). */
export async function main(args: string[]): Promise<number> {
  const runs = Number(args[0] ?? 10);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`runs must be a positive integer, got ${args[0]}`);
  }
  const root = await Deno.makeTempDir({ prefix: "bpfpm_bench_compile_" });
  try {
    const first: number[] = [];
    for (let i = 0; i < Math.min(3, runs); i++) {
      const dir = `${root}/first${i}`;
      first.push((await inFreshProcess(dir, SOURCE)).ms);
    }
    const cacheDir = `${root}/first0`;
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < runs; i++) {
      const unique = `${SOURCE}// run ${i}\n`;
      const c = await inFreshProcess(cacheDir, unique);
      const h = await inFreshProcess(cacheDir, unique);
      if (c.cached || !h.cached) {
        throw new Error("The cache did not behave as expected");
      }
      cold.push(c.ms);
      warm.push(h.ms);
    }
    const [kernel] = [...Deno.readDirSync(`${cacheDir}/kernel`)];
    const vmlinuxH = `${cacheDir}/kernel/${kernel.name}/vmlinux.h`;
    const cli: number[] = [];
    for (let i = 0; i < runs; i++) cli.push(await clangCli(vmlinuxH, root));

    const rows: [string, number[]][] = [
      ["warm (cache hit)", warm],
      ["cold (PCH present)", cold],
      ["first (empty cache)", first],
      ["clang CLI, no PCH", cli],
    ];
    console.log("case                   median ms   min ms   runs");
    for (const [name, xs] of rows) {
      console.log(
        `${name.padEnd(22)} ${median(xs).toFixed(1).padStart(9)} ${
          Math.min(...xs).toFixed(1).padStart(8)
        } ${String(xs.length).padStart(6)}`,
      );
    }
    console.log(
      `result compile warm_ms=${median(warm).toFixed(1)} cold_ms=${
        median(cold).toFixed(1)
      } first_ms=${median(first).toFixed(0)} clang_cli_ms=${
        median(cli).toFixed(0)
      }`,
    );
    return 0;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
