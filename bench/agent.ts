/**
 * `deno task bench agent [--duration S] [--series N] [--scrape-every S]`: `bpfpm agent` with
 * five probes (runqlat, syscount by process, cpudist, biolatency, execsnoop) for `--duration`
 * (60) s under a steady load of execs and syscalls, against the baseline of the same five
 * probes under plain `bpfpm run`, side by side: both run at once, under the same load, and
 * are measured over the same window. The agent runs with the V8 flags it is deployed with
 * (`AGENT_V8_FLAGS` as `DENO_V8_FLAGS`, docs/fleet.md).
 *
 * The series are set, not left to whatever runs on the machine: each syscount counts only
 * the children of one process of its own (its `-c PPID`), which the bench has spawn
 * `--series` / 2 short processes before the window (syscount keeps a count and a time
 * series per process), so `/metrics` holds `--series` (10,000) syscount series plus the
 * three histograms and `target_info`. The load's own processes are not those processes'
 * children.
 *
 * Measured over the window: CPU % of one core of each process tree (the agent overhead is
 * the agent's tree minus the five `bpfpm run` trees: the probes' own event handling is in
 * both), split into the trusted side (the agent's process; the five `bpfpm run` processes)
 * and the sandboxed probe processes under it; peak RSS of the agent (the trusted side, which
 * holds every BPF object) and of its sandboxed probe processes, separately. During the
 * window the agent's `/metrics` is scraped every `--scrape-every` (5) s and its OTLP
 * exporter pushes every 10 s (both count in its CPU); after it, 50 more scrapes 200 ms
 * apart. Scrape latency is the time to the last byte of the body, p50 and p99 over all
 * scrapes but the first (which makes every series' text, and is reported apart as
 * `scrape_first_ms`), taken by a scraper process of its own (bench/_agent_scrape.ts: this
 * process walks /proc and decodes the pushes meanwhile); OTLP export lag is receipt time −
 * the points' collection time.
 *
 * Ends with `result agent rss_mb=… probes_rss_mb=… baseline_rss_mb=… cpu_pct=…
 * baseline_cpu_pct=… overhead_pct=… trusted_cpu_pct=… baseline_parents_cpu_pct=…
 * probes_cpu_pct=… baseline_probes_cpu_pct=… scrape_p50_ms=… scrape_p99_ms=…
 * scrape_first_ms=… scrapes=… series=… otlp_lag_p50_ms=… otlp_lag_max_ms=…
 * events_per_s=… load1=…`.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AGENT_V8_FLAGS } from "../registry/agent/mod.ts";
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

function load1(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
}

/**
 * A steady load: about 100 execs of /bin/true a second (and as many of sleep), until killed
 * or this process dies (its parent-death signal).
 */
