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
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

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
}

/** Overrides from the command line. */
export interface ConfigOptions {
  /** The project directory (default: the current directory). */
  cwd?: string;
  /** `--registry`. */
  registry?: string;
  /** The environment (default: `Deno.env.toObject()`). */
  env?: Record<string, string>;
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

/**
 * Parses npmrc-style text into key/value pairs (comments `#`/`;`, `${ENV}` expanded).
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
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (/^".*"$/.test(value)) value = value.slice(1, -1);
    out.set(key, expand(value, env));
  }
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
  return join(
    env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config"),
    "bpfpm",
  );
}

/**
 * The cache directory: `BPFPM_CACHE_DIR`, `$XDG_CACHE_HOME/bpfpm` or ~/.cache/bpfpm.
 *
 * @example
 * ```ts
 * import { userCacheDir } from "./config.ts";
 * userCacheDir({ BPFPM_CACHE_DIR: "/tmp/c" }); // "/tmp/c"
 * ```
 */
export function userCacheDir(env: Record<string, string>): string {
  if (env.BPFPM_CACHE_DIR) return env.BPFPM_CACHE_DIR;
  return join(
    env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"),
    "bpfpm",
  );
}

function readRc(
  path: string,
  env: Record<string, string>,
): Map<string, string> {
  if (!existsSync(path)) return new Map();
  return parseRc(readFileSync(path, "utf8"), env);
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
  const merged = new Map<string, string>();
  for (const [k, v] of readRc(join(configDir, "bpfpmrc"), env)) {
    merged.set(k, v);
  }
  for (const [k, v] of readRc(join(projectDir, ".bpfpmrc"), env)) {
    merged.set(k, v);
  }
  const scopes = new Map<string, string>();
  const tokens = new Map<string, string>();
  for (const [k, v] of merged) {
    const scope = /^(@[a-z0-9][a-z0-9._-]*):registry$/i.exec(k);
    if (scope) scopes.set(scope[1].toLowerCase(), normalizeRegistry(v));
    const tok = /^(\/\/.+\/):_authToken$/.exec(k);
    if (tok) tokens.set(tok[1], v);
  }
  const registry = normalizeRegistry(
    options.registry ?? env.BPFPM_REGISTRY ?? merged.get("registry") ??
      DEFAULT_REGISTRY,
  );
  return {
    registry,
    scopes,
    tokens,
    cacheDir: userCacheDir(env),
    configDir,
    projectDir,
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
  mkdirSync(config.configDir, { recursive: true, mode: 0o700 });
  const path = join(config.configDir, "bpfpmrc");
  const lines = existsSync(path) ? readFileSync(path, "utf8").split("\n") : [];
  const kept = lines.filter((l) =>
    l.trim() && l.slice(0, l.indexOf("=")).trim() !== key
  );
  if (value !== undefined) kept.push(`${key}=${value}`);
  const tmp = `${path}.${Deno.pid}.tmp`;
  writeFileSync(tmp, kept.join("\n") + "\n", { mode: 0o600 });
  renameSync(tmp, path);
  if (value === undefined) {
    config.tokens.delete(key.replace(/:_authToken$/, ""));
  } else if (key.endsWith(":_authToken")) {
    config.tokens.set(key.replace(/:_authToken$/, ""), value);
  }
}
