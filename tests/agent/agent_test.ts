/**
 * `bpfpm agent` against real servers (issue 17.3-4): two agents ("nodes": two processes on
 * two ports) install runqlat and syscount from a registry this test starts, Debian's
 * Prometheus scrapes both, and an OTLP/HTTP receiver decodes agent A's pushes with
 * OpenTelemetry's own protobuf definitions. Then: a killed probe process is restarted, a
 * dist-tag move upgrades both agents, an upgrade with wider grants is held and one that
 * fails to start is not taken (the old version keeps running), and SIGTERM leaves none of
 * the agents' programs loaded.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../registry/client/config.ts";
import { distTagAdd } from "../../registry/client/maintain.ts";
import {
  progIdsOfTree,
  runCmd,
  type RunningProbe,
  startBpfpm,
} from "../probes/_helpers.ts";
import {
  freePort,
  promtoolProblems,
  publishVariant,
  seededRegistry,
  startOtlpReceiver,
  startPrometheus,
  until,
} from "./_helpers.ts";

interface ProbeStatus {
  name: string;
  version: string | null;
  state: string;
  pid: number | null;
  restarts: number;
  events: number;
  drops: number | null;
  held: { version: string; reason: string } | null;
}

async function status(port: number): Promise<ProbeStatus[]> {
  const r = await fetch(`http://127.0.0.1:${port}/status`);
  return (await r.json()).probes;
}

async function probe(port: number, name: string): Promise<ProbeStatus> {
  return (await status(port)).find((p) => p.name === name)!;
}

// deno-lint-ignore no-explicit-any
type Obj = any;

Deno.test("bpfpm agent: two nodes scraped by Prometheus, OTLP push, restart, dist-tag rollout, held upgrade, clean SIGTERM", async () => {
  const setup = await new Deno.Command("bash", {
    args: [join(import.meta.dirname!, "setup.sh")],
  }).output();
  assert.ok(setup.success, new TextDecoder().decode(setup.stderr));
  const { tmp, url, env, close } = await seededRegistry("bpfpm-agent-test-", [
    "runqlat",
    "syscount",
    "execsnoop",
  ]);
  const registry = { url };
  const otlp = startOtlpReceiver();
  const agents: RunningProbe[] = [];
  let prom: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    const client = loadConfig({ registry: `${registry.url}/`, env });
    await distTagAdd(client, "runqlat@1.0.0", "stable");

    const ports = [freePort(), freePort()];
    const nodes = ["node-a", "node-b"];
    for (const [i, port] of ports.entries()) {
      const config = join(tmp, `agent-${i}.json`);
      Deno.writeTextFileSync(
        config,
        JSON.stringify({
          registry: registry.url,
          stateDir: join(tmp, `state-${i}`),
          instance: nodes[i],
          poll: "1s",
          probes: [
            { name: "runqlat", range: "stable" },
            { name: "syscount", range: "^1", params: { latency: true } },
            // Node A runs execsnoop from its declaration, node B its package code.
            {
              name: "execsnoop",
              ...(i === 0 ? { run: "declared" } : {}),
            },
          ],
          prometheus: { listen: `127.0.0.1:${port}` },
          ...(i === 0 ? { otlp: { endpoint: otlp.url, interval: "1s" } } : {}),
        }),
      );
      // Each agent has its own cache: two nodes share nothing but the registry.
      agents.push(startBpfpm(["agent", "--config", config, "--yes"], {
        cwd: tmp,
        env: { ...env, BPFPM_CACHE_DIR: join(tmp, `cache-${i}`) },
      }));
    }
    for (const [i, port] of ports.entries()) {
      await until(
        () => `agent ${nodes[i]} healthy; stderr:\n${agents[i].stderr}`,
        async () =>
          (await fetch(`http://127.0.0.1:${port}/healthz`)).ok || undefined,
      );
    }

    // /metrics is valid Prometheus text (promtool), with the node's labels on every series.
    for (const [i, port] of ports.entries()) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`))
        .text();
      assert.equal(await promtoolProblems(text), "");
      const series = text.split("\n").filter((l) => /^[a-z]/.test(l));
      assert.ok(series.length > 10, text);
      for (const s of series) {
        assert.ok(s.includes(`host_name="${nodes[i]}"`), s);
        assert.ok(s.includes(`kernel_release="${release()}"`), s);
        if (!s.startsWith("target_info")) {
          assert.match(s, /probe="(runqlat|syscount)",probe_version="1\.0\.0"/);
        }
      }
    }

    // Prometheus scrapes both agents: per-instance series, right labels, non-zero counts.
    prom = await startPrometheus(tmp, ports.map((p) => `127.0.0.1:${p}`));
    await runCmd("/bin/true", []);
    const perInstance = async (q: string) => {
      const r = await prom!.query(q);
      return r.length === 2 && r.every((s) => Number(s.value[1]) > 0)
        ? r
        : undefined;
    };
    const syscalls = await until(
      () => "syscount_syscalls_total of both agents in Prometheus",
      () =>
        perInstance(
          'sum by (instance, host_name, kernel_release, probe, probe_version) (syscount_syscalls_total{job="bpfpm"})',
        ),
    );
    assert.deepEqual(
      syscalls.map((s) => [s.metric.instance, s.metric.host_name]).sort(),
      ports.map((p, i) => [`127.0.0.1:${p}`, nodes[i]]).sort(),
    );
    for (const s of syscalls) {
      assert.equal(s.metric.probe, "syscount");
      assert.equal(s.metric.probe_version, "1.0.0");
      assert.equal(s.metric.kernel_release, release());
    }
    // execve is counted by name (the syscall label), and syscall time with --latency.
    await until(
      () => "execve counts and syscall time",
      async () =>
        (await perInstance('syscount_syscalls_total{syscall="execve"}')) &&
        perInstance("sum by (instance) (syscount_syscall_time_seconds_total)"),
    );
    const runq = await until(
      () => "runqlat histogram counts of both agents",
      () =>
        perInstance(
          'sum by (instance, probe, probe_version) (runqlat_run_queue_latency_seconds_count{pid="0"})',
        ),
    );
    assert.ok(runq.every((s) => s.metric.probe === "runqlat"));
    const quantile = await prom.query(
      "histogram_quantile(0.5, sum by (instance, le) (runqlat_run_queue_latency_seconds_bucket))",
    );
    assert.equal(quantile.length, 2);
    for (const q of quantile) {
      const v = Number(q.value[1]);
      assert.ok(v > 0 && v < 1, `median run queue latency ${v} s`);
    }

    // OTLP: agent A's metrics and events, decoded with OpenTelemetry's protobuf definitions.
    const ran = await runCmd("/bin/echo", ["agent", "otlp"]);
    const point = await until(
      () =>
        `a syscount_syscalls point over OTLP (${otlp.received.metrics.length} pushes)`,
      () => {
        for (const req of otlp.received.metrics.toReversed()) {
          for (const rm of req.resourceMetrics as Obj[]) {
            for (const sm of rm.scopeMetrics) {
              for (const m of sm.metrics) {
                if (m.name !== "syscount_syscalls") continue;
                const p = m.sum.dataPoints.find((d: Obj) =>
                  d.attributes.some((a: Obj) =>
                    a.key === "syscall" && a.value.stringValue === "execve"
                  )
                );
                if (p) return { rm, m, p };
              }
            }
          }
        }
      },
    );
    const attrs = (list: Obj[]) =>
      Object.fromEntries(
        list.map((a: Obj) => [a.key, a.value.stringValue ?? a.value.intValue]),
      );
    assert.equal(point.m.sum.isMonotonic, true);
    assert.equal(
      point.m.sum.aggregationTemporality,
      "AGGREGATION_TEMPORALITY_CUMULATIVE",
    );
    assert.ok(point.p.asDouble > 0, JSON.stringify(point.p));
    assert.deepEqual(
      { ...attrs(point.p.attributes) },
      { probe: "syscount", probe_version: "1.0.0", syscall: "execve" },
    );
    const resource = attrs(point.rm.resource.attributes);
    assert.equal(resource["host.name"], "node-a");
    assert.equal(resource["kernel.release"], release());
    const hist = (point.rm.scopeMetrics as Obj[]).flatMap((s) => s.metrics)
      .find((m: Obj) => m.name === "runqlat_run_queue_latency_seconds");
    assert.ok(hist, "runqlat's histogram over OTLP");
    const hp = hist.histogram.dataPoints[0];
    assert.equal(hp.bucketCounts.length, hp.explicitBounds.length + 1);
    assert.equal(
      hp.bucketCounts.reduce((a: number, b: number) => a + b, 0),
      hp.count,
    );
    assert.ok(hp.count > 0);
    assert.equal(hp.explicitBounds[1], 2e-6);
    const event = await until(
      () =>
        `execsnoop's record of echo as an OTLP log (${otlp.received.logs.length} pushes)`,
      () => {
        for (const req of otlp.received.logs) {
          for (const rl of req.resourceLogs as Obj[]) {
            for (const sl of rl.scopeLogs) {
              for (const lr of sl.logRecords) {
                const body = lr.body?.kvlistValue?.values ?? [];
                const pid = body.find((kv: Obj) => kv.key === "pid");
                if (
                  Number(pid?.value.intValue ?? pid?.value.doubleValue) ===
                    ran.pid
                ) {
                  return lr;
                }
              }
            }
          }
        }
      },
    );
    assert.deepEqual(attrs(event.attributes), {
      probe: "execsnoop",
      probe_version: "1.0.0",
    });
    const comm = event.body.kvlistValue.values.find((kv: Obj) =>
      kv.key === "comm"
    );
    assert.equal(comm.value.stringValue, "echo");
    // Declared mode: the record as its declaration formats it, and the kernel's drops.
    const field = (k: string) =>
      event.body.kvlistValue.values.find((kv: Obj) => kv.key === k)?.value;
    assert.match(
      field("ts").stringValue,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/,
    );
    assert.deepEqual(
      field("args").arrayValue.values.map((v: Obj) => v.stringValue),
      ["/bin/echo", "agent", "otlp"],
    );
    const declared = await probe(ports[0], "execsnoop");
    assert.equal(declared.pid, null);
    assert.equal(declared.drops, 0);
    assert.ok(declared.events > 0);
    // Package mode (node B): the records its code prints are counted; drops come from the
    // trusted side's counters of the sandboxed readers (none lost here).
    const packaged = await until(
      () => "node B's execsnoop counting records",
      async () => {
        const p = await probe(ports[1], "execsnoop");
        return p.events > 0 ? p : undefined;
      },
    );
    assert.equal(packaged.drops, 0);
    assert.ok(packaged.pid);

    // A probe's process killed: the agent restarts it.
    const before = await probe(ports[1], "syscount");
    assert.ok(before.pid);
    Deno.kill(before.pid!, "SIGKILL");
    const after = await until(
      () => "syscount restarted on node-b",
      async () => {
        const p = await probe(ports[1], "syscount");
        return p.state === "running" && p.pid !== before.pid && p.restarts === 1
          ? p
          : undefined;
      },
    );
    assert.equal(after.version, "1.0.0");
    assert.match(
      agents[1].stderr,
      /syscount: syscount@1\.0\.0 exited \(signal SIGKILL/,
    );

    /** Both agents keep runqlat 1.0.1 running and show `version` held, and why. */
    const heldOnBoth = async (version: string, reason: RegExp, log: RegExp) => {
      for (const [i, port] of ports.entries()) {
        const installed = join(
          tmp,
          `state-${i}`,
          "probes",
          `runqlat@${version}`,
        );
        const p = await until(
          () => `runqlat ${version} held on :${port}`,
          async () => {
            const p = await probe(port, "runqlat");
            return p.held?.version === version ? p : undefined;
          },
        );
        assert.equal(p.version, "1.0.1");
        assert.equal(p.state, "running");
        assert.match(p.held!.reason, reason);
        assert.match(agents[i].stderr, log);
        // A version not taken is not kept on disk; the running one is.
        assert.ok(!existsSync(installed), installed);
        assert.ok(
          existsSync(join(tmp, `state-${i}`, "probes", "runqlat@1.0.1")),
        );
      }
    };

    // A dist-tag move upgrades both agents within a poll interval (plus install and start).
    await publishVariant(tmp, env, `${registry.url}/`, "runqlat", "1.0.1");
    await distTagAdd(client, "runqlat@1.0.1", "stable");
    for (const port of ports) {
      await until(
        () => `runqlat 1.0.1 running on :${port}`,
        async () => {
          const p = await probe(port, "runqlat");
          return p.version === "1.0.1" && p.state === "running" ? p : undefined;
        },
      );
    }
    await until(
      () => "runqlat 1.0.1 series from both agents in Prometheus",
      () =>
        perInstance(
          'sum by (instance) (runqlat_run_queue_latency_seconds_count{probe_version="1.0.1"})',
        ),
    );

    // A version that widens its grants is held; 1.0.1 keeps running.
    await publishVariant(
      tmp,
      env,
      `${registry.url}/`,
      "runqlat",
      "1.0.2",
      (pj) => {
        const bpf = pj.bpf as { grants: { attach: unknown[] } };
        bpf.grants.attach.push({
          kind: "tracepoint",
          target: "sched:sched_process_exit",
        });
      },
    );
    await distTagAdd(client, "runqlat@1.0.2", "stable");
    await heldOnBoth(
      "1.0.2",
      /attach tracepoint sched:sched_process_exit/,
      /runqlat: upgrade to 1\.0\.2 held, 1\.0\.1 keeps running/,
    );

    // A version that fails to start is not taken either; 1.0.1 keeps running.
    await publishVariant(
      tmp,
      env,
      `${registry.url}/`,
      "runqlat",
      "1.0.3",
      (_, dir) => {
        const mod = join(dir, "mod.ts");
        Deno.writeTextFileSync(
          mod,
          `throw new Error("1.0.3 is broken on purpose");\n${
            Deno.readTextFileSync(mod)
          }`,
        );
      },
    );
    await distTagAdd(client, "runqlat@1.0.3", "stable");
    await heldOnBoth(
      "1.0.3",
      /runqlat@1\.0\.3 failed to start \(exit 1: .*broken on purpose/,
      /runqlat: upgrade to 1\.0\.3 failed, 1\.0\.1 keeps running/,
    );

    // SIGTERM: every probe stops, the agent exits 0, none of its programs stays loaded.
    for (const a of agents) {
      a.progIds = progIdsOfTree(a.pid);
      assert.ok(a.progIds.length >= 4, `the agent holds its probes' programs`);
      Deno.kill(a.pid, "SIGTERM");
    }
    for (const a of agents) {
      const s = await a.exited();
      assert.equal(s.code, 0, a.stderr);
      await a.assertUnloaded();
    }
  } finally {
    for (const a of agents) await a[Symbol.asyncDispose]();
    await prom?.close();
    await otlp.close();
    await close();
  }
});
