/**
 * Client configuration: flags, `BPFPM_REGISTRY`, the project's `.bpfpmrc` and the user's
 * `bpfpmrc`, in that precedence. The rc format is npmrc's: `registry=URL`,
 * `@scope:registry=URL`, `//host:port/path/:_authToken=TOKEN`, `${ENV}` expansion.
 *
 * A token is sent only to URLs under the registry path it was written for, so a scope's
 * token never leaks to another registry, and tarballs hosted elsewhere get no token.
 *
 * @module
 */
import { join } from "../../runtime/_path.ts";
import { cacheDir, homeDir } from "../../runtime/cache_dir.ts";
import { exists } from "../../runtime/_fs.ts";
import { ConfigError } from "./errors.ts";

/** The registry used when nothing configures one: `bpfpm registry serve`'s default. */
export const DEFAULT_REGISTRY = "http://127.0.0.1:4873/";

/** Resolved client configuration. */
export interface ClientConfig {
  /** The default registry, with a trailing slash. */
  registry: string;
  /** Registries by scope (`@acme` → URL with trailing slash). */
  scopes: Map<string, string>;
  /** Tokens by nerf-dart (`//host:port/path/`). */
  tokens: Map<string, string>;
  /** Content-addressed cache directory. */
  cacheDir: string;
  /** User config directory (rc file, publisher key). */
  configDir: string;
  /** The project directory. */
  projectDir: string;
  /**
   * How long a request may go without receiving a byte (headers, or the next piece of a
   * body) before it is abandoned, in milliseconds.
   */
  fetchTimeoutMs: number;
  /** How many times an idempotent request (GET) is retried after a failure. */
  fetchRetries: number;
}

/**
 * The default stall timeout: 30 s without a byte.
 *
 * @example
 * ```ts
 * import { DEFAULT_FETCH_TIMEOUT_MS, loadConfig } from "./config.ts";
 * loadConfig({ env: {} }).fetchTimeoutMs === DEFAULT_FETCH_TIMEOUT_MS; // true
 * ```
 */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

/**
 * The default number of retries of a GET (npm's `fetch-retries` default).
 *
 * @example
 * ```ts
 * import { DEFAULT_FETCH_RETRIES, loadConfig } from "./config.ts";
 * loadConfig({ env: { BPFPM_FETCH_RETRIES: "0" } }).fetchRetries < DEFAULT_FETCH_RETRIES; // true
 * ```
 */
export const DEFAULT_FETCH_RETRIES = 2;

/** Overrides from the command line. */
export interface ConfigOptions {
  /** The project directory (default: the current directory). */
  cwd?: string;
  /** `--registry`. */
  registry?: string;
  /** The environment (default: `Deno.env.toObject()`). */
  env?: Record<string, string>;
  /** `--fetch-timeout`: milliseconds, or a number with `ms`, `s` or `m`. */
  fetchTimeout?: string;
}

/**
 * Adds the trailing slash registry URLs need for joining.
 *
 * @example
 * ```ts
 * import { normalizeRegistry } from "./config.ts";
 * normalizeRegistry("http://127.0.0.1:4873"); // "http://127.0.0.1:4873/"
 * ```
 */
export function normalizeRegistry(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (cause) {
    throw new TypeError(
      `Registry URL ${
        JSON.stringify(url)
      } is not a URL; use http(s)://host:port/`,
      {
        cause,
      },
    );
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`Registry URL ${url} must be http or https`);
  }
  return u.href.endsWith("/") ? u.href : u.href + "/";
}

/**
 * The nerf-dart of a URL: `//host:port/path/` without protocol, query or file part,
 * the key npmrc uses for per-registry credentials.
 *
 * @example
 * ```ts
 * import { nerfDart } from "./config.ts";
 * nerfDart("http://127.0.0.1:4873/tcplife"); // "//127.0.0.1:4873/"
 * ```
 */
export function nerfDart(url: string): string {
  const u = new URL(url);
  const path = u.pathname.endsWith("/")
    ? u.pathname
    : u.pathname.replace(/[^/]*$/, "");
  return `//${u.host}${path}`;
}

function expand(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, k) => env[k] ?? "");
}

/** One rc setting and where it was written (`file:line`), for error messages. */
interface RcValue {
  value: string;
  where: string;
}

/**
 * Parses rc text, remembering each key's line. A line that is neither blank, a comment
 * nor `key=value` is an error naming the file and line: a half-edited rc file must not
 * silently send requests to the default registry.
 */
function parseRcAt(
  text: string,
  env: Record<string, string>,
  file: string,
): Map<string, RcValue> {
  const out = new Map<string, RcValue>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    const where = `${file}:${i + 1}`;
    if (eq <= 0) {
      throw new ConfigError(
        `${where}: ${
          JSON.stringify(line.slice(0, 60))
        } is not key=value; fix or delete that line`,
      );
    }
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (/^".*"$/.test(value)) value = value.slice(1, -1);
    out.set(key, { value: expand(value, env), where });
  }
  return out;
}