function startLoad(): Deno.ChildProcess {
  return new Deno.Command("setpriv", {
    args: [
      "--pdeathsig=KILL",
      "--",
      "sh",
      "-c",
      "while :; do /bin/true; sleep 0.01; done",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/**
 * The process whose children syscount counts: it waits for a line on stdin, spawns `n`
 * children (each makes its syscalls and exits), says `done`, and waits for stdin to close.
 */
class SeriesParent {
  readonly #child: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;

  constructor(readonly n: number) {
    this.#child = new Deno.Command("sh", {
      args: [
        "-c",
        `read _ || exit 0; i=0; while [ $i -lt ${n} ]; do /bin/true; i=$((i+1)); done; echo done; read _`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Spawns the children; resolves once they have all run. */
  async spawn(): Promise<void> {
    const w = this.#child.stdin.getWriter();
    await w.write(new TextEncoder().encode("go\n"));
    w.releaseLock();
    let out = "";
    while (!out.includes("done")) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("bench agent: the series parent ended early");
      out += value;
    }
  }

  async close(): Promise<void> {
    await this.#child.stdin.close().catch(() => {});
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
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

/**
 * The scraper, a process of its own (bench/_agent_scrape.ts): every `every` ms until `burst`
 * is called, then 50 scrapes 200 ms apart; resolves to each scrape's latency and series.
 */
function startScraper(url: string, every: number): {
  burst: () => Promise<{ ms: number; series: number }[]>;
  kill: () => void;
} {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      new URL("./_agent_scrape.ts", import.meta.url).pathname,
      url,
      String(every),
      "50",
      "200",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const out = new Response(child.stdout).text();
  return {
    burst: async () => {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode("burst\n"));
      await w.close();
      await child.status;
      return (await out).trim().split("\n").map((l) => JSON.parse(l));
    },
    kill: () => {
      try {
        child.kill();
      } catch { /* gone */ }
    },
  };
}

/** Runs the bench; prints figures and the result line. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: "string", default: "60" },
      series: { type: "string", default: "10000" },
      "scrape-every": { type: "string", default: "5" },
    },
  });
  const seconds = Number(values.duration);
  const perProcess = Math.ceil(Number(values.series) / 2);
  const scrapeEvery = Number(values["scrape-every"]) * 1000;
  const { tmp, url: registryUrl, env, close } = await seededRegistry(
    "bpfpm-bench-agent-",
    PROBES,
  );
  const otlp = startOtlpReceiver();
  const children: (Deno.ChildProcess | RunningProbe)[] = [];
  const parents: SeriesParent[] = [];
  const loads = [load1()];
  let stopScraper = () => {};
  try {
    // The baseline (the same probes under bpfpm run) and the agent run side by side, each
    // with its own series parent, under one load, measured over one window: a baseline
    // measured in a window of its own drifted from the agent's by ±3 % of a core between
    // runs (the machine's own activity, the load loop's pace), more than the overhead the
    // bench is after.
    const project = join(tmp, "project");
    Deno.mkdirSync(project);
    const inst = await bpfpm(["install", ...PROBES, "--yes"], {
      cwd: project,
      env,
    });
    if (inst.code !== 0) throw new Error(inst.stderr);
    const baseParent = new SeriesParent(perProcess);
    const parent = new SeriesParent(perProcess);
    parents.push(baseParent, parent);
    const runs = PROBES.map((p) =>
      startBpfpm(
        [
          "run",
          p,
          "--yes",
          "--",
          "--json",
          ...(p === "syscount" ? ["-P", "-c", String(baseParent.pid)] : []),
        ],
        { cwd: project, env },
      )
    );
    children.push(...runs);
    const port = freePort();
    const config = join(tmp, "agent.json");
    Deno.writeTextFileSync(
      config,
      JSON.stringify({
        registry: registryUrl,
        stateDir: join(tmp, "state"),
        probes: PROBES.map((name) => ({
          name,
          ...(name === "syscount"
            ? { params: { process: true }, args: ["-c", String(parent.pid)] }
            : {}),
        })),
        prometheus: { listen: `127.0.0.1:${port}` },
        otlp: { endpoint: otlp.url, interval: "10s" },
      }),
    );
    const agent = startBpfpm(["agent", "--config", config, "--yes"], {
      cwd: tmp,
      env: { ...env, DENO_V8_FLAGS: AGENT_V8_FLAGS },
    });
    children.push(agent);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => (await fetch(`${url}/healthz`)).ok,
      "agent healthy",
    );
    // The five bpfpm run probes have started by now (they started first; 15 s as before).
    await new Promise((r) => setTimeout(r, 15_000));
    await Promise.all([baseParent.spawn(), parent.spawn()]);
    const load = startLoad();
    children.push(load);
    await new Promise((r) => setTimeout(r, 5_000));
    const probePids = new Set<number>();
    const before = await (await fetch(`${url}/status`)).json();
    for (const p of before.probes) if (p.pid) probePids.add(p.pid);
    const probeTrees = new Set([...probePids].flatMap(tree));
    const scraper = startScraper(url, scrapeEvery);
    stopScraper = scraper.kill;
    const eventsAt = (s: { probes: { events: number }[] }) =>
      s.probes.reduce((n, p) => n + p.events, 0);
    const parentPids = new Set(runs.map((r) => r.pid));
    const t0 = performance.now();
    const [baseSplit, ag] = await Promise.all([
      measure([...parentPids], seconds, (pid) => !parentPids.has(pid)),
      measure([agent.pid], seconds, (pid) => probeTrees.has(pid)),
    ]);
    const base = {
      cpu: baseSplit.cpu + baseSplit.splitCpu,
      rss: baseSplit.rss + baseSplit.splitRss,
    };
    console.log(
      `bpfpm run × ${PROBES.length}: cpu ${
        base.cpu.toFixed(2)
      } % of a core (the five bpfpm run processes ${
        baseSplit.cpu.toFixed(2)
      } %, their probes ${baseSplit.splitCpu.toFixed(2)} %), rss ${
        base.rss.toFixed(0)
      } MB`,
    );
    const after = await (await fetch(`${url}/status`)).json();
    const eventsPerSecond = (eventsAt(after) - eventsAt(before)) * 1000 /
      (performance.now() - t0);
    loads.push(load1());
    const scrapes = await scraper.burst();
    const agentTreeCpu = ag.cpu + ag.splitCpu;
    console.log(
      `bpfpm agent: trusted side cpu ${ag.cpu.toFixed(2)} %, probes ${
        ag.splitCpu.toFixed(2)
      } %, rss ${ag.rss.toFixed(0)} MB (probes ${ag.splitRss.toFixed(0)} MB)`,
    );
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
    // The first scrape makes every series' text (the agent keeps it from then on): it is
    // reported apart, the percentiles are the steady state's.
    const lat = scrapes.slice(1).map((s) => s.ms);
    const counts = scrapes.map((s) => s.series);
    const r = {
      rss_mb: ag.rss.toFixed(0),
      probes_rss_mb: ag.splitRss.toFixed(0),
      baseline_rss_mb: base.rss.toFixed(0),
      cpu_pct: agentTreeCpu.toFixed(2),
      baseline_cpu_pct: base.cpu.toFixed(2),
      overhead_pct: (agentTreeCpu - base.cpu).toFixed(2),
      trusted_cpu_pct: ag.cpu.toFixed(2),
      baseline_parents_cpu_pct: baseSplit.cpu.toFixed(2),
      probes_cpu_pct: ag.splitCpu.toFixed(2),
      baseline_probes_cpu_pct: baseSplit.splitCpu.toFixed(2),
      scrape_p50_ms: pct(lat, 50).toFixed(1),
      scrape_p99_ms: pct(lat, 99).toFixed(1),
      scrape_first_ms: scrapes[0].ms.toFixed(1),
      scrapes: scrapes.length,
      series: `${Math.min(...counts)}-${Math.max(...counts)}`,
      otlp_lag_p50_ms: pct(lags, 50).toFixed(1),
      otlp_lag_max_ms: Math.max(...lags).toFixed(1),
      events_per_s: eventsPerSecond.toFixed(0),
      load1: loads.join("/"),
    };
    console.log(
      `result agent ${
        Object.entries(r).map(([k, v]) => `${k}=${v}`).join(" ")
      }`,
    );
    return 0;
  } finally {
    stopScraper();
    await stop(children);
    await Promise.all(parents.map((p) => p.close().catch(() => {})));
    await otlp.close();
    await close();
  }
}
