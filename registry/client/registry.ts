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
import { type ClientConfig, registryFor, tokenFor } from "./config.ts";
import { ContentCache } from "./cache.ts";
import { RegistryError } from "./errors.ts";

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
  /** Per-request timeout in milliseconds (default 120 000). */
  timeoutMs?: number;
  /** Called after each tarball download with its byte count. */
  onDownload?: (bytes: number) => void;
}

const ABBREVIATED =
  "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

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
   * failures and 401/403/404 to RegistryError.
   */
  async request(
    url: string,
    init: RequestInit & { what?: string; allow?: number[] } = {},
    redirects = 0,
  ): Promise<Response> {
    if (this.#options.offline) {
      throw new RegistryError(
        "EOFFLINE",
        url,
        0,
        `Offline mode: ${url} is not in the cache; run without --offline`,
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
        "EHTTP",
        url,
        0,
        `Refusing to fetch ${url}: registries and tarballs must be http or https URLs`,
      );
    }
    const method = (init.method ?? "GET").toUpperCase();
    const timeoutMs = this.#options.timeoutMs ?? 120_000;
    let res: Response | undefined;
    // Idempotent requests are retried once after a network failure (a reset connection).
    for (let attempt = 0; !res; attempt++) {
      try {
        res = await fetch(url, {
          ...init,
          headers,
          // Redirects are followed here, so each hop gets only its own registry's token.
          redirect: "manual",
          signal: init.signal ?? AbortSignal.timeout(timeoutMs),
        });
      } catch (cause) {
        const timedOut = (cause as Error).name === "TimeoutError";
        if (
          !timedOut && attempt === 0 && (method === "GET" || method === "HEAD")
        ) {
          await new Promise((r) => setTimeout(r, 150));
          continue;
        }
        const origin = new URL(url).origin;
        throw new RegistryError(
          "EUNREACHABLE",
          url,
          0,
          timedOut
            ? `The registry at ${origin} did not answer within ${
              timeoutMs / 1000
            } s; check it, or retry`
            : `Cannot reach the registry at ${origin} (${
              (cause as Error).message.split("\n")[0]
            }); check that it runs, or set --registry or BPFPM_REGISTRY`,
          { cause },
        );
      }
    }
    const location = res.headers.get("location");
    if (
      res.status >= 300 && res.status < 400 && res.status !== 304 && location
    ) {
      await res.body?.cancel();
      if (redirects >= 5) {
        throw new RegistryError(
          "EHTTP",
          url,
          res.status,
          `Too many redirects from ${url}; check the registry URL`,
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
    const detail = await res.text().catch(() => "");
    let reason = "";
    try {
      const j = JSON.parse(detail);
      reason = j.error ?? j.reason ?? j.message ?? "";
    } catch {
      reason = detail.slice(0, 200);
    }
    const what = init.what ?? url;
    const origin = new URL(url).origin;
    const suffix = reason ? ` (${reason})` : "";
    if (res.status === 404) {
      throw new RegistryError(
        "E404",
        url,
        404,
        `${what} was not found at ${origin}${suffix}; check the name and the registry configured for its scope`,
      );
    }
    if (res.status === 401) {
      throw new RegistryError(
        "EAUTH",
        url,
        401,
        `${origin} needs authentication for ${what}${suffix}; run bpfpm login --registry ${origin}/`,
      );
    }
    if (res.status === 403) {
      throw new RegistryError(
        "EFORBIDDEN",
        url,
        403,
        `${origin} refused ${what}: forbidden${suffix}; check that your account may do this`,
      );
    }
    throw new RegistryError(
      "EHTTP",
      url,
      res.status,
      `${origin} answered ${res.status} for ${what}${suffix}`,
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
        "EOFFLINE",
        url,
        0,
        `Offline mode: no cached metadata for ${name}; run once online first`,
      );
    }
    const headers: Record<string, string> = {
      accept: full ? "application/json" : ABBREVIATED,
    };
    if (cached?.etag) headers["if-none-match"] = cached.etag;
    const res = await this.request(url, { headers, what: `Package ${name}` });
    if (res.status === 304 && cached) {
      await res.body?.cancel();
      return cached.data;
    }
    const text = await res.text();
    let data: Packument;
    try {
      data = JSON.parse(text);
    } catch (cause) {
      throw new RegistryError(
        "EHTTP",
        url,
        res.status,
        `${new URL(url).origin} sent invalid JSON for ${name}`,
        { cause },
      );
    }
    if (!data.versions || typeof data.versions !== "object") {
      throw new RegistryError(
        "EHTTP",
        url,
        res.status,
        `${new URL(url).origin} sent a document without versions for ${name}`,
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
    const hit = this.#cache.get(integrity);
    if (hit) return hit;
    if (this.#options.offline) {
      throw new RegistryError(
        "EOFFLINE",
        url,
        0,
        `Offline mode: ${spec} is not in the cache; run once online first`,
      );
    }
    const res = await this.request(url, { what: `Tarball of ${spec}` });
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.#cache.put(bytes, { integrity, spec });
    this.#options.onDownload?.(bytes.length);
    return bytes;
  }

  /** The signing keys of a registry (`/-/npm/v1/keys`), or null when it has none. */
  registryKeys(registry: string): Promise<RegistryKey[] | null> {
    let p = this.#keys.get(registry);
    if (!p) {
      p = (async () => {
        const res = await this.request(registry + "-/npm/v1/keys", {
          allow: [404],
          what: "Registry keys",
        });
        if (res.status === 404) {
          await res.body?.cancel();
          return null;
        }
        const j = await res.json();
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
    const text = await res.text();
    let body: T;
    try {
      body = (text ? JSON.parse(text) : {}) as T;
    } catch {
      body = { raw: text } as T;
    }
    return { status: res.status, body };
  }
}
