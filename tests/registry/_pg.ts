/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temp dir, pg_ctl on a free
 * loopback port (as the postgres user when running as root), removed on stop.
 *
 * @module
 */
import { existsSync, readdirSync } from "node:fs";

/** A running throwaway cluster. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`. */
  url: string;
  /** Makes a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the cluster and deletes its files. */
  stop(): Promise<void>;
}

function pgBin(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const v = readdirSync(root).filter((d) =>
    existsSync(`${root}/${d}/bin/initdb`)
  ).sort().pop();
  return v ? `${root}/${v}/bin` : null;
}

/** Whether PostgreSQL server binaries are installed. */
export const hasPostgres = pgBin() !== null;

async function run(cmd: string[], asPostgres: boolean): Promise<string> {
  const argv = asPostgres ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd.join(" ")} failed: ${text}`);
  return text;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Starts a cluster. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = pgBin();
  if (!bin) {
    throw new Error("PostgreSQL is not installed: run tests/registry/setup.sh");
  }
  const root = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-pg-" });
  if (root) await run(["chown", "postgres:postgres", dir], false);
  await Deno.chmod(dir, 0o700);
  const data = `${dir}/data`;
  const port = freePort();
  try {
    await run([
      `${bin}/initdb`,
      "-D",
      data,
      "-A",
      "trust",
      "-U",
      "postgres",
      "--no-sync",
    ], root);
    await run([
      `${bin}/pg_ctl`,
      "-D",
      data,
      "-l",
      `${dir}/log`,
      "-w",
      "-t",
      "30",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      "start",
    ], root);
  } catch (e) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    async createDatabase(name: string) {
      await run([
        `${bin}/psql`,
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "-c",
        `CREATE DATABASE "${name}"`,
      ], false);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      try {
        await run([
          `${bin}/pg_ctl`,
          "-D",
          data,
          "-m",
          "immediate",
          "-w",
          "stop",
        ], root);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}
