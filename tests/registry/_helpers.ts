/**
 * Shared helpers for the registry tests: accounts, publish documents, and the real npm
 * CLI run with a throwaway HOME and userconfig (nothing touches the real ~/.npmrc).
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createTarball } from "../../registry/pack/mod.ts";
import { publishDocument } from "../../registry/common/publish_document.ts";
import {
  keyidOf,
  signKeyProof,
} from "../../registry/common/publisher_signature.ts";

/** Creates an account (or logs in) over HTTP and returns its token. */
export async function signup(
  fetcher: (req: Request) => Promise<Response>,
  base: string,
  name: string,
  password = `${name}-secret-pw`,
): Promise<string> {
  const res = await fetcher(
    new Request(`${base}/-/user/org.couchdb.user:${name}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        _id: `org.couchdb.user:${name}`,
        name,
        password,
        email: `${name}@example.test`,
        type: "user",
        roles: [],
      }),
    }),
  );
  const body = await res.json();
  if (res.status !== 201) {
    throw new Error(`signup ${name}: ${res.status} ${JSON.stringify(body)}`);
  }
  return body.token;
}

/** A publish document as npm builds it, for `files` (paths relative to the package root). */
export async function publishDoc(
  pj: Record<string, unknown>,
  files: Record<string, string | Uint8Array> = {},
  opts: {
    tag?: string;
    tarball?: Uint8Array;
    docManifest?: Record<string, unknown>;
  } = {},
): Promise<Record<string, unknown>> {
  const tarball = opts.tarball ??
    await createTarball({ "package.json": JSON.stringify(pj), ...files });
  return publishDocument({
    manifest: pj,
    tarball,
    tag: opts.tag,
    versionManifest: opts.docManifest,
  });
}

/** A JSON request with an optional bearer token. */
export function req(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } =
    {},
): Request {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  return new Request(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

/** A throwaway npm environment: HOME, cache and a userconfig pointing at `registry`. */
export class NpmEnv {
  readonly dir: string;
  readonly registry: string;
  constructor(dir: string, registry: string) {
    this.dir = dir;
    this.registry = registry;
  }

  /** Makes the environment; `token` is written for the registry's host. */
  static async create(registry: string, token?: string): Promise<NpmEnv> {
    const dir = await Deno.makeTempDir({ prefix: "bpfpm-npm-" });
    const env = new NpmEnv(dir, registry);
    await Deno.mkdir(`${dir}/home`);
    await env.setToken(token);
    return env;
  }

  /** Rewrites the userconfig with `token`. */
  async setToken(token?: string): Promise<void> {
    const host = this.registry.replace(/^https?:/, "");
    await Deno.writeTextFile(
      `${this.dir}/npmrc`,
      [
        `registry=${this.registry}/`,
        token ? `${host}/:_authToken=${token}` : "",
        "audit=false",
        "fund=false",
        "update-notifier=false",
        "loglevel=error",
        `cache=${this.dir}/cache`,
      ].join("\n") + "\n",
    );
  }

  /** Runs npm; returns exit status and output. */
  async npm(
    args: string[],
    cwd: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: `${this.dir}/home`,
      npm_config_userconfig: `${this.dir}/npmrc`,
      npm_config_globalconfig: `${this.dir}/global-npmrc`,
      NO_UPDATE_NOTIFIER: "1",
    };
    const out = await new Deno.Command("npm", {
      args: [...args, "--registry", `${this.registry}/`],
      cwd,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  }

  /**
   * Runs the interactive `npm login` in a pseudo-terminal (`script`), answering its
   * prompts; npm tries web login first, gets 404, and falls back to the legacy flow.
   */
  async login(name: string, password: string): Promise<number> {
    const proc = new Deno.Command("script", {
      args: ["-qfc", `npm login --registry ${this.registry}/`, "/dev/null"],
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: `${this.dir}/home`,
        npm_config_userconfig: `${this.dir}/npmrc`,
        npm_config_globalconfig: `${this.dir}/global-npmrc`,
        TERM: "dumb",
      },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = proc.stdin.getWriter();
    const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    let seen = "";
    const answered = new Set<string>();
    try {
      for await (
        const chunk of proc.stdout.pipeThrough(new TextDecoderStream())
      ) {
        seen += chunk;
        for (
          const [prompt, answer] of [["Username:", name], [
            "Password:",
            password,
          ]]
        ) {
          if (seen.includes(prompt) && !answered.has(prompt)) {
            answered.add(prompt);
            await writer.write(new TextEncoder().encode(`${answer}\r`));
          }
        }
      }
      await proc.stderr.cancel();
      return (await proc.status).code;
    } finally {
      clearTimeout(timer);
      await writer.close().catch(() => {});
    }
  }

  /** Removes everything. */
  async remove(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

/** A fresh ed25519 publisher key, as `bpfpm publish` makes one. */
export function newPublisherKey(): {
  keyid: string;
  key: string;
  privateKey: KeyObject;
  publicKeyDer: Uint8Array;
} {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const der = publicKey.export({ format: "der", type: "spki" }) as Buffer;
  return {
    keyid: keyidOf(der),
    key: der.toString("base64"),
    privateKey,
    publicKeyDer: der,
  };
}

/** The body of `PUT /-/bpfpm/v1/keys/:keyid` for `user`. */
export function keyBody(
  k: { keyid: string; key: string; privateKey: KeyObject },
  user: string,
): Record<string, string> {
  return { keyid: k.keyid, key: k.key, proof: signKeyProof(k, user) };
}
