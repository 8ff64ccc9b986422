/**
 * Signatures on the client's side. Registry signatures are npm's: an ECDSA P-256 (or
 * ed25519) signature over `${name}@${version}:${integrity}` in `dist.signatures`,
 * checked against the keys at `/-/npm/v1/keys`. Publisher signatures (signing and
 * verifying: `../common/publisher_signature.ts`) use the user's key in the config dir,
 * made here, and the keys the user trusts.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  verify,
} from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { SignatureError } from "../common/errors.ts";
import { keyidOf } from "../common/publisher_signature.ts";
import type { RegistryKey, VersionManifest } from "./registry.ts";

/**
 * Checks a version's registry signature against the registry's keys. Returns `"unsigned"`
 * when the registry publishes no keys (Verdaccio), `"verified"` on success, and throws a
 * SignatureError when a key exists but the signature is missing, unknown or wrong.
 *
 * @example
 * ```ts
 * import { verifyRegistrySignature } from "./signatures.ts";
 * // verifyRegistrySignature(manifest, keys) → "verified"
 * ```
 */
export function verifyRegistrySignature(
  m: Pick<VersionManifest, "name" | "version" | "dist">,
  keys: RegistryKey[] | null,
  integrity = m.dist.integrity ?? "",
): "verified" | "unsigned" {
  const spec = `${m.name}@${m.version}`;
  if (!keys || keys.length === 0) return "unsigned";
  const sigs = m.dist.signatures ?? [];
  if (sigs.length === 0) {
    throw new SignatureError(
      spec,
      "registry",
      `${spec} has no registry signature although the registry signs packages; it may have been tampered with, do not install it`,
    );
  }
  const data = Buffer.from(`${m.name}@${m.version}:${integrity}`);
  for (const s of sigs) {
    const key = keys.find((k) => k.keyid === s.keyid);
    if (!key) continue;
    // An expired key still vouches for what it signed before it expired, and abbreviated
    // metadata does not say when that was, so expiry is not checked (as npm's client).
    const pub = createPublicKey({
      key: Buffer.from(key.key, "base64"),
      format: "der",
      type: "spki",
    });
    const algo = pub.asymmetricKeyType === "ed25519" ? null : "sha256";
    if (verify(algo, data, pub, Buffer.from(s.sig, "base64"))) {
      return "verified";
    }
    throw new SignatureError(
      spec,
      "registry",
      `The registry signature of ${spec} does not verify with key ${s.keyid}; the metadata or tarball was altered, do not install it`,
    );
  }
  throw new SignatureError(
    spec,
    "registry",
    `${spec} is signed only by keys the registry does not publish (${
      sigs.map((s) => s.keyid).join(", ")
    }); do not install it`,
  );
}

/**
 * The publisher key pair of a user, created on first use in `configDir`.
 *
 * @example
 * ```ts
 * import { publisherKey } from "./signatures.ts";
 * console.log(publisherKey("/tmp/bpfpm-config")?.keyid);
 * ```
 */
export function publisherKey(
  configDir: string,
  create = true,
): { keyid: string; privateKey: KeyObject; publicKeyDer: Buffer } | undefined {
  const path = join(configDir, "publisher_ed25519.pem");
  if (!existsSync(path)) {
    if (!create) return undefined;
    mkdirSync(configDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ed25519");
    const tmp = `${path}.${Deno.pid}.tmp`;
    writeFileSync(
      tmp,
      privateKey.export({ format: "pem", type: "pkcs8" }) as string,
      { mode: 0o600 },
    );
    renameSync(tmp, path);
  }
  const privateKey = createPrivateKey(readFileSync(path, "utf8"));
  const publicKeyDer = createPublicKey(privateKey).export({
    format: "der",
    type: "spki",
  }) as Buffer;
  return { keyid: keyidOf(publicKeyDer), privateKey, publicKeyDer };
}

/**
 * Public keys the user trusts, from `trusted_keys` in the config dir (one key id a line).
 *
 * @example
 * ```ts
 * import { trustedKeys } from "./signatures.ts";
 * trustedKeys("/tmp/bpfpm-config").has("ed25519:…");
 * ```
 */
export function trustedKeys(configDir: string): Set<string> {
  const path = join(configDir, "trusted_keys");
  if (!existsSync(path)) return new Set();
  return new Set(
    readFileSync(path, "utf8").split("\n").map((l) => l.trim()).filter((l) =>
      l && !l.startsWith("#")
    ),
  );
}

/**
 * Adds key ids to (or, with `remove`, drops them from) `trusted_keys`, atomically.
 *
 * @returns the trusted key ids afterwards, sorted
 *
 * @example
 * ```ts
 * import { setTrustedKeys } from "./signatures.ts";
 * setTrustedKeys("/tmp/bpfpm-config", ["ed25519:0123456789abcdef0123456789abcdef"]);
 * ```
 */
export function setTrustedKeys(
  configDir: string,
  keyids: string[],
  remove = false,
): string[] {
  for (const k of keyids) {
    if (!/^ed25519:[0-9a-f]{32}$/.test(k)) {
      throw new TypeError(
        `${
          JSON.stringify(k)
        } is not a publisher key id; they look like ed25519: and 32 hex digits (bpfpm publish prints them)`,
      );
    }
  }
  const keys = trustedKeys(configDir);
  for (const k of keyids) remove ? keys.delete(k) : keys.add(k);
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const path = join(configDir, "trusted_keys");
  const tmp = `${path}.${Deno.pid}.tmp`;
  const sorted = [...keys].sort();
  writeFileSync(tmp, sorted.map((k) => k + "\n").join(""), { mode: 0o600 });
  renameSync(tmp, path);
  return sorted;
}
