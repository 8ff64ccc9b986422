/**
 * `deno task bench agent [--duration S] [--pids N]`: `bpfpm agent` with five probes
 * (runqlat, syscount by process, cpudist, biolatency, execsnoop) under a steady load of
 * execs and syscalls, against the baseline of the same five probes under plain
 * `bpfpm run`, with the same load, in the same run. Measures over `--duration` (60) s:
 * RSS of the agent (the trusted side, which holds every BPF object) and of its sandboxed
 * probes; CPU % of one core of each tree (agent overhead = agent tree − the five
 * `bpfpm run` trees); `/metrics` scrape latency (syscount keeps a series pair for every
 * process that made syscalls, up to its map's 10,240 entries, which the load's processes
 * fill: about 20k series; `--pids N` spawns N more first), after the agent has settled;
 * and OTLP export
 * lag (receipt time − the points' collection time; pushes every 10 s, the default). Ends with
 * `result agent rss_mb=… probes_rss_mb=… cpu_pct=… baseline_cpu_pct=… overhead_pct=…
 * scrape_p50_ms=… scrape_p99_ms=… series=… otlp_lag_p50_ms=… otlp_lag_max_ms=…`.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  freePort,
  seededRegistry,
  startOtlpReceiver,
} from "../tests/agent/_helpers.ts";
import {
  bpfpm,
  RunningProbe,
  startBpfpm,
  tree,
} from "../tests/probes/_helpers.ts";

const PROBES = ["runqlat", "syscount", "cpudist", "biolatency", "execsnoop"];
const TICK = 100; // clock ticks per second (Linux USER_HZ)

/** utime + stime of a process, in ticks. */
function cpuTicks(pid: number): number {
  try {
    const st = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(
      Deno.readTextFileSync(`/proc/${pid}/status`),
    );
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** A steady load: about 100 execs a second, each with its syscalls. */
function startLoad(): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", "while :; do /bin/true; sleep 0.01; done"],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** CPU % of one core used by the trees of `roots` over `seconds`, and their peak RSS. */
async function measure(
  roots: number[],
  seconds: number,
  split?: (pid: number) => boolean,
): Promise<{ cpu: number; splitCpu: number; rss: number; splitRss: number }> {
  const sample = () => {
    const all = roots.flatMap(tree);
    let t = 0, s = 0, r = 0, sr = 0;
    for (const p of all) {
      const c = cpuTicks(p);
      const m = rssMb(p);
      if (split?.(p)) {
        s += c;
        sr += m;
      } else {
        t += c;
        r += m;
      }
    }
    return { t, s, r, sr };
  };
  const a = sample();
  let rss = 0, splitRss = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = performance.now();
  while (Date.now() < end) {
    await new Promise((r) => setTimeout(r, 1000));
    const x = sample();
    rss = Math.max(rss, x.r);
    splitRss = Math.max(splitRss, x.sr);
  }
  const b = sample();
  const secs = (performance.now() - t0) / 1000;
  return {
    cpu: (b.t - a.t) / TICK / secs * 100,
    splitCpu: (b.s - a.s) / TICK / secs * 100,
    rss,
    splitRss,
  };
}

async function waitFor(f: () => Promise<boolean>, what: string, ms = 120_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if (await f()) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`bench agent: timed out waiting for ${what}`);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] ?? NaN;
}

/** SIGTERM (SIGKILL after 15 s) to `bpfpm` children and load loops; waits for them. */
async function stop(
  children: (Deno.ChildProcess | RunningProbe)[],
): Promise<void> {
  await Promise.all(children.map(async (c) => {
    try {
      Deno.kill(c.pid, "SIGTERM");
    } catch { /* gone */ }
    const t = setTimeout(() => {
      try {
        Deno.kill(c.pid, "SIGKILL");
      } catch { /* gone */ }
    }, 15_000);
    if (c instanceof RunningProbe) await c.exited(30_000).catch(() => {});
    else await c.status;
    clearTimeout(t);
  }));
}

