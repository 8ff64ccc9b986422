/**
 * `bpfpm registry serve`: runs the registry on `Deno.serve`. Also runs on its own:
 * `deno run -A registry/server/cli.ts serve --port 4873`. {@linkcode startRegistry}
 * starts one in-process (tests, demos) and returns its URL and a `close()`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { mkdirSync } from "node:fs";
import type { TarballLimits } from "../pack/mod.ts";
import { createRegistryHandler } from "./handler.ts";
import { connectPostgresStore, openSqliteStore } from "./sql_store.ts";
import { setFaultPoint } from "./_test_hooks.ts";
import type { Store } from "./store.ts";

/** Options of {@linkcode startRegistry}. */
export interface StartRegistryOptions {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Address to bind; 127.0.0.1 unless given. */
  host?: string;
  /** SQLite file (the default backend); `:memory:` keeps nothing. */
  db?: string;
  /** A `postgres://` URL: use PostgreSQL instead of SQLite. */
  database?: string;
  /** A store to use as is (it is closed with the server). */
  store?: Store;
  /** Users who are admins. Without any, the first user to sign up becomes admin. */
  admins?: string[];
  /** Whether anyone may sign up (default true). */
  signup?: boolean;
  /** The URL clients reach the server at, when it differs from the request's origin. */
  publicUrl?: string;
  /** Tarball caps. */
  limits?: Partial<TarballLimits>;
  /** Print nothing. */
  quiet?: boolean;
}

/** A running registry. */
export interface RunningRegistry {
  /** `http://host:port`, without a trailing slash. */
  url: string;
  /** The bound port. */
  port: number;
  /** The store in use. */
  store: Store;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Stops serving and closes the store. */
  close(): Promise<void>;
}

/** The SQLite file used when none is named. */
export function defaultDbPath(): string {
  return Deno.env.get("BPFPM_REGISTRY_DB") ??
    join(
      Deno.env.get("XDG_DATA_HOME") ?? join(homedir(), ".local", "share"),
      "bpfpm",
      "registry.db",
    );
}

/** Opens the store named by `db` / `database`. */
export async function openStore(
  opts: { db?: string; database?: string },
): Promise<Store> {
  if (opts.database) {
    return await connectPostgresStore(opts.database);
  }
  const path = opts.db ?? defaultDbPath();
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  return openSqliteStore(path);
}

/**
 * Starts a registry in this process.
 *
 * @param options Port, host and storage.
 * @returns The running server.
 *
 * @example
 * ```ts
 * import { startRegistry } from "./cli.ts";
 * const reg = await startRegistry({ port: 0, db: ":memory:" });
 * console.log(await (await fetch(`${reg.url}/-/ping`)).json());
 * await reg.close();
 * ```
 */
export async function startRegistry(
  options: StartRegistryOptions = {},
): Promise<RunningRegistry> {
  const store = options.store ?? await openStore(options);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    const handler = await createRegistryHandler({
      store,
      admins: options.admins,
      signup: options.signup,
      publicUrl: options.publicUrl,
      limits: options.limits,
    });
    const host = options.host ?? "127.0.0.1";
    server = Deno.serve({
      port: options.port ?? 0,
      hostname: host,
      onListen: () => {},
    }, (req, info) => handler(req, info as { remoteAddr: Deno.NetAddr }));
  } catch (e) {
    await store.close();
    throw e;
  }
  const addr = server.addr;
  const shown = addr.hostname.includes(":")
    ? `[${addr.hostname}]`
    : addr.hostname;
  const url = `http://${shown}:${addr.port}`;
  let closed: Promise<void> | undefined;
  return {
    url,
    port: addr.port,
    store,
    finished: server.finished,
    close() {
      closed ??= (async () => {
        await server.shutdown();
        await store.close();
      })();
      return closed;
    },
  };
}

const USAGE = `Usage: bpfpm registry serve [options]

Runs the npm-compatible probe registry.

Options:
  --port N            TCP port (default 4873)
  --host ADDR         address to bind (default 127.0.0.1)
  --db FILE           SQLite file (default $BPFPM_REGISTRY_DB or ~/.local/share/bpfpm/registry.db)
  --database URL      PostgreSQL instead: postgres://user@host:port/db
  --admin NAME        make NAME an admin (repeatable; without any, the first user to sign up is)
  --public-url URL    the URL clients use, when behind a proxy or load balancer
  --no-signup         only admins may create accounts`;

/**
 * Runs `bpfpm registry …`.
 *
 * @param args The arguments after `registry`.
 * @returns The exit code (after a signal stops the server, for `serve`).
 *
 * @example
 * ```ts
 * import { registryCommand } from "./cli.ts";
 * Deno.exit(await registryCommand(["serve", "--port", "4873"]));
 * ```
 */
export async function registryCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === "help" || sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return sub ? 0 : 2;
  }
  if (sub !== "serve") {
    console.error(
      `Unknown registry command ${
        JSON.stringify(sub)
      }: use bpfpm registry serve`,
    );
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        port: { type: "string", default: "4873" },
        host: { type: "string", default: "127.0.0.1" },
        db: { type: "string" },
        database: { type: "string" },
        admin: { type: "string", multiple: true },
        "public-url": { type: "string" },
        "no-signup": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.db && values.database) {
    console.error(
      "Give either --db FILE (SQLite) or --database URL (PostgreSQL), not both",
    );
    return 2;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port ${values.port}: use 0-65535`);
    return 2;
  }
  // Crash tests name a point to die at; nothing else sets it.
  setFaultPoint(Deno.env.get("BPFPM_REGISTRY_FAULT"));
  let reg: RunningRegistry;
  try {
    reg = await startRegistry({
      port,
      host: values.host,
      db: values.db,
      database: values.database,
      admins: values.admin,
      signup: !values["no-signup"],
      publicUrl: values["public-url"],
    });
  } catch (e) {
    if (e instanceof Deno.errors.AddrInUse) {
      console.error(
        `Port ${port} on ${values.host} is in use: pick another with --port`,
      );
    } else {
      console.error(`Cannot start the registry: ${(e as Error).message}`);
    }
    return 1;
  }
  const where = values.database
    ? "postgresql"
    : `sqlite ${values.db ?? defaultDbPath()}`;
  console.log(`bpfpm registry listening on ${reg.url} (${where})`);
  if (!values.admin?.length && (await reg.store.countUsers()) === 0) {
    console.log(
      "No users yet: the first account created becomes the admin (or use --admin NAME)",
    );
  }
  const stop = () => reg.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await reg.finished;
  await reg.close();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  return 0;
}

if (import.meta.main) Deno.exit(await registryCommand(Deno.args));
