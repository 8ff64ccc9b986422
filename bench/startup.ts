/**
 * Startup latency: spawn → first event line, for our runtime (warm cache, cold cache) and
 * bpftrace, with the same probe (syscalls:sys_enter_getppid, filtered to one helper pid).
 *
 * Each run starts a fresh helper process (a tiny C program calling getppid() every 100 µs),
 * then the tool; the clock stops when the tool's first event line is read from its stdout
 * (teardown excluded). Warm: the script's object is in the compile cache. Cold: the vmlinux
 * PCH exists but the script is new (a per-run comment changes its cache key). Our probe
 * prints for every getppid and the script keeps the lines whose pid is the helper's (the
 * source stays the same, so the warm runs hit the cache); bpftrace filters in the kernel.
 * Also reports the peak RSS of a running examples/hello.ts and of bpftrace.
 *
 * Sandboxed rows: a probe package (a tracepoint program filtering the helper's pid through an
 * array map, a ring buffer, an entry printing its first event) in a temp directory nobody can
 * read, run under `bpfpm run` (the trusted parent compiles, loads and drains; the package's
 * code runs in a child as nobody), warm; and the same package's entry run in process
 * (`deno run -A`, `"bpf"` mapped to mod.ts), so the row beside it shows what the boundary
 * costs. Their peak RSS is the parent's plus the child's. And the same package installed
 * (published to a registry on loopback that the bench starts, then `bpfpm install`ed into a
 * project), run by name (`bpfpm run bench-startup`): a user's usual start, with the
 * lockfile's grants, the tarball's integrity checked and the files served from the kept copy
 * of its verified tarball.
 *
 * `deno task bench startup [runs]` (default 11 runs per tool).
 *
 * @module
 */

import { join } from "node:path";
import {
  type BenchPackage,
  bpfpmCli,
  packageCommand,
  REPO,
  treePeakRss,
  writePackage,
} from "./_sandbox.ts";
import { seededRegistry } from "../tests/agent/_helpers.ts";

// The helper loops until killed, so it dies with whatever started it (a bench stopped by a
// signal included).
const HELPER_C = `
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
int main(void) {
  struct timespec ts = {0, 100000};
  pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) return 1;
  for (;;) { syscall(SYS_getppid); nanosleep(&ts, 0); }
}
`;

const PACKAGE_C = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u32);
} target SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
  u32 k = 0, pid = bpf_get_current_pid_tgid() >> 32;
  u32 *want = bpf_map_lookup_elem(&target, &k);
  if (!want || *want != pid)
    return 0;
  u32 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e)
    return 0;
  *e = pid;
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

const PACKAGE_MAIN = `import { BPF } from "bpf";
const pid = Number(Deno.args[0]);
using b = await BPF.load({ file: new URL("./probe.bpf.c", import.meta.url) });
b.map("target").set(0, pid);
for await (const e of b.ringbuf("events")) {
  console.log(\`EVENT \${new DataView(e.buffer, e.byteOffset).getUint32(0, true)}\`);
  break;
}
`;

function startupPackage(): Promise<BenchPackage> {
  return writePackage("bench-startup", {
    attach: [{ kind: "tracepoint", target: "syscalls:sys_enter_getppid" }],
    helpers: [],
    mapMemory: "1MiB",
  }, { "main.ts": PACKAGE_MAIN, "probe.bpf.c": PACKAGE_C });
}

/**
 * The package published to a registry on loopback and installed into a fresh project: the
 * `bpfpm run NAME` command line (cwd and environment) and a dispose that stops the registry.
 */
async function installedPackage(pkg: BenchPackage): Promise<
  {
    run: (pid: number) => [string, string[], {
      cwd: string;
      env: Record<string, string>;
    }];
  } & AsyncDisposable
> {
  // A registry with one shipped probe published: its seeding logs the bench's user in.
  const reg = await seededRegistry("bpfpm-bench-startup-reg-", ["execsnoop"]);
  try {
    const cli = async (args: string[], cwd: string) => {
      const o = await new Deno.Command(Deno.execPath(), {
        args: [...bpfpmCli(), ...args],
        cwd,
        env: reg.env,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!o.success) {
        throw new Error(
          `bpfpm ${args.join(" ")} failed: ${
            new TextDecoder().decode(o.stderr)
          }`,
        );
      }
    };
    await cli(["publish"], pkg.dir);
    const project = join(reg.tmp, "project");
    await Deno.mkdir(project);
    await cli(["install", "bench-startup", "--yes"], project);
    return {
      run: (pid) => [
        Deno.execPath(),
        [...bpfpmCli(), "run", "bench-startup", "--yes", "--", String(pid)],
        { cwd: project, env: reg.env },
      ],
      [Symbol.asyncDispose]: reg.close,
    };
  } catch (e) {
    await reg.close();
    throw e;
  }
}

function probeScript(): string {
  return `
import { BPF } from ${JSON.stringify(`${REPO}mod.ts`)};
const [pid, nonce] = Deno.args;
using b = await BPF.load({ text: \`\${nonce ? \`// run \${nonce}\\n\` : ""}
  TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    bpf_trace_printk("getppid\\\\n");
    return 0;
  }\` });
for await (const f of b.traceFields()) {
  if (String(f.pid) === pid) {
    console.log(\`EVENT \${f.pid}\`);
    break;
  }
}
`;
}

async function sh(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout) +
      new TextDecoder().decode(o.stderr),
  };
}

