/**
 * Talks to npm-compatible registries: abbreviated packuments with ETag revalidation
 * (cached on disk), tarballs through the content-addressed cache (sha512 checked before
 * anything is kept), registry keys, and authenticated JSON requests. Every failure is a
 * {@linkcode RegistryError} naming the registry and the fix.
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { DEFAULT_TARBALL_LIMITS, MAX_PACKUMENT_SIZE } from "../limits.ts";
import {
  type ClientConfig,
  DEFAULT_FETCH_TIMEOUT_MS,
  registryFor,
  tokenFor,
} from "./config.ts";
import { ContentCache } from "./cache.ts";
import { isObject, isStringMap, isVersion } from "./lockfile.ts";
import { RegistryError } from "../common/errors.ts";

/** One version in a packument (abbreviated or full). */
export interface VersionManifest {
  /** The package name. */
  name: string;
  /** The exact version. */
  version: string;
  /** Dependency ranges. */
  dependencies?: Record<string, string>;
  /** Optional dependency ranges. */
  optionalDependencies?: Record<string, string>;
  /** The deprecation message, if deprecated. */
  deprecated?: string;
  /** Where the tarball is and what it hashes to; the registry's signatures. */
  dist: {
    tarball: string;
    integrity?: string;
    shasum?: string;
    signatures?: { keyid: string; sig: string }[];
  };
  /** Any other field of the version's package.json. */
  [key: string]: unknown;
}

/** A package document: versions and dist-tags. */
export interface Packument {
  /** The package name. */
  name: string;
  /** Tags (`latest`, …) to versions. */
  "dist-tags": Record<string, string>;
  /** Every version's manifest. */
  versions: Record<string, VersionManifest>;
  /** Publish times (full documents only). */
  time?: Record<string, string>;
  /** Any other field of the document. */
  [key: string]: unknown;
}

/** One registry signing key from `/-/npm/v1/keys`. */
export interface RegistryKey {
  /** The id `dist.signatures` refer to. */
  keyid: string;
  /** `ecdsa-sha2-nistp256` (npm) or `ed25519`. */
  keytype: string;
  /** The signature scheme. */
  scheme: string;
  /** The public key, SPKI DER in base64. */
  key: string;
  /** When the key stopped signing, or null. */
  expires: string | null;
}

/** Options of a {@linkcode RegistryClient}. */
export interface RegistryClientOptions {
  /** Never touch the network: metadata and tarballs come from the cache only. */
  offline?: boolean;
  /** Use cached metadata without revalidating it. */
  preferOffline?: boolean;
  /**
   * How long a request may go without a byte, in milliseconds (default: the config's
   * `fetchTimeoutMs`).
   */
  timeoutMs?: number;
  /** Retries of an idempotent request (default: the config's `fetchRetries`). */
  retries?: number;
  /** Called after each tarball download with its byte count. */
  onDownload?: (bytes: number) => void;
}

const ABBREVIATED =
  "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/** Statuses whose responses never have a body (`new Response` refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A stall timer: aborts its signal once `ms` pass without `arm()` being called again (each
 * received piece re-arms it), so a slow but moving download is never cut off, and a
 * server that sends headers and then nothing is.
 */
class Stall {
  #ctl = new AbortController();
  #timer?: ReturnType<typeof setTimeout>;
  #ms: number;
  /** Whether the timer ran out. */
  fired = false;
  /** Aborted when the timer runs out or the caller's own signal aborts. */
  readonly signal: AbortSignal;

