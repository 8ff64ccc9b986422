/**
 * BCC's flags added last, run for real through `bpfpm run` and asserted on what the probe
 * prints: execsnoop -C (CPU) and -M (the parent's command).
 */
import assert from "node:assert/strict";
import { runCmd, startProbe } from "./_helpers.ts";

/** The comms of this process's threads (the parent of a child is the thread that forked it). */
function threadComms(): Set<string> {
  const out = new Set<string>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    out.add(Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).trim());
  }
  return out;
}

Deno.test("execsnoop -C -M: the CPU the exec ran on and the parent's command", async () => {
  await using p = startProbe("execsnoop", ["-C", "-M", "-P", String(Deno.pid)]);
  await p.attached();
  // taskset pins itself to CPU 1, then execs true there: true's row says CPU 1, and its
  // parent is this test process (the thread of it that forked taskset).
  const ran = await runCmd("taskset", ["-c", "1", "true"]);
  assert.equal(ran.code, 0, ran.stderr);
  const row = new RegExp(
    `^true +${ran.pid} +(\\S+) +${Deno.pid} +1 +0 +\\S*true$`,
    "m",
  );
  await p.until(() => row.test(p.stdout), 30_000, "true's row");
  const parent = row.exec(p.stdout)![1];
  assert.ok(
    threadComms().has(parent),
    `PCOMM ${parent} is not a thread of this process: ${[...threadComms()]}`,
  );
  assert.match(
    p.stdout.split("\n")[0],
    /^PCOMM +PID +PCOMM +PPID +CPU +RET +ARGS$/,
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});