/** Runs the bench; prints figures and the result line. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "60" },
      pids: { type: "string", default: "0" },
    },
  });
  const seconds = Number(values.duration);
  const { tmp, url: registryUrl, env, close } = await seededRegistry(
    "bpfpm-bench-agent-",
    PROBES,
  );
  const otlp = startOtlpReceiver();
  const children: (Deno.ChildProcess | RunningProbe)[] = [];
  try {
    // Baseline: the same probes under bpfpm run, the same load.
    const project = join(tmp, "project");
    Deno.mkdirSync(project);
    const inst = await bpfpm(["install", ...PROBES, "--yes"], {
      cwd: project,
      env,
    });
    if (inst.code !== 0) throw new Error(inst.stderr);
    const runs = PROBES.map((p) =>
      startBpfpm(
        [
          "run",
          p,
          "--yes",
          "--",
          "--json",
          ...(p === "syscount" ? ["-P"] : []),
        ],
        { cwd: project, env },
      )
    );
    children.push(...runs);
    await new Promise((r) => setTimeout(r, 15_000));
    let load = startLoad();
    children.push(load);
    const base = await measure(runs.map((r) => r.pid), seconds);
    await stop([...runs, load]);
    children.length = 0;
    console.log(
      `bpfpm run × ${PROBES.length}: cpu ${
        base.cpu.toFixed(2)
      } % of a core, rss ${base.rss.toFixed(0)} MB`,
    );

    // The agent.
    const port = freePort();
    const config = join(tmp, "agent.json");
    Deno.writeTextFileSync(
      config,
      JSON.stringify({
        registry: registryUrl,
        stateDir: join(tmp, "state"),
        probes: PROBES.map((name) => ({
          name,
          ...(name === "syscount" ? { params: { process: true } } : {}),
        })),
        prometheus: { listen: `127.0.0.1:${port}` },
        otlp: { endpoint: otlp.url, interval: "10s" },
      }),
    );
    const agent = startBpfpm(["agent", "--config", config, "--yes"], {
      cwd: tmp,
      env,
    });
    children.push(agent);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${url}/healthz`)).ok,
      "agent healthy",
    );
    load = startLoad();
    children.push(load);
    const probePids = new Set<number>();
    const status = await (await fetch(`${url}/status`)).json();
    for (const p of status.probes) if (p.pid) probePids.add(p.pid);
    const probeTrees = new Set([...probePids].flatMap(tree));
    const ag = await measure(
      [agent.pid],
      seconds,
      (pid) => probeTrees.has(pid),
    );
    const agentTreeCpu = ag.cpu + ag.splitCpu;
    console.log(
      `bpfpm agent: trusted side cpu ${ag.cpu.toFixed(2)} %, probes ${
        ag.splitCpu.toFixed(2)
      } %, rss ${ag.rss.toFixed(0)} MB (probes ${ag.splitRss.toFixed(0)} MB)`,
    );

    // ≈ 10k series: syscount keeps a pair of series per process that made syscalls.
    const spawn = new Deno.Command("sh", {
      args: [
        "-c",
        `i=0; while [ $i -lt ${values.pids} ]; do /bin/true; i=$((i+1)); done`,
      ],
    });
    await spawn.output();
    // Let the agent finish exporting those processes' exec records before timing scrapes.
    await new Promise((r) => setTimeout(r, 10_000));
    const lat: number[] = [];
    let series = 0;
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const text = await (await fetch(`${url}/metrics`)).text();
      lat.push(performance.now() - t0);
      series = text.split("\n").filter((l) => /^[a-z]/.test(l)).length;
    }
    const lags: number[] = [];
    for (const req of otlp.received.metrics) {
      // deno-lint-ignore no-explicit-any
      for (const rm of req.resourceMetrics as any[]) {
        for (const sm of rm.scopeMetrics) {
          for (const m of sm.metrics) {
            const p = (m.sum ?? m.histogram ?? m.gauge)?.dataPoints?.[0];
            if (p && req.receivedAt) {
              lags.push(Number(req.receivedAt) - p.timeUnixNano / 1e6);
            }
          }
        }
      }
    }
    const r = {
      rss_mb: ag.rss.toFixed(0),
      probes_rss_mb: ag.splitRss.toFixed(0),
      cpu_pct: agentTreeCpu.toFixed(2),
      baseline_cpu_pct: base.cpu.toFixed(2),
      overhead_pct: (agentTreeCpu - base.cpu).toFixed(2),
      scrape_p50_ms: pct(lat, 50).toFixed(1),
      scrape_p99_ms: pct(lat, 99).toFixed(1),
      series,
      otlp_lag_p50_ms: pct(lags, 50).toFixed(1),
      otlp_lag_max_ms: Math.max(...lags).toFixed(1),
    };
    console.log(
      `result agent ${
        Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" ")
      }`,
    );
    return 0;
  } finally {
    await stop(children);
    await otlp.close();
    await close();
  }
}
