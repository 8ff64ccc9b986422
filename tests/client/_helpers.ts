/**
 * Test helpers for the client: a real Verdaccio on 127.0.0.1, raw npm publishes, temp
 * dirs, and the CLI run as a child process.
 *
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { bpfpmCli } from "../../bench/_sandbox.ts";
import { createTarball, type PackFile } from "../../registry/pack/mod.ts";
import { integrityOf } from "../../registry/common/digests.ts";
import { publishDocument } from "../../registry/common/publish_document.ts";

export const REPO = new URL("../../", import.meta.url).pathname;
export const CLI = join(REPO, "scripts", "bpfpm.ts");

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export function verdaccioBin(): string {
  const base = Deno.env.get("BPFPM_TOOLS_DIR") ??
    join(
      Deno.env.get("XDG_CACHE_HOME") ?? join(homedir(), ".cache"),
      "bpfpm-tools",
    );
  return join(base, "verdaccio", "node_modules", ".bin", "verdaccio");
}

/** A running Verdaccio with its own storage. */
export interface Verdaccio extends AsyncDisposable {
  url: string;
  token: string;
  dir: string;
}

/** Starts Verdaccio 5 on a free loopback port with a temp storage and one user. */
export async function startVerdaccio(): Promise<Verdaccio> {
  try {
    await Deno.stat(verdaccioBin());
  } catch (cause) {
    throw new Error(
      `Verdaccio is not installed at ${verdaccioBin()}: run bash tests/client/setup.sh`,
      { cause },
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-verdaccio-" });
  const port = freePort();
  await Deno.writeTextFile(
    join(dir, "config.yaml"),
    `storage: ${dir}/storage
auth:
  htpasswd:
    file: ${dir}/htpasswd
    max_users: 100
uplinks: {}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
  '**':
    access: $all
    publish: $authenticated
server:
  keepAliveTimeout: 60
max_body_size: 50mb
log: { type: stdout, format: pretty, level: error }
`,
  );
  const child = new Deno.Command(verdaccioBin(), {
    args: [
      "--config",
      join(dir, "config.yaml"),
      "--listen",
      `127.0.0.1:${port}`,
    ],
    stdout: "null",
    stderr: "null",
    env: { NODE_ENV: "production" },
  }).spawn();
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const r = await fetch(url + "-/ping");
      await r.body?.cancel();
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      await child.status;
      throw new Error(`Verdaccio did not start on ${url} within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await fetch(url + "-/user/org.couchdb.user:tester", {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      name: "tester",
      password: "tester-pass-1",
      type: "user",
      roles: [],
    }),
  });
  const token = (await r.json()).token as string;
  return {
    url,
    token,
    dir,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Publishes a package to an npm registry with a raw PUT (the npm publish document). */
export async function publishRaw(
  registry: string,
  token: string,
  pkg: Record<string, unknown> & { name: string; version: string },
  files: Record<string, string | Uint8Array> = {},
  tgz?: Uint8Array,
): Promise<{ integrity: string; tarball: Uint8Array }> {
  const list: PackFile[] = [{
    path: "package.json",
    data: JSON.stringify(pkg, null, 2),
  }];
  for (const [path, data] of Object.entries(files)) list.push({ path, data });
  const tarball = tgz ?? await createTarball(list);
  const pathName = pkg.name.startsWith("@")
    ? "@" + encodeURIComponent(pkg.name.slice(1))
    : pkg.name;
  const doc = publishDocument({ manifest: pkg, tarball, registry });
  const r = await fetch(registry + pathName, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(doc),
  });
  const text = await r.text();
  if (!r.ok) {
    throw new Error(
      `publish ${pkg.name}@${pkg.version} failed: ${r.status} ${text}`,
    );
  }
  return { integrity: integrityOf(tarball), tarball };
}

/** A temp project, cache and config dir, removed on dispose. */
export interface Sandbox extends AsyncDisposable {
  root: string;
  project: string;
  cache: string;
  config: string;
  env: Record<string, string>;
}

export async function sandbox(registry?: string): Promise<Sandbox> {
  const root = await Deno.makeTempDir({ prefix: "bpfpm-client-" });
  const project = join(root, "project");
  const cache = join(root, "cache");
  const config = join(root, "config");
  await Deno.mkdir(project);
  const env: Record<string, string> = {
    BPFPM_CACHE_DIR: cache,
    BPFPM_CONFIG_DIR: config,
  };
  if (registry) env.BPFPM_REGISTRY = registry;
  return {
    root,
    project,
    cache,
    config,
    env,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** The command line that starts this checkout's CLI (add the arguments after it). */
export const CLI_ARGV: readonly string[] = [Deno.execPath(), ...bpfpmCli()];

/** What a child process printed and how it ended. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with no stdin; `clearEnv` drops the inherited environment. */
export async function run(
  cmd: readonly string[],
  opts: { cwd?: string; env: Record<string, string>; clearEnv?: boolean },
): Promise<Output> {
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: opts.cwd,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** Runs the CLI as a child process. */
export function bpfpm(
  args: string[],
  opts: { cwd: string; env: Record<string, string> },
): Promise<Output> {
  return run([...CLI_ARGV, ...args], {
    cwd: opts.cwd,
    env: { ...opts.env, NO_COLOR: "1" },
  });
}

/** Reads a file tree into { relativePath: contents } (following the bpf_modules symlink). */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === ".bpfpm") continue;
      const st = await Deno.stat(p);
      if (st.isDirectory) await walk(p, r);
      else out[r] = await Deno.readTextFile(p);
    }
  };
  await walk(dir, "");
  return out;
}

/**
 * Runs a command on a pseudo-terminal (python's pty), answering each prompt when it shows
 * and returning everything the terminal showed: the answers the terminal echoed included.
 */
export async function onPty(
  argv: string[],
  answers: [prompt: string, answer: string][],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; screen: string }> {
  const driver = `
import json, os, pty, select, sys, time
argv, answers = json.loads(sys.argv[1]), json.loads(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
screen, pending, deadline = b"", list(answers), time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        screen += data
    if pending and pending[0][0].encode() in screen.split(b"\\n")[-1]:
        os.write(fd, (pending.pop(0)[1] + "\\r").encode())
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(screen)
sys.exit(os.waitstatus_to_exitcode(status))
`;
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", driver, JSON.stringify(argv), JSON.stringify(answers)],
    cwd,
    env: { ...env, TERM: "dumb", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    screen: new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr),
  };
}
