/**
 * The README's main job (`deno task demo`):
 *
 * 1. starts the embedded registry on 127.0.0.1 with a temporary SQLite file;
 * 2. seeds it with every probe package under `probes/` (scripts/seed.ts);
 * 3. installs tcplife with `bpfpm install` into a temporary project;
 * 4. runs it with `bpfpm run` for a few seconds while making loopback TCP connections, and
 *    prints its table;
 * 5. cleans up: tcplife stopped (its BPF programs checked gone), the registry stopped, the
 *    temporary directories removed;
 * 6. runs BCC's Hello World (examples/hello.ts) for a few seconds while starting processes.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "../registry/server/cli.ts";
import { seed } from "./seed.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Runs examples/hello.ts for `seconds`, spawning a process every 200 ms; returns its exit code. */
async function helloDemo(seconds: number): Promise<number> {
  console.log(
    `\n== examples/hello.ts: "Hello, World!" per clone(), for ${seconds} s ==`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(root, "examples/hello.ts")],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await new Deno.Command("true").output();
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    child.kill("SIGINT");
  } catch { /* it ended on its own: its status says how */ }
  const { code } = await child.status;
  return code === 130 || code === 0 ? 0 : code;
}

/** The `bpfpm` CLI of this repository, as a command. */
function bpfpm(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  io: { stdout?: "inherit" | "piped"; stderr?: "inherit" | "piped" } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      join(root, "deno.json"),
      join(root, "scripts", "bpfpm.ts"),
      ...args,
    ],
    cwd,
    env,
    stdin: "null",
    stdout: io.stdout ?? "inherit",
    stderr: io.stderr ?? "inherit",
  });
}

/** `count` loopback TCP sessions, `gapMs` apart, each sending a different amount both ways. */
async function loopbackTraffic(count: number, gapMs: number): Promise<number> {
  using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (server.addr as Deno.NetAddr).port;
  const serving = (async () => {
    for (let i = 0; i < count; i++) {
      using c = await server.accept();
      const buf = new Uint8Array(65536);
      let n = 0;
      for (;;) {
        const r = await c.read(buf);
        if (r === null) break;
        n += r;
      }
      await c.write(new Uint8Array(n * 2));
    }
  })();
  for (let i = 0; i < count; i++) {
    using c = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.write(new Uint8Array(4096 * (i + 1)));
    await c.closeWrite();
    const buf = new Uint8Array(65536);
    while (await c.read(buf) !== null) { /* drain the answer */ }
    await new Promise((r) => setTimeout(r, gapMs));
  }
  await serving;
  return port;
}

/** The ids of the BPF programs held by `pid` and its descendants (from /proc fdinfo). */
function progIds(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(e.name)]);
    } catch { /* exited */ }
  }
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...kids.get(pids[i]) ?? []);
  const ids = new Set<number>();
  for (const p of pids) {
    try {
      for (const fd of Deno.readDirSync(`/proc/${p}/fd`)) {
        try {
          if (
            Deno.readLinkSync(`/proc/${p}/fd/${fd.name}`) !==
              "anon_inode:bpf-prog"
          ) continue;
          const m = /prog_id:\s+(\d+)/.exec(
            Deno.readTextFileSync(`/proc/${p}/fdinfo/${fd.name}`),
          );
          if (m) ids.add(Number(m[1]));
        } catch { /* closed meanwhile */ }
      }
    } catch { /* exited */ }
  }
  return [...ids];
}

function progLoaded(id: number): boolean {
  return new Deno.Command("bpftool", {
    args: ["prog", "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).outputSync().success;
}

/** Steps 1-5; returns 0 when tcplife showed the sessions and everything was cleaned up. */
async function registryDemo(seconds: number): Promise<number> {
  const tmp = await Deno.makeTempDir({ prefix: "bpfpm-demo-" });
  const registry = await startRegistry({
    db: join(tmp, "registry.sqlite"),
    quiet: true,
  });
  try {
    const env = {
      ...Deno.env.toObject(),
      BPFPM_REGISTRY: `${registry.url}/`,
      BPFPM_CONFIG_DIR: join(tmp, "config"),
      BPFPM_CACHE_DIR: join(tmp, "cache"),
    };
    console.log(
      `== the embedded registry at ${registry.url} (SQLite ${
        join(tmp, "registry.sqlite")
      }) ==`,
    );
    console.log("\n== deno task seed: publishing every probe ==");
    const seeded = await seed({ registry: `${registry.url}/`, env });
    console.log(`${seeded.published.length} probe packages published`);

    const project = join(tmp, "project");
    await Deno.mkdir(project);
    console.log(`\n== bpfpm install tcplife (in ${project}) ==`);
    const installed = await bpfpm(["install", "tcplife", "--yes"], project, env)
      .output();
    if (!installed.success) throw new Error("bpfpm install tcplife failed");

    console.log(
      `\n== bpfpm run tcplife, for ${seconds} s of loopback TCP sessions ==`,
    );
    const run = bpfpm(["run", "tcplife", "--yes"], project, env, {
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let err = "";
    const errDone = (async () => {
      for await (
        const chunk of run.stderr.pipeThrough(new TextDecoderStream())
      ) {
        err += chunk;
        Deno.stderr.writeSync(new TextEncoder().encode(chunk));
      }
    })();
    let out = "";
    const outDone = (async () => {
      for await (
        const chunk of run.stdout.pipeThrough(new TextDecoderStream())
      ) {
        out += chunk;
      }
    })();
    const deadline = Date.now() + 120_000;
    while (!err.includes("Hit Ctrl-C")) {
      if (Date.now() > deadline) throw new Error("tcplife did not start");
      const done = await Promise.race([
        run.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 50)),
      ]);
      if (done) throw new Error("tcplife exited before tracing");
    }
    const ids = progIds(run.pid);
    const port = await loopbackTraffic(5, Math.max(100, seconds * 150));
    await new Promise((r) => setTimeout(r, 500));
    run.kill("SIGINT");
    const status = await run.status;
    await Promise.all([errDone, outDone]);
    const lines = out.trimEnd().split("\n");
    const ours = lines.filter((l, i) =>
      i === 0 || new RegExp(`\\b${port}\\b`).test(l)
    );
    console.log(
      `\n-- tcplife's table: the ${
        ours.length - 1
      } session ends on port ${port} made by this demo (${
        lines.length - 1
      } rows in all) --`,
    );
    console.log(ours.join("\n"));
    const left = ids.filter(progLoaded);
    console.log(
      `\ntcplife exited with ${status.code}; its ${ids.length} BPF program(s) ${
        left.length ? `still loaded: ${left.join(", ")}` : "are unloaded"
      }`,
    );
    return ours.length > 1 && left.length === 0 ? 0 : 1;
  } finally {
    await registry.close();
    await Deno.remove(tmp, { recursive: true });
    console.log(`registry stopped, ${tmp} removed`);
  }
}

if (import.meta.main) {
  const first = await registryDemo(3);
  const second = await helloDemo(3);
  Deno.exit(first || second);
}