async function ensureBpftrace(): Promise<string> {
  const which = await sh("sh", ["-c", "command -v bpftrace"]);
  if (which.code === 0) return which.out.trim();
  console.error("bench: installing bpftrace (apt-get)");
  const r = await sh("sh", [
    "-c",
    "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace)",
  ]);
  if (r.code !== 0) throw new Error(`cannot install bpftrace: ${r.out}`);
  return (await sh("sh", ["-c", "command -v bpftrace"])).out.trim();
}

/** Spawns `cmd`, returns ms until a stdout line starting with `EVENT` and the peak RSS (KiB). */
async function timeToEvent(
  cmd: string,
  args: string[],
  where: { cwd?: string; env?: Record<string, string> } = {},
  timeoutMs = 20_000,
): Promise<{ ms: number; rssKb: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: where.cwd,
    stdout: "piped",
    stderr: "piped",
    env: { ...where.env, NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let buf = "";
  let ms = NaN;
  let rssKb = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      if (/^EVENT/m.test(buf)) {
        ms = performance.now() - t0;
        rssKb = treePeakRss(child.pid).kb;
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGINT");
    } catch {
      // Already exited.
    }
    await reader.cancel();
    const err = await new Response(child.stderr).text();
    await child.status;
    if (Number.isNaN(ms)) buf += err;
  }
  if (Number.isNaN(ms)) throw new Error(`${cmd} gave no event: ${buf}`);
  return { ms, rssKb };
}

