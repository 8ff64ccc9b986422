import assert from "node:assert/strict";
import { Link } from "../../mod.ts";

const CHILD = new URL("./_child.ts", import.meta.url).pathname;

async function loaded(kind: "prog" | "link", id: number): Promise<boolean> {
  const out = await new Deno.Command("bpftool", {
    args: [kind, "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Waits (up to 3 s: the kernel frees programs after an RCU grace period) until none is loaded. */
async function goneAll(
  kind: "prog" | "link",
  ids: number[],
): Promise<number[]> {
  let left = ids;
  for (let i = 0; i < 30 && left.length; i++) {
    const still = [];
    for (const id of left) if (await loaded(kind, id)) still.push(id);
    left = still;
    if (left.length) await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

function cgroup2Root(): string {
  for (const line of Deno.readTextFileSync("/proc/self/mounts").split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "cgroup2") return dir;
  }
  throw new Error("no cgroup2 mount");
}

async function sh(cmd: string, args: string[]) {
  const out = await new Deno.Command(cmd, { args, stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

async function output(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout);
}

/** A netns with a veth pair (v0 up) and a test cgroup, removed afterwards. */
async function withPlayground(
  fn: (netns: string, cgroup: string) => Promise<void>,
) {
  const tag = Math.random().toString(36).slice(2, 8);
  const netns = `bpfpm_lc_${tag}`;
  const cgroup = `${cgroup2Root()}/bpfpm_lc_${tag}`;
  try {
    await sh("ip", ["netns", "add", netns]);
    await sh("ip", [
      "-n",
      netns,
      "link",
      "add",
      "v0",
      "type",
      "veth",
      "peer",
      "name",
      "v1",
    ]);
    await sh("ip", ["-n", netns, "link", "set", "v0", "up"]);
    Deno.mkdirSync(cgroup);
    await fn(netns, cgroup);
  } finally {
    await new Deno.Command("ip", {
      args: ["netns", "del", netns],
      stderr: "null",
    }).output();
    try {
      Deno.removeSync(cgroup);
    } catch { /* not made */ }
  }
}

interface Report {
  progIds: number[];
  linkIds: number[];
  uprobeProg: number;
}

async function startChild(
  mode: string,
  netns: string,
  cgroup: string,
  extra: string[] = [],
  netlink = false,
): Promise<
  { child: Deno.ChildProcess; report: Report; rest: Promise<string> }
> {
  const child = new Deno.Command("deno", {
    args: ["run", "-A", CHILD, mode, netns, cgroup, ...extra],
    env: { NETLINK: netlink ? "1" : "0" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      const err = await new Response(child.stderr).text();
      throw new Error(`child ended before reporting: ${text} ${err}`);
    }
    text += value;
  }
  const report = JSON.parse(text.split("\n")[0]) as Report;
  const rest = (async () => {
    let more = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return more;
      more += value;
    }
  })();
  return { child, report, rest };
}

for (
  const [mode, signal, code] of [
    ["wait", "SIGINT", 130],
    ["wait", "SIGTERM", 143],
    ["wait", "SIGKILL", undefined],
    ["exit", undefined, 0],
    ["throw", undefined, 1],
  ] as const
) {
  Deno.test(`${signal ?? mode}: a probe process leaves none of its programs or links`, async () => {
    await withPlayground(async (netns, cgroup) => {
      // A SIGKILL leaves netlink attachments behind by design (see docs/attach.md).
      const netlink = signal !== "SIGKILL";
      const { child, report, rest } = await startChild(
        mode,
        netns,
        cgroup,
        [],
        netlink,
      );
      try {
        assert.ok(report.progIds.length >= 9, JSON.stringify(report));
        for (const id of report.progIds) {
          assert.ok(await loaded("prog", id), `prog ${id} loaded`);
        }
        if (signal) child.kill(signal);
        const status = await child.status;
        await rest;
        await child.stderr.cancel();
        if (code !== undefined) assert.equal(status.code, code);
        else assert.equal(status.signal, "SIGKILL");
        assert.deepEqual(
          await goneAll("prog", report.progIds),
          [],
          "programs left loaded",
        );
        assert.deepEqual(
          await goneAll("link", report.linkIds),
          [],
          "links left",
        );
        if (netlink) {
          const link = await output("ip", ["-n", netns, "link", "show", "v1"]);
          assert.doesNotMatch(
            link,
            /xdp/,
            "the netlink XDP program is detached",
          );
          const tc = await output("tc", [
            "-n",
            netns,
            "filter",
            "show",
            "dev",
            "v1",
            "ingress",
          ]);
          assert.equal(tc.trim(), "", "the clsact filter is removed");
        }
      } finally {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
      }
    });
  });
}

Deno.test("a pinned link outlives SIGKILL until it is opened, unpinned and closed", async () => {
  const pin = `/sys/fs/bpf/bpfpm_lc_${Math.random().toString(36).slice(2, 8)}`;
  await withPlayground(async (netns, cgroup) => {
    const { child, report, rest } = await startChild("pin", netns, cgroup, [
      pin,
    ]);
    try {
      child.kill("SIGKILL");
      await child.status;
      await rest;
      await child.stderr.cancel();
      const others = report.progIds.filter((id) => id !== report.uprobeProg);
      assert.deepEqual(
        await goneAll("prog", others),
        [],
        "unpinned programs are gone",
      );
      assert.ok(
        await loaded("prog", report.uprobeProg),
        "the pinned link keeps its program",
      );
      const link = Link.openPinned(pin);
      assert.equal(link.pinnedPath, pin);
      assert.ok(link.id > 0);
      assert.equal(
        link.kind,
        "uprobe",
        "the kernel's link info gives the kind",
      );
      assert.equal(link.programId, report.uprobeProg);
      assert.match(link.target, /bash:0x[0-9a-f]+$/);
      link.unpin();
      link.close();
      assert.deepEqual(await goneAll("prog", [report.uprobeProg]), []);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
      try {
        Deno.removeSync(pin);
      } catch { /* unpinned */ }
    }
  });
});
