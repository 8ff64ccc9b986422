/**
 * The probes' one `--json` convention (probes/README.md), checked on all 18 shipped probes as
 * users run them (`bpfpm run ./probes/NAME --yes -- --json`): each is made to emit by a real
 * workload, then every stdout line must be one JSON object whose first key is `time`, RFC
 * 3339 with its zone and within the run; keys are snake_case; a unit is a key's suffix
 * from the runtime's table (never a bare `ms` or BCC's `usecs`); a histogram's buckets are
 * `{min_<unit>, max_<unit>, count}`; and the probe ends cleanly (no thrown bigint).
 */
import assert from "node:assert/strict";
import { UNIT_SUFFIX } from "../../mod.ts";
import { checkJsonKey } from "../../probes/_shared/json.ts";
import {
  directWrites,
  loopbackSession,
  oomKillTail,
  runCmd,
  sleep,
  startProbe,
} from "./_helpers.ts";

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;
const SUFFIXES = Object.values(UNIT_SUFFIX);

/** Asserts one `--json` line follows the convention; `from`/`to` bound its time (ms). */
function checkLine(line: string, from: number, to: number): void {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    assert.fail(`not a JSON line: ${line}`);
  }
  assert.ok(v && typeof v === "object" && !Array.isArray(v), line);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  assert.equal(keys[0], "time", `time is not the first key: ${line}`);
  const time = o.time as string;
  assert.match(time, RFC3339, line);
  const t = Date.parse(time);
  assert.ok(
    t >= from - 2000 && t <= to + 2000,
    `time ${time} is outside the run (${new Date(from).toISOString()} .. ${
      new Date(to).toISOString()
    })`,
  );
  // The convention's key rule (snake_case, units as suffixes), as probes/_shared/json.ts has it.
  for (const k of keys.slice(1)) {
    assert.doesNotThrow(() => checkJsonKey(k), `${k} in ${line}`);
  }
  if ("buckets" in o) {
    assert.ok(Array.isArray(o.buckets), line);
    for (const b of o.buckets as Record<string, unknown>[]) {
      const [min, max, count] = Object.keys(b);
      const unit = min?.slice(3);
      assert.ok(
        min?.startsWith("min") && max === `max${unit}` && count === "count",
        `bucket ${JSON.stringify(b)} is not {min_<unit>, max_<unit>, count}`,
      );
      assert.ok(
        unit === "" || SUFFIXES.includes(unit),
        `bucket unit ${unit} is not one of ${SUFFIXES}`,
      );
      assert.ok(Number.isInteger(b.count), JSON.stringify(b));
    }
  }
}

/** `n` direct synchronous 4 KiB writes under /var/tmp (a real disk, not tmpfs). */
async function writeDisk(n: number): Promise<void> {
  const dir = await Deno.makeTempDir({
    dir: "/var/tmp",
    prefix: "bpfpm-json-",
  });
  try {
    await directWrites(dir, "4k", n, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Shell busy loops for `ms`, then killed. */
async function busy(n: number, ms: number): Promise<void> {
  const kids = Array.from({ length: n }, () =>
    new Deno.Command("sh", {
      args: ["-c", "while :; do :; done"],
      stdout: "null",
      stderr: "null",
    }).spawn());
  await sleep(ms);
  for (const k of kids) k.kill("SIGKILL");
  await Promise.all(kids.map((k) => k.status));
}

interface Case {
  /** Extra arguments after `--json`. */
  args?: string[];
  /** The workload that makes the probe emit. */
  trigger: () => Promise<void>;
  /** An event probe: wait for a line before stopping (a summary prints at the stop). */
  events?: boolean;
}

const CASES: Record<string, Case> = {
  bashreadline: {
    events: true,
    trigger: async () => {
      // script(1) gives bash a terminal, so it is interactive and reads with readline.
      await runCmd("script", [
        "-qec",
        "bash --norc --noprofile -i",
        "/dev/null",
      ], { stdin: "echo json-convention\nexit\n" });
    },
  },
  biolatency: { args: ["-D", "-e"], trigger: () => writeDisk(20) },
  biosnoop: { args: ["-Q"], events: true, trigger: () => writeDisk(5) },
  cpudist: { args: ["-P", "-e"], trigger: () => busy(1, 300) },
  execsnoop: {
    events: true,
    trigger: async () => void await runCmd("/bin/true", []),
  },
  exitsnoop: {
    events: true,
    trigger: async () => void await runCmd("/bin/true", []),
  },
  killsnoop: {
    events: true,
    trigger: async () => {
      const c = new Deno.Command("sleep", { args: ["10"] }).spawn();
      c.kill("SIGTERM");
      await c.status;
    },
  },
  mountsnoop: {
    events: true,
    trigger: async () => {
      const dir = await Deno.makeTempDir({ prefix: "bpfpm-json-mnt-" });
      try {
        const m = await runCmd("mount", ["-t", "tmpfs", "bpfpmjson", dir]);
        assert.equal(m.code, 0, m.stderr);
        const u = await runCmd("umount", [dir]);
        assert.equal(u.code, 0, u.stderr);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  },
  // This process's threads only: symbolizing every thread's stacks outlasts the stop.
  offcputime: {
    args: ["-p", String(Deno.pid)],
    trigger: () => sleep(300),
  },
  oomkill: { events: true, trigger: oomKillTail },
  opensnoop: {
    events: true,
    trigger: async () => {
      const f = await Deno.makeTempFile({ prefix: "bpfpm-json-" });
      try {
        Deno.readTextFileSync(f);
      } finally {
        Deno.removeSync(f);
      }
    },
  },
  profile: { trigger: () => busy(1, 500) },
  runqlat: { args: ["-P"], trigger: () => busy(4, 300) },
  statsnoop: { events: true, trigger: () => Deno.stat("/").then(() => {}) },
  syscount: { args: ["-L"], trigger: () => Deno.stat("/").then(() => {}) },
  tcpconnect: {
    events: true,
    trigger: async () => void await loopbackSession(10, 10),
  },
  tcplife: {
    events: true,
    trigger: async () => void await loopbackSession(1000, 100),
  },
  tcpstates: {
    events: true,
    trigger: async () => void await loopbackSession(10, 10),
  },
};

Deno.test("the 18 probes are each checked here", () => {
  const probes = [...Deno.readDirSync(new URL("../../probes", import.meta.url))]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => e.name).sort();
  assert.equal(probes.length, 18);
  assert.deepEqual(Object.keys(CASES).sort(), probes);
});

/**
 * Probes whose adoption of the convention is not committed yet (their owner removes the
 * name with the commit that adopts it).
 */
const ADOPTING = new Set<string>();

for (const [name, c] of Object.entries(CASES)) {
  Deno.test({
    name: `${name} --json follows the convention`,
    ignore: ADOPTING.has(name),
  }, async () => {
    const from = Date.now();
    await using p = startProbe(name, ["--json", ...c.args ?? []]);
    await p.attached();
    await c.trigger();
    if (c.events) {
      await p.until(
        () => p.rows().length > 0,
        20_000,
        `${name}'s first line`,
      );
    }
    const status = await p.stop();
    const to = Date.now();
    assert.equal(status.code, 0, p.stderr);
    assert.doesNotMatch(p.stderr, /BigInt|TypeError/, p.stderr);
    const lines = p.stdout.split("\n").filter((l) => l !== "");
    assert.ok(lines.length > 0, `${name} printed nothing\n${p.stderr}`);
    for (const line of lines) checkLine(line, from, to);
    await p.assertUnloaded();
  });
}