  constructor(ms: number, outer?: AbortSignal | null) {
    this.#ms = ms;
    this.signal = outer
      ? AbortSignal.any([outer, this.#ctl.signal])
      : this.#ctl.signal;
  }

  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#ctl.abort(new DOMException("No data", "TimeoutError"));
    }, this.#ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** How a response's body must be read: its stall timer, cap and error makers. */
interface Guard {
  stall: Stall;
  max: number;
  failure: (cause: unknown) => RegistryError;
  tooLarge: (max: number) => RegistryError;
}

/** The guard of each response {@linkcode RegistryClient.request} returned. */
const guards = new WeakMap<Response, Guard>();

/**
 * Reads a response's body into one buffer under its guard: the stall timer is re-armed
 * for each piece (a slow but moving download goes on, a silent one is cut off), and the
 * read stops past the cap (at once when Content-Length already says so), so a hostile
 * server can neither hold the client forever nor make it buffer more than the cap. Each
 * piece is copied as it comes: Deno hands out 8 KiB views of 64 KiB buffers, and a body
 * kept as views would hold eight times its size.
 */
async function readGuarded(res: Response, cap?: number): Promise<Uint8Array> {
  const g = guards.get(res);
  if (!res.body || NULL_BODY.has(res.status)) return new Uint8Array();
  const max = Math.min(cap ?? Infinity, g?.max ?? MAX_PACKUMENT_SIZE);
  const tooBig = () => g ? g.tooLarge(max) : new RangeError("Body too large");
  const length = Number(res.headers.get("content-length"));
  const identity =
    (res.headers.get("content-encoding") ?? "identity") === "identity";
  const reader = res.body.getReader();
  if (identity && length > max) {
    await reader.cancel().catch(() => {});
    throw tooBig();
  }
  let buf = new Uint8Array(
    Number.isSafeInteger(length) && length > 0 && length <= max
      ? length
      : 64 * 1024,
  );
  let n = 0;
  for (;;) {
    g?.stall.arm();
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch (cause) {
      throw g ? g.failure(cause) : cause;
    } finally {
      g?.stall.clear();
    }
    if (r.done) break;
    const piece = r.value;
    if (n + piece.length > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    if (n + piece.length > buf.length) {
      const next = new Uint8Array(
        Math.min(max, Math.max(buf.length * 2, n + piece.length)),
      );
      next.set(buf.subarray(0, n));
      buf = next;
    }
    buf.set(piece, n);
    n += piece.length;
  }
  return n === buf.length ? buf : buf.slice(0, n);
}

function tooLarge(url: string, what: string, max: number): RegistryError {
  return new RegistryError(
    0,
    `${what} from ${new URL(url).origin} is over the ${
      max / 1024 / 1024
    } MiB cap registries enforce; refused, nothing was stored (the registry or a proxy misbehaves: tell its operator)`,
    { code: "ETOOLARGE", url },
  );
}

/**
 * What makes a package document unusable, or undefined. Versions whose keys are not
 * semver are dropped, as npm ignores them.
 */
function packumentProblem(data: unknown): string | undefined {
  if (!isObject(data)) return "not a JSON object";
  const versions = data.versions;
  if (!isObject(versions)) return "versions is not an object";
  const tags = data["dist-tags"];
  if (tags !== undefined && !isObject(tags)) {
    return "dist-tags is not an object";
  }
  for (const [v, m] of Object.entries(versions)) {
    if (!isVersion(v)) {
      delete versions[v];
      continue;
    }
    if (!isObject(m)) return `version ${v} is not an object`;
    if (m.dependencies !== undefined && !isStringMap(m.dependencies)) {
      return `version ${v}'s dependencies are not an object of ranges`;
    }
  }
  return undefined;
}

/** The message of the innermost cause ("fetch failed" says less than its cause). */
function innermost(error: unknown): string {
  let e = error as Error | undefined;
  while (e?.cause instanceof Error) e = e.cause;
  return e?.message ?? String(error);
}

/** Waits before retry `attempt + 1`: 250 ms, 500 ms, 1 s, … up to 4 s, plus jitter. */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(250 * 2 ** attempt, 4000) + Math.random() * 100;
  return new Promise((r) => setTimeout(r, ms));
}

/** The error a retried GET gave up with, saying how many attempts were made. */
function withAttempts(e: unknown, attempt: number): unknown {
  if (!(e instanceof RegistryError) || attempt === 0) return e;
  const i = e.message.indexOf(";");
  const message = i < 0
    ? `${e.message} (after ${attempt + 1} attempts)`
    : `${e.message.slice(0, i)} (after ${attempt + 1} attempts)${
      e.message.slice(i)
    }`;
  return new RegistryError(e.status, message, {
    code: e.code,
    url: e.url,
    cause: e.cause,
  });
}

/**
 * The URL path of a package name: `@scope/name` → `@scope%2fname`.
 *
 * @example
 * ```ts
 * import { packagePath } from "./registry.ts";
 * packagePath("@acme/tool"); // "@acme%2Ftool"
 * ```
 */
export function packagePath(name: string): string {
  return name.startsWith("@")
    ? "@" + encodeURIComponent(name.slice(1))
    : encodeURIComponent(name);
}

/**
 * A registry client bound to one configuration (default and per-scope registries, tokens)
 * and one cache.
 *
 * @example Reading a package's versions
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { RegistryClient } from "./registry.ts";
 * const client = new RegistryClient(loadConfig());
 * const doc = await client.packument("tcplife");
 * console.log(Object.keys(doc.versions));
 * ```
 */
export class RegistryClient {
  #config: ClientConfig;
  #cache: ContentCache;
  #options: RegistryClientOptions;
  #memo = new Map<string, Promise<Packument>>();
  #keys = new Map<string, Promise<RegistryKey[] | null>>();

  /**
   * Creates a client.
   *
   * @param config the client configuration
   * @param options offline modes and a download observer
   */
  constructor(config: ClientConfig, options: RegistryClientOptions = {}) {
    this.#config = config;
    this.#cache = new ContentCache(config.cacheDir);
    this.#options = options;
  }

  /** The content cache in use. */
  get cache(): ContentCache {
    return this.#cache;
  }

  /** The configuration in use. */
  get config(): ClientConfig {
    return this.#config;
  }

  /**
   * Sends a request with the token bound to the URL's registry (if any) and maps network
   * failures and 401/403/404 to RegistryError. No more than the timeout may pass before
   * the headers. An idempotent request (GET, HEAD) whose connection fails is retried with
   * backoff. Read a body with {@linkcode RegistryClient.get} or
   * {@linkcode RegistryClient.json}: they re-arm the timeout for each piece and stop past
   * `maxBytes` (default: the packument cap); the Response's own readers do neither.
   */
  async request(
    url: string,
    init: RequestInit & {
      what?: string;
      allow?: number[];
      maxBytes?: number;
      retries?: number;
    } = {},
    redirects = 0,
  ): Promise<Response> {
    if (this.#options.offline) {
      throw new RegistryError(
        0,
        `Offline mode: ${url} is not in the cache; run without --offline`,
        { code: "EOFFLINE", url },
      );
    }
    const headers = new Headers(init.headers);
    const token = tokenFor(this.#config, url);
    if (token && !headers.has("authorization")) {
      headers.set("authorization", `Bearer ${token}`);
    }
    headers.set("user-agent", "bpfpm/0.1.0");
    const protocol = new URL(url).protocol;
    if (protocol !== "http:" && protocol !== "https:") {
      throw new RegistryError(
        0,
        `Refusing to fetch ${url}: registries and tarballs must be http or https URLs`,
        { code: "EHTTP", url },
      );
    }
    const method = (init.method ?? "GET").toUpperCase();
    const what = init.what ?? url;
    const retries = method === "GET" || method === "HEAD"
      ? init.retries ?? this.#retries
      : 0;
    let res: Response | undefined;
    for (let attempt = 0; !res; attempt++) {
      const stall = new Stall(this.#timeoutMs, init.signal);
      try {
        stall.arm();
        res = await fetch(url, {
          ...init,
          headers,
          // Redirects are followed here, so each hop gets only its own registry's token.
          redirect: "manual",
          signal: stall.signal,
        });
        stall.clear();
      } catch (cause) {
        stall.clear();
        const err = this.#failure(url, what, cause, stall.fired, attempt);
        if (attempt < retries && init.signal?.aborted !== true) {
          await backoff(attempt);
          continue;
        }
        throw err;
      }
      guards.set(res, {
        stall,
        max: init.maxBytes ?? MAX_PACKUMENT_SIZE,
        failure: (cause) => this.#failure(url, what, cause, stall.fired, 0),
        tooLarge: (max) => tooLarge(url, what, max),
      });
    }
    const location = res.headers.get("location");
    if (
      res.status >= 300 && res.status < 400 && res.status !== 304 && location
    ) {
      await res.body?.cancel();
      if (redirects >= 5) {
        throw new RegistryError(
          res.status,
          `Too many redirects from ${url}; check the registry URL`,
          { code: "EHTTP", url },
        );
      }
      const next = new URL(location, url).href;
      const nextInit = { ...init, headers: new Headers(init.headers) };
      nextInit.headers.delete("authorization");
      return await this.request(next, nextInit, redirects + 1);
    }
    if (res.ok || res.status === 304 || init.allow?.includes(res.status)) {
      return res;
    }
    const detail = new TextDecoder().decode(
      await readGuarded(res, 64 * 1024).catch(() => new Uint8Array()),
    );
    let reason = "";
    try {
      const j = JSON.parse(detail);
      reason = j.error ?? j.reason ?? j.message ?? "";
    } catch {
      reason = detail.slice(0, 200);
    }
    reason = String(reason).split("\n")[0];
    const origin = new URL(url).origin;
    const suffix = reason ? ` (${reason})` : "";
    if (res.status === 404) {
      throw new RegistryError(
        404,
        `${what} was not found at ${origin}${suffix}; check the name and the registry configured for its scope`,
        { code: "E404", url },
      );
    }
    if (res.status === 401) {
      throw new RegistryError(
        401,
        `${origin} needs authentication for ${what}${suffix}; run bpfpm login --registry ${origin}/`,
        { code: "EAUTH", url },
      );
    }
    if (res.status === 403) {
      throw new RegistryError(
        403,
        `${origin} refused ${what}: forbidden${suffix}; check that your account may do this`,
        { code: "EFORBIDDEN", url },
      );
    }
    throw new RegistryError(
      res.status,
      `${origin} answered ${res.status} for ${what}${suffix}${
        res.status >= 500 ? "; the registry failed, retry later" : ""
      }`,
      { code: "EHTTP", url },
    );
  }

  /**
   * GETs `url` and reads its whole body under the stall timeout and `maxBytes`, retrying
   * with backoff when the connection fails, stalls (headers or body) or the registry
   * answers 5xx or 429.
   */
  async get(
    url: string,
    init: {
      headers?: HeadersInit;
      what?: string;
      allow?: number[];
      maxBytes?: number;
    } = {},
  ): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
    for (let attempt = 0;; attempt++) {
      try {
        const res = await this.request(url, { ...init, retries: 0 });
        return {
          status: res.status,
          headers: res.headers,
          body: await readGuarded(res),
        };
      } catch (e) {
        if (!(e instanceof RegistryError) || attempt >= this.#retries) {
          throw withAttempts(e, attempt);
        }
        const again = e.code === "EUNREACHABLE" || e.code === "ETIMEOUT" ||
          (e.code === "EHTTP" && (e.status >= 500 || e.status === 429));
        if (!again) throw e;
        await backoff(attempt);
      }
    }
  }

  get #timeoutMs(): number {
    return this.#options.timeoutMs ?? this.#config.fetchTimeoutMs ??
      DEFAULT_FETCH_TIMEOUT_MS;
  }

  get #retries(): number {
    return this.#options.retries ?? this.#config.fetchRetries ?? 0;
  }

  /** The RegistryError for a failed fetch or body read. */
  #failure(
    url: string,
    what: string,
    cause: unknown,
    timedOut: boolean,
    attempt: number,
  ): RegistryError {
    if (cause instanceof RegistryError) return cause;
    const origin = new URL(url).origin;
    const tries = attempt ? ` (after ${attempt + 1} attempts)` : "";
    if (timedOut) {
      return new RegistryError(
        0,
        `${origin} stalled: no data for ${
          this.#timeoutMs / 1000
        } s while fetching ${what}${tries}; retry later, or raise the limit with --fetch-timeout, BPFPM_FETCH_TIMEOUT or fetch-timeout in .bpfpmrc`,
        { code: "ETIMEOUT", url, cause },
      );
    }
    return new RegistryError(
      0,
      `Cannot reach the registry at ${origin}${tries} (${
        String(innermost(cause)).split("\n")[0]
      }); check that it runs, or set --registry or BPFPM_REGISTRY`,
      { code: "EUNREACHABLE", url, cause },
    );
  }