function peakRss(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function withHelper<T>(
  helperBin: string,
  fn: (pid: number) => Promise<T>,
): Promise<T> {
  // trace_pipe has one reader at a time: on a shared machine, another program may hold it
  // for a while; such a run is tried again (up to 10 times, a second apart).
  for (let attempt = 1;; attempt++) {
    const helper = new Deno.Command(helperBin, {
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      return await fn(helper.pid);
    } catch (error) {
      if (attempt >= 10 || !/another process is reading/.test(String(error))) {
        throw error;
      }
    } finally {
      helper.kill("SIGKILL");
      await helper.status;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Peak RSS (KiB) of examples/hello.ts once it has printed its first line (and 0.5 s more). */
async function helloRss(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}examples/hello.ts`],
    cwd: REPO,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const kick = setInterval(() => {
    new Deno.Command("/bin/bash", { args: ["-c", "/bin/true; /bin/true"] })
      .output();
  }, 100);
  const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const { done } = await reader.read();
    if (done) throw new Error("examples/hello.ts printed nothing");
    await new Promise((r) => setTimeout(r, 500));
    return peakRss(child.pid);
  } finally {
    clearInterval(kick);
    clearTimeout(kill);
    child.kill("SIGINT");
    await reader.cancel();
    await child.status;
  }
}

/**
 * Runs the startup benchmark and prints a table and a `result startup ...` line.
 *
 * @param args `[runs]`: runs per tool (default 11).
 * @returns The exit code.
 */
export async function main(args: string[]): Promise<number> {
  const runs = Math.max(10, Number(args[0] ?? 11) || 11);
  const bpftrace = await ensureBpftrace();
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-bench-startup-" });
  await using pkg = await startupPackage();
  await using installedPkg = await installedPackage(pkg);
  try {
    const helperBin = `${dir}/getppid_loop`;
    await Deno.writeTextFile(`${dir}/getppid_loop.c`, HELPER_C);
    const cc = await sh("gcc", [
      "-O2",
      "-o",
      helperBin,
      `${dir}/getppid_loop.c`,
    ]);
    if (cc.code !== 0) throw new Error(`gcc failed: ${cc.out}`);
    const probe = `${dir}/probe.ts`;
    await Deno.writeTextFile(probe, probeScript());
    const deno = Deno.execPath();
    const ours = (pid: number, nonce = "") =>
      timeToEvent(deno, ["run", "-A", probe, String(pid), nonce]);
    const theirs = (pid: number) =>
      timeToEvent(bpftrace, [
        "-e",
        `tracepoint:syscalls:sys_enter_getppid /pid == ${pid}/ { printf("EVENT %d\\n", pid); exit(); }`,
      ]);

    const sandboxed = (pid: number) =>
      timeToEvent(...packageCommand(pkg, "sandboxed", [String(pid)]));
    const inProcess = (pid: number) =>
      timeToEvent(...packageCommand(pkg, "in process", [String(pid)]));
    const installed = (pid: number) => timeToEvent(...installedPkg.run(pid));

    // Warm-up: Deno's module caches (ours and the sandbox user's), our compile cache (and the
    // PCH), bpftrace's page cache.
    await withHelper(helperBin, (pid) => ours(pid));
    await withHelper(helperBin, (pid) => ours(pid, `warmup-${Date.now()}`));
    await withHelper(helperBin, (pid) => theirs(pid));
    await withHelper(helperBin, (pid) => sandboxed(pid));
    await withHelper(helperBin, (pid) => inProcess(pid));
    await withHelper(helperBin, (pid) => installed(pid));

    const warm: number[] = [];
    const cold: number[] = [];
    const bt: number[] = [];
    const sb: number[] = [];
    const ip: number[] = [];
    const inst: number[] = [];
    let warmRss = 0;
    let btRss = 0;
    let sbRss = 0;
    let ipRss = 0;
    let instRss = 0;
    for (let i = 0; i < runs; i++) {
      const w = await withHelper(helperBin, (pid) => ours(pid));
      warm.push(w.ms);
      warmRss = Math.max(warmRss, w.rssKb);
      const c = await withHelper(
        helperBin,
        (pid) => ours(pid, `${Date.now()}-${i}`),
      );
      cold.push(c.ms);
      const b = await withHelper(helperBin, (pid) => theirs(pid));
      bt.push(b.ms);
      btRss = Math.max(btRss, b.rssKb);
      const s = await withHelper(helperBin, (pid) => sandboxed(pid));
      sb.push(s.ms);
      sbRss = Math.max(sbRss, s.rssKb);
      const p = await withHelper(helperBin, (pid) => inProcess(pid));
      ip.push(p.ms);
      ipRss = Math.max(ipRss, p.rssKb);
      const n = await withHelper(helperBin, (pid) => installed(pid));
      inst.push(n.ms);
      instRss = Math.max(instRss, n.rssKb);
    }
    await helloRss(); // fills the compile cache if hello.ts is not in it yet
    const helloKb = await helloRss();

    const w = median(warm);
    const c = median(cold);
    const b = median(bt);
    const sbm = median(sb);
    const ipm = median(ip);
    const instm = median(inst);
    const fmt = (x: number) => x.toFixed(1);
    console.log(
      `startup: spawn -> first event line, median of ${runs} runs (ms)`,
    );
    console.log("tool                              median    min    max");
    for (
      const [name, xs] of [
        ["bpfpm warm (cache hit)", warm],
        ["bpfpm cold (PCH, no hit)", cold],
        ["bpftrace", bt],
        ["package in process (ringbuf)", ip],
        ["package sandboxed (bpfpm run)", sb],
        ["package installed (bpfpm run)", inst],
      ] as const
    ) {
      console.log(
        `${name.padEnd(32)} ${fmt(median(xs)).padStart(7)} ${
          fmt(Math.min(...xs)).padStart(6)
        } ${fmt(Math.max(...xs)).padStart(6)}`,
      );
    }
    console.log(
      `peak RSS: examples/hello.ts ${
        (helloKb / 1024).toFixed(1)
      } MB, bpfpm probe ${(warmRss / 1024).toFixed(1)} MB, bpftrace ${
        (btRss / 1024).toFixed(1)
      } MB, package in process ${
        (ipRss / 1024).toFixed(1)
      } MB, package sandboxed (parent + child) ${
        (sbRss / 1024).toFixed(1)
      } MB, package installed (parent + child) ${
        (instRss / 1024).toFixed(1)
      } MB`,
    );
    console.log(
      `result startup warm_ms=${fmt(w)} cold_ms=${fmt(c)} bpftrace_ms=${
        fmt(b)
      } warm_ratio=${(w / b).toFixed(2)} cold_ratio=${
        (c / b).toFixed(2)
      } inprocess_pkg_ms=${fmt(ipm)} sandboxed_ms=${fmt(sbm)} sandboxed_ratio=${
        (sbm / b).toFixed(2)
      } sandboxed_rss_mb=${(sbRss / 1024).toFixed(1)} installed_ms=${
        fmt(instm)
      } installed_ratio=${(instm / b).toFixed(2)}`,
    );
    return 0;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