/**
 * Parses npmrc-style text into key/value pairs (comments `#`/`;`, `${ENV}` expanded).
 * A line that is not `key=value` throws a {@linkcode ConfigError}.
 *
 * @example
 * ```ts
 * import { parseRc } from "./config.ts";
 * parseRc("registry=http://r/\n//r/:_authToken=${T}", { T: "t" }).get("//r/:_authToken"); // "t"
 * ```
 */
export function parseRc(
  text: string,
  env: Record<string, string> = {},
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of parseRcAt(text, env, "rc")) out.set(k, v.value);
  return out;
}

/**
 * The user config directory: `BPFPM_CONFIG_DIR`, `$XDG_CONFIG_HOME/bpfpm` or ~/.config/bpfpm.
 *
 * @example
 * ```ts
 * import { userConfigDir } from "./config.ts";
 * userConfigDir({ HOME: "/home/me" }); // "/home/me/.config/bpfpm"
 * ```
 */
export function userConfigDir(env: Record<string, string>): string {
  if (env.BPFPM_CONFIG_DIR) return env.BPFPM_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "bpfpm");
  const home = env.HOME || homeDir();
  if (!home) {
    throw new ConfigError(
      "Cannot place the bpfpm config: HOME is not set and this user has no home directory in /etc/passwd; set BPFPM_CONFIG_DIR or XDG_CONFIG_HOME",
    );
  }
  return join(home, ".config", "bpfpm");
}

/**
 * The cache directory: `BPFPM_CACHE_DIR`, `$XDG_CACHE_HOME/bpfpm`, ~/.cache/bpfpm, or without
 * HOME /var/cache/bpfpm for root (the runtime's rule: runtime/cache_dir.ts).
 *
 * @example
 * ```ts
 * import { userCacheDir } from "./config.ts";
 * userCacheDir({ BPFPM_CACHE_DIR: "/tmp/c" }); // "/tmp/c"
 * ```
 */
export function userCacheDir(env: Record<string, string>): string {
  return cacheDir((name) => env[name]);
}

function readRc(
  path: string,
  env: Record<string, string>,
): Map<string, RcValue> {
  if (!exists(path)) return new Map();
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (cause) {
    throw new ConfigError(
      `Cannot read the rc file ${path} (${
        (cause as Error).message.split("\n")[0]
      }); make it a readable file or remove it`,
      { cause },
    );
  }
  return parseRcAt(text, env, path);
}

/** A registry URL from a named source, or a ConfigError naming that source. */
function registryFrom(value: string, source: string): string {
  try {
    return normalizeRegistry(value);
  } catch (cause) {
    throw new ConfigError(
      `${source}${
        JSON.stringify(value)
      } is not an http(s) URL; use http(s)://host:port/`,
      { cause },
    );
  }
}

/**
 * Reads a duration in milliseconds: a bare number is milliseconds (as npm's
 * `fetch-timeout`), or a number with `ms`, `s` or `m`; at least 1 ms.
 */
function durationFrom(value: string, source: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  const ms = m
    ? Number(m[1]) * (m[2] === "m" ? 60_000 : m[2] === "s" ? 1000 : 1)
    : NaN;
  if (!(ms >= 1) || !Number.isFinite(ms)) {
    throw new ConfigError(
      `${source}${
        JSON.stringify(value)
      } is not a duration; use milliseconds (30000) or a number with s or m (30s)`,
    );
  }
  return Math.round(ms);
}

/** A count from 0 to 10, or a ConfigError naming its source. */
function retriesFrom(value: string, source: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 10)) {
    throw new ConfigError(
      `${source}${
        JSON.stringify(value)
      } is not a retry count; use a whole number from 0 to 10`,
    );
  }
  return n;
}

/**
 * Loads the configuration: flags over `BPFPM_REGISTRY` over the project's `.bpfpmrc`
 * over the user's `bpfpmrc`.
 *
 * @param options overrides
 * @returns the resolved configuration
 *
 * @example Scoped registries
 * ```ts
 * import { loadConfig, registryFor } from "./config.ts";
 * const config = loadConfig({ cwd: Deno.cwd(), registry: "http://127.0.0.1:4873/" });
 * console.log(registryFor(config, "@acme/tool"));
 * ```
 */
