/**
 * A small npm-protocol server on 127.0.0.1 for the cases a real registry will not produce:
 * tampered tarballs, hostile tarballs, bad registry signatures, slow downloads, and request
 * logs for scope routing.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createHash,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from "node:crypto";

export interface FakeVersion {
  name: string;
  version: string;
  /** The bytes served. */
  tarball: Uint8Array;
  dependencies?: Record<string, string>;
  /** Integrity announced (default: that of `tarball`). */
  integrity?: string;
  /** Registry signature: default signed with the server key when it has one. */
  signature?: "omit" | "wrong";
  /** Where the tarball is said to live (default: this server). */
  tarballBase?: string;
}

export interface LoggedRequest {
  /** 304 when answered from the client's ETag. */
  status?: number;
  method: string;
  path: string;
  auth: string | null;
}

export interface FakeRegistry extends AsyncDisposable {
  url: string;
  requests: LoggedRequest[];
  keyid?: string;
  /** Resolves when the first tarball request arrives. */
  tarballRequested: Promise<void>;
}

export function sha512(bytes: Uint8Array): string {
  return "sha512-" + createHash("sha512").update(bytes).digest("base64");
}

export function fakeRegistry(
  versions: FakeVersion[],
  options: {
    signed?: boolean;
    tarballDelayMs?: number;
    distTags?: Record<string, Record<string, string>>;
    /**
     * Publisher key ids registered at `/-/bpfpm/v1/keys/:keyid`, all to the user
     * `publisher`, whom every packument lists as its maintainer.
     */
    vouchedKeys?: string[];
    /** Answer tarball requests with a 302 to the same path on this base URL. */
    redirectTarballsTo?: string;
  } = {},
): Promise<FakeRegistry> {
  const requests: LoggedRequest[] = [];
  let key: { priv: KeyObject; der: string; keyid: string } | undefined;
  if (options.signed) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", {
      namedCurve: "P-256",
    });
    const der = (publicKey.export({ format: "der", type: "spki" }) as Buffer)
      .toString("base64");
    key = {
      priv: privateKey,
      der,
      keyid: "SHA256:" + createHash("sha256").update(der).digest("base64"),
    };
  }
  let notify!: () => void;
  const tarballRequested = new Promise<void>((r) => (notify = r));
  let url = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      const u = new URL(req.url);
      const path = decodeURIComponent(u.pathname);
      requests.push({
        method: req.method,
        path,
        auth: req.headers.get("authorization"),
      });
      if (path.startsWith("/-/bpfpm/v1/keys/")) {
        const keyid = path.slice("/-/bpfpm/v1/keys/".length);
        return options.vouchedKeys?.includes(keyid)
          ? Response.json({ keyid, user: "publisher" })
          : Response.json({ error: "unknown key" }, { status: 404 });
      }
      if (path === "/-/npm/v1/keys") {
        if (!key) return new Response("{}", { status: 404 });
        return Response.json({
          keys: [{
            expires: null,
            keyid: key.keyid,
            keytype: "ecdsa-sha2-nistp256",
            scheme: "ecdsa-sha2-nistp256",
            key: key.der,
          }],
        });
      }
      const tar = /^\/tarballs\/(.+)\/([^/]+)\.tgz$/.exec(path);
      if (tar && options.redirectTarballsTo) {
        return new Response(null, {
          status: 302,
          headers: {
            location: options.redirectTarballsTo + u.pathname.slice(1),
          },
        });
      }
      if (tar) {
        const v = versions.find((x) =>
          x.name === tar[1] && x.version === tar[2]
        );
        if (!v) return new Response("not found", { status: 404 });
        notify();
        if (!options.tarballDelayMs) {
          return new Response(
            v.tarball as Uint8Array<ArrayBuffer>,
          );
        }
        const delay = options.tarballDelayMs;
        const bytes = v.tarball;
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          async pull(c) {
            await new Promise((r) => setTimeout(r, delay));
            if (sent >= bytes.length) return c.close();
            c.enqueue(bytes.subarray(sent, sent + 16));
            sent += 16;
          },
        });
        return new Response(body, {
          headers: { "content-length": String(bytes.length) },
        });
      }
      const name = path.slice(1);
      const list = versions.filter((x) => x.name === name);
      if (!list.length) {
        return Response.json({ error: "not found" }, {
          status: 404,
        });
      }
      const doc = {
        name,
        maintainers: [{ name: "publisher", email: "" }],
        "dist-tags": {
          latest: list[list.length - 1].version,
          ...options.distTags?.[name],
        },
        versions: Object.fromEntries(list.map((v) => {
          const integrity = v.integrity ?? sha512(v.tarball);
          const signatures = key && v.signature !== "omit"
            ? [{
              keyid: key.keyid,
              sig: sign(
                "sha256",
                Buffer.from(
                  `${v.name}@${
                    v.signature === "wrong" ? "9.9.9" : v.version
                  }:${integrity}`,
                ),
                key.priv,
              ).toString("base64"),
            }]
            : undefined;
          return [v.version, {
            name: v.name,
            version: v.version,
            dependencies: v.dependencies,
            dist: {
              tarball: `${
                v.tarballBase ?? url
              }tarballs/${v.name}/${v.version}.tgz`,
              integrity,
              signatures,
            },
          }];
        })),
      };
      const text = JSON.stringify(doc);
      const etag = `"${
        createHash("sha256").update(text).digest("hex").slice(0, 16)
      }"`;
      if (req.headers.get("if-none-match") === etag) {
        requests[requests.length - 1].status = 304;
        return new Response(null, { status: 304, headers: { etag } });
      }
      return new Response(text, {
        headers: { "content-type": "application/json", etag },
      });
    },
  );
  url = `http://127.0.0.1:${server.addr.port}/`;
  return Promise.resolve({
    url,
    requests,
    keyid: key?.keyid,
    tarballRequested,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  });
}
