/**
 * `deno task seed --registry URL`: publishes every probe package under `probes/` to a
 * registry, as a seed user it signs up (or logs in as) when no token for that registry is
 * saved. A version the registry already has is skipped, so seeding twice is harmless.
 *
 * ```sh
 * deno task seed --registry http://127.0.0.1:4873/ [--user seed] [--password …] [--only tcplife]
 * ```
 *
 * The password comes from `--password`, else `BPFPM_SEED_PASSWORD`, else a fixed local
 * default (meant for a registry on loopback). The token is saved where `bpfpm login` saves
 * it (`$BPFPM_CONFIG_DIR`, default `~/.config/bpfpm`).
 *
 * @module
 */
import { existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  adduser,
  type ClientConfig,
  type ClientError,
  loadConfig,
  login,
  publish,
  RegistryError,
  tokenFor,
  whoami,
} from "../registry/client/mod.ts";
import { Ui } from "../registry/client/ui.ts";

/** The probes directory of this repository. */
export const PROBES_DIR: string = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "probes",
);

/** Options of {@linkcode seed}. */
export interface SeedOptions {
  /** The registry URL. */
  registry: string;
  /** The seed user (default `seed`). */
  user?: string;
  /** Its password. */
  password?: string;
  /** Only these probe names (default: every package under `probes/`). */
  only?: string[];
  /** The environment the client reads (`BPFPM_CONFIG_DIR`, `BPFPM_CACHE_DIR`, …). */
  env?: Record<string, string>;
  /** Print nothing but errors. */
  quiet?: boolean;
}

/** What a seed run did, per probe. */
export interface SeedResult {
  /** Published now, `name@version`. */
  published: string[];
  /** Already in the registry, `name@version`. */
  skipped: string[];
}

/**
 * The probe package directories under `probes/` (those with a package.json), sorted.
 *
 * @example
 * ```ts
 * import { probeDirs } from "./seed.ts";
 * console.log(probeDirs().length);
 * ```
 */
export function probeDirs(root = PROBES_DIR): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((e) =>
      e.isDirectory() && !e.name.startsWith("_") &&
      existsSync(join(root, e.name, "package.json"))
    )
    .map((e) => join(root, e.name))
    .sort();
}

/** A Ui that prints nothing: publish's per-file summary is not what seeding shows. */
class SilentUi extends Ui {
  /** Warnings, each said once by the seed run. */
  static warned = new Set<string>();
  constructor() {
    super({ quiet: true, tty: false });
  }
  override out(): void {}
  override warn(line: string): void {
    // The same registry-wide warning comes with every package: say it once.
    const general = line.replace(/ed25519:[0-9a-f]+/, "<key>");
    if (SilentUi.warned.has(general)) return;
    SilentUi.warned.add(general);
    super.warn(line);
  }
}

/** Whether the registry already serves `name@version` (the packument lists it). */
async function hasVersion(
  registry: string,
  name: string,
  version: string,
): Promise<boolean> {
  const base = registry.endsWith("/") ? registry : `${registry}/`;
  const r = await fetch(new URL(encodeURIComponent(name), base), {
    headers: { accept: "application/json" },
  });
  if (r.status === 404) {
    await r.body?.cancel();
    return false;
  }
  if (!r.ok) {
    await r.body?.cancel();
    throw new RegistryError(
      r.status,
      `${registry} answered ${r.status} for the packument of ${name}: check the registry URL`,
      { code: "EHTTP", url: registry },
    );
  }
  const doc = await r.json() as { versions?: Record<string, unknown> };
  return Boolean(doc.versions?.[version]);
}

async function ensureLogin(
  config: ClientConfig,
  env: Record<string, string>,
  user: string,
  password: string,
): Promise<ClientConfig> {
  if (tokenFor(config, config.registry)) {
    try {
      await whoami(config);
      return config;
    } catch { /* stale token: log in again */ }
  }
  await login(config, user, password).catch((e) => {
    if ((e as ClientError).code !== "ENOUSER") throw e;
    return adduser(config, user, password);
  });
  // The token was written to the user rc: read the configuration again.
  return loadConfig({ registry: config.registry, env });
}

/**
 * Publishes the probes to `options.registry`, logging in first when needed.
 *
 * @returns what was published and what the registry already had
 *
 * @example
 * ```ts
 * import { seed } from "./seed.ts";
 * const r = await seed({ registry: "http://127.0.0.1:4873/", only: ["tcplife"] });
 * console.log(r.published);
 * ```
 */
export async function seed(options: SeedOptions): Promise<SeedResult> {
  if (typeof options?.registry !== "string" || !options.registry) {
    throw new TypeError("seed needs a registry URL: --registry URL");
  }
  const env = options.env ?? Deno.env.toObject();
  const ui = new Ui({ quiet: options.quiet });
  let config = loadConfig({ registry: options.registry, env });
  config = await ensureLogin(
    config,
    env,
    options.user ?? "seed",
    options.password ?? env.BPFPM_SEED_PASSWORD ?? "seed-password-local",
  );
  const dirs = probeDirs().filter((d) =>
    !options.only?.length || options.only.some((n) => d.endsWith(`/${n}`))
  );
  if (options.only?.length && dirs.length !== options.only.length) {
    throw new RangeError(
      `No probe package named ${
        options.only.filter((n) => !dirs.some((d) => d.endsWith(`/${n}`)))
          .join(", ")
      } under ${PROBES_DIR}: use one of ${
        probeDirs().map((d) => d.split("/").pop()).join(", ")
      }`,
    );
  }
  const result: SeedResult = { published: [], skipped: [] };
  for (const dir of dirs) {
    const pj = JSON.parse(Deno.readTextFileSync(join(dir, "package.json")));
    const spec = `${pj.name}@${pj.version}`;
    if (await hasVersion(config.registry, pj.name, pj.version)) {
      result.skipped.push(spec);
      ui.info(`skipped ${spec} (already published)`);
      continue;
    }
    const t0 = performance.now();
    await publish(config, dir, { ui: new SilentUi() });
    result.published.push(spec);
    ui.info(
      `published ${spec} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  }
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      registry: { type: "string" },
      user: { type: "string" },
      password: { type: "string" },
      only: { type: "string", multiple: true },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values.registry) {
    console.log(
      "usage: deno task seed --registry URL [--user seed] [--password P] [--only NAME]... [--quiet]",
    );
    Deno.exit(values.help ? 0 : 2);
  }
  try {
    const r = await seed({
      registry: values.registry,
      user: values.user,
      password: values.password,
      only: values.only,
      quiet: values.quiet,
    });
    console.log(
      `seeded ${values.registry}: ${r.published.length} published, ${r.skipped.length} already there`,
    );
  } catch (e) {
    console.error(`seed: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