  #metaPath(url: string, abbreviated: boolean): string {
    const h = createHash("sha256").update(`${abbreviated ? "a" : "f"}:${url}`)
      .digest("hex");
    return join(this.#config.cacheDir, "meta", h.slice(0, 2), h + ".json");
  }

  /**
   * The packument of a package, abbreviated unless `full`; revalidated with ETag against
   * the on-disk metadata cache, memoized per client.
   */
  packument(name: string, full = false): Promise<Packument> {
    if (typeof name !== "string" || !name) {
      throw new TypeError("Package name must be a non-empty string");
    }
    const key = `${full}:${name}`;
    let p = this.#memo.get(key);
    if (!p) {
      p = this.#fetchPackument(name, full);
      this.#memo.set(key, p);
      p.catch(() => this.#memo.delete(key));
    }
    return p;
  }

  async #fetchPackument(name: string, full: boolean): Promise<Packument> {
    const url = registryFor(this.#config, name) + packagePath(name);
    const metaPath = this.#metaPath(url, !full);
    let cached: { etag?: string; data: Packument } | undefined;
    if (existsSync(metaPath)) {
      try {
        cached = JSON.parse(readFileSync(metaPath, "utf8"));
      } catch {
        cached = undefined;
      }
    }
    if (cached && (this.#options.offline || this.#options.preferOffline)) {
      return cached.data;
    }
    if (this.#options.offline) {
      throw new RegistryError(
        0,
        `Offline mode: no cached metadata for ${name}; run once online first`,
        { code: "EOFFLINE", url },
      );
    }
    const headers: Record<string, string> = {
      accept: full ? "application/json" : ABBREVIATED,
    };
    if (cached?.etag) headers["if-none-match"] = cached.etag;
    const res = await this.get(url, {
      headers,
      what: `Package ${name}`,
      maxBytes: MAX_PACKUMENT_SIZE,
    });
    if (res.status === 304 && cached) return cached.data;
    const text = new TextDecoder().decode(res.body);
    let data: Packument;
    try {
      data = JSON.parse(text);
    } catch (cause) {
      throw new RegistryError(
        res.status,
        `${new URL(url).origin} sent invalid JSON for ${name}`,
        { code: "EHTTP", url, cause },
      );
    }
    const problem = packumentProblem(data);
    if (problem) {
      throw new RegistryError(
        res.status,
        `${
          new URL(url).origin
        } sent a malformed document for ${name}: ${problem}; the registry misbehaves, tell its operator`,
        { code: "EHTTP", url },
      );
    }
    const etag = res.headers.get("etag") ?? undefined;
    mkdirSync(dirname(metaPath), { recursive: true });
    const tmp = `${metaPath}.${Deno.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ etag, data }));
    renameSync(tmp, metaPath);
    return data;
  }

  /**
   * The tarball bytes for `spec` at `url`, from the cache or downloaded; the sha512 is
   * checked against `integrity` before anything is stored (IntegrityError otherwise).
   */
  async tarball(
    url: string,
    integrity: string,
    spec: string,
  ): Promise<Uint8Array> {
    const hit = await this.#cache.get(integrity);
    if (hit) return hit;
    if (this.#options.offline) {
      throw new RegistryError(
        0,
        `Offline mode: ${spec} is not in the cache; run once online first`,
        { code: "EOFFLINE", url },
      );
    }
    const { body: bytes } = await this.get(url, {
      what: `Tarball of ${spec}`,
      maxBytes: DEFAULT_TARBALL_LIMITS.maxCompressedSize,
    });
    await this.#cache.put(bytes, { integrity, spec });
    this.#options.onDownload?.(bytes.length);
    return bytes;
  }

  /** The signing keys of a registry (`/-/npm/v1/keys`), or null when it has none. */
  registryKeys(registry: string): Promise<RegistryKey[] | null> {
    let p = this.#keys.get(registry);
    if (!p) {
      p = (async () => {
        const res = await this.get(registry + "-/npm/v1/keys", {
          allow: [404],
          what: "Registry keys",
        });
        if (res.status === 404) return null;
        let j;
        try {
          j = JSON.parse(new TextDecoder().decode(res.body));
        } catch (cause) {
          throw new RegistryError(
            res.status,
            `${registry} sent invalid JSON for its signing keys; the registry misbehaves, tell its operator`,
            { code: "EHTTP", url: registry + "-/npm/v1/keys", cause },
          );
        }
        return Array.isArray(j?.keys) ? j.keys as RegistryKey[] : null;
      })();
      this.#keys.set(registry, p);
    }
    return p;
  }

  /** Sends a JSON request to `path` under `registry` and returns the parsed answer. */
  async json<T = Record<string, unknown>>(
    registry: string,
    path: string,
    init: RequestInit & { what?: string; allow?: number[] } = {},
  ): Promise<{ status: number; body: T }> {
    const headers = new Headers(init.headers);
    if (init.body !== undefined) {
      headers.set("content-type", "application/json");
    }
    headers.set("accept", "application/json");
    const res = await this.request(registry + path.replace(/^\//, ""), {
      ...init,
      headers,
    });
    const text = new TextDecoder().decode(await readGuarded(res));
    let body: T;
    try {
      body = (text ? JSON.parse(text) : {}) as T;
    } catch {
      body = { raw: text } as T;
    }
    return { status: res.status, body };
  }
}