export function loadConfig(options: ConfigOptions = {}): ClientConfig {
  const env = options.env ?? Deno.env.toObject();
  const projectDir = options.cwd ?? Deno.cwd();
  const configDir = userConfigDir(env);
  const merged = new Map<string, RcValue>();
  for (const [k, v] of readRc(join(configDir, "bpfpmrc"), env)) {
    merged.set(k, v);
  }
  for (const [k, v] of readRc(join(projectDir, ".bpfpmrc"), env)) {
    merged.set(k, v);
  }
  const scopes = new Map<string, string>();
  const tokens = new Map<string, string>();
  for (const [k, { value, where }] of merged) {
    const scope = /^(@[a-z0-9][a-z0-9._-]*):registry$/i.exec(k);
    if (scope) {
      scopes.set(
        scope[1].toLowerCase(),
        registryFrom(value, `${where}: ${k}=`),
      );
    }
    const tok = /^(\/\/.+\/):_authToken$/.exec(k);
    if (tok) tokens.set(tok[1], value);
  }
  // The first source that sets a value wins; each is named if its value is wrong.
  const pick = (
    flag: string | undefined,
    flagName: string,
    envName: string,
    rcKey: string,
  ) => {
    if (flag !== undefined) return { value: flag, source: flagName };
    if (env[envName] !== undefined) {
      return { value: env[envName], source: `${envName}=` };
    }
    const rc = merged.get(rcKey);
    if (rc) return { value: rc.value, source: `${rc.where}: ${rcKey}=` };
    return undefined;
  };
  const reg = pick(
    options.registry,
    "--registry ",
    "BPFPM_REGISTRY",
    "registry",
  );
  const timeout = pick(
    options.fetchTimeout,
    "--fetch-timeout ",
    "BPFPM_FETCH_TIMEOUT",
    "fetch-timeout",
  );
  const retries = pick(
    undefined,
    "",
    "BPFPM_FETCH_RETRIES",
    "fetch-retries",
  );
  return {
    registry: reg ? registryFrom(reg.value, reg.source) : DEFAULT_REGISTRY,
    scopes,
    tokens,
    cacheDir: userCacheDir(env),
    configDir,
    projectDir,
    fetchTimeoutMs: timeout
      ? durationFrom(timeout.value, timeout.source)
      : DEFAULT_FETCH_TIMEOUT_MS,
    fetchRetries: retries
      ? retriesFrom(retries.value, retries.source)
      : DEFAULT_FETCH_RETRIES,
  };
}

/**
 * The registry serving a package: its scope's registry if configured, else the default.
 *
 * @example
 * ```ts
 * import { loadConfig, registryFor } from "./config.ts";
 * console.log(registryFor(loadConfig(), "tcplife"));
 * ```
 */
export function registryFor(config: ClientConfig, name: string): string {
  if (name.startsWith("@")) {
    const scope = name.slice(0, name.indexOf("/")).toLowerCase();
    const url = config.scopes.get(scope);
    if (url) return url;
  }
  return config.registry;
}

/**
 * The token to send with a request to `url`: the one whose nerf-dart is the longest
 * prefix of the URL's own, or none. Tokens are bound to host, port and path, so a token
 * for one registry is never sent to another.
 *
 * @example
 * ```ts
 * import { loadConfig, tokenFor } from "./config.ts";
 * console.log(tokenFor(loadConfig(), "http://127.0.0.1:4873/tcplife") ?? "anonymous");
 * ```
 */
export function tokenFor(
  config: ClientConfig,
  url: string,
): string | undefined {
  const dart = nerfDart(url);
  let best: string | undefined;
  let bestLen = -1;
  for (const [key, token] of config.tokens) {
    if (dart.startsWith(key) && key.length > bestLen) {
      best = token;
      bestLen = key.length;
    }
  }
  return best;
}

/**
 * Writes (or, with `undefined`, removes) one key of the user rc file, atomically.
 *
 * @example Saving a token after login
 * ```ts
 * import { loadConfig, nerfDart, setUserRc } from "./config.ts";
 * const config = loadConfig();
 * setUserRc(config, `${nerfDart(config.registry)}:_authToken`, "secret");
 * ```
 */
export function setUserRc(
  config: ClientConfig,
  key: string,
  value: string | undefined,
): void {
  Deno.mkdirSync(config.configDir, { recursive: true, mode: 0o700 });
  const path = join(config.configDir, "bpfpmrc");
  const lines = exists(path) ? Deno.readTextFileSync(path).split("\n") : [];
  const kept = lines.filter((l) =>
    l.trim() && l.slice(0, l.indexOf("=")).trim() !== key
  );
  if (value !== undefined) kept.push(`${key}=${value}`);
  const tmp = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(tmp, kept.join("\n") + "\n", { mode: 0o600 });
  Deno.renameSync(tmp, path);
  if (value === undefined) {
    config.tokens.delete(key.replace(/:_authToken$/, ""));
  } else if (key.endsWith(":_authToken")) {
    config.tokens.set(key.replace(/:_authToken$/, ""), value);
  }
}
