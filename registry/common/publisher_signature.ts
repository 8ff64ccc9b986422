/**
 * Publisher signatures, bpfpm's own: the publisher's ed25519 key signs the package's
 * name, version and every file's sha512; the signature travels inside the tarball as
 * {@linkcode SIGNATURE_FILE}, so any npm-compatible registry carries it unchanged. The
 * registry verifies it at publish (and checks key registrations with
 * {@linkcode keyProblem}); the client signs at publish and verifies before install.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createHash,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import type { TarballEntry } from "../pack/mod.ts";
import { SignatureError } from "./errors.ts";
import { stableStringify } from "./stable_json.ts";

/** The file in a package that carries its publisher signature. */
export const SIGNATURE_FILE = "bpfpm-signature.json";

/** The content of {@linkcode SIGNATURE_FILE}. */
export interface PublisherSignature {
  /** Format version. */
  version: 1;
  /** `ed25519:<sha256 hex prefix of the public key>`. */
  keyid: string;
  /** The public key, SPKI DER in base64. */
  publicKey: string;
  /** Base64 ed25519 signature over the canonical payload. */
  sig: string;
}

/**
 * The key id of an ed25519 public key (SPKI DER).
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { keyidOf } from "./publisher_signature.ts";
 * const { publicKey } = generateKeyPairSync("ed25519");
 * keyidOf(publicKey.export({ format: "der", type: "spki" })); // "ed25519:…"
 * ```
 */
export function keyidOf(publicKeyDer: Uint8Array): string {
  return "ed25519:" +
    createHash("sha256").update(publicKeyDer).digest("hex").slice(0, 32);
}

function keyProofPayload(keyid: string, user: string): Buffer {
  return Buffer.from(`bpfpm publisher key ${keyid} belongs to ${user}`);
}

/**
 * Proves that `user` holds the private half of a publisher key: the signature a registry
 * asks for when the key is registered (`PUT /-/bpfpm/v1/keys/:keyid`), bound to the user
 * name so that nobody can register a key found in someone else's tarball.
 *
 * @returns a base64 ed25519 signature
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { signKeyProof } from "./publisher_signature.ts";
 * const { privateKey } = generateKeyPairSync("ed25519");
 * const proof = signKeyProof({ keyid: "ed25519:…", privateKey }, "alice");
 * ```
 */
export function signKeyProof(
  key: { keyid: string; privateKey: KeyObject },
  user: string,
): string {
  return sign(null, keyProofPayload(key.keyid, user), key.privateKey)
    .toString("base64");
}

/**
 * Checks a publisher key as a registry receives it: an ed25519 SPKI key (base64) whose
 * fingerprint is `keyid`, and, when `proof` is given, a {@linkcode signKeyProof} by it for
 * `user`. Returns why it is refused, or null when it is sound.
 *
 * @example
 * ```ts
 * import { keyProblem } from "./publisher_signature.ts";
 * keyProblem("ed25519:00", "bm90IGEga2V5", "alice", undefined); // "… is not an ed25519 public key …"
 * ```
 */
export function keyProblem(
  keyid: string,
  key: string,
  user: string,
  proof: string | undefined,
): string | null {
  let pub: KeyObject;
  const der = Buffer.from(key, "base64");
  try {
    pub = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    return "The key is not an SPKI public key in base64";
  }
  if (pub.asymmetricKeyType !== "ed25519") {
    return `The key is ${pub.asymmetricKeyType}, not ed25519: publisher keys are ed25519`;
  }
  const fingerprint = keyidOf(der);
  if (fingerprint !== keyid) {
    return `The key id ${keyid} does not match the key, whose id is ${fingerprint}`;
  }
  if (
    proof !== undefined &&
    !verify(
      null,
      keyProofPayload(keyid, user),
      pub,
      Buffer.from(proof, "base64"),
    )
  ) {
    return `The proof does not verify: it must be the key's signature of "bpfpm publisher key ${keyid} belongs to ${user}"`;
  }
  return null;
}

function payload(
  name: string,
  version: string,
  files: { path: string; data: Uint8Array }[],
): Buffer {
  const digests: Record<string, string> = {};
  for (const f of files) {
    if (f.path === SIGNATURE_FILE) continue;
    digests[f.path] = createHash("sha512").update(f.data).digest("base64");
  }
  return Buffer.from(stableStringify({ name, version, files: digests }));
}

/**
 * Signs a package's files with the publisher key.
 *
 * @param files paths relative to the package root, with their bytes
 * @returns the JSON text of {@linkcode SIGNATURE_FILE}
 *
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * import { keyidOf, signPackage } from "./publisher_signature.ts";
 * const { privateKey, publicKey } = generateKeyPairSync("ed25519");
 * const publicKeyDer = publicKey.export({ format: "der", type: "spki" });
 * const key = { keyid: keyidOf(publicKeyDer), privateKey, publicKeyDer };
 * const text = signPackage("x", "1.0.0", [{ path: "package.json", data: new Uint8Array() }], key);
 * ```
 */
export function signPackage(
  name: string,
  version: string,
  files: { path: string; data: Uint8Array }[],
  key: { keyid: string; privateKey: KeyObject; publicKeyDer: Uint8Array },
): string {
  const sig = sign(null, payload(name, version, files), key.privateKey)
    .toString("base64");
  const doc: PublisherSignature = {
    version: 1,
    keyid: key.keyid,
    publicKey: Buffer.from(key.publicKeyDer).toString("base64"),
    sig,
  };
  return stableStringify(doc);
}

/**
 * Checks the publisher signature inside a tarball's entries. Returns the key id when the
 * package is signed and the signature covers exactly its files, undefined when unsigned,
 * and throws a SignatureError when the signature is malformed or does not verify.
 *
 * @example
 * ```ts
 * import { inspectTarball } from "../pack/mod.ts";
 * import { verifyPublisherSignature } from "./publisher_signature.ts";
 * const { entries } = await inspectTarball(await Deno.readFile("x.tgz"));
 * console.log(verifyPublisherSignature("x", "1.0.0", entries) ?? "unsigned");
 * ```
 */
export function verifyPublisherSignature(
  name: string,
  version: string,
  entries: TarballEntry[],
): string | undefined {
  const spec = `${name}@${version}`;
  const files = entries.filter((e) => e.type === "file").map((e) => ({
    path: e.path.replace(/^package\//, ""),
    data: e.data ?? new Uint8Array(),
  }));
  const sigFile = files.find((f) => f.path === SIGNATURE_FILE);
  if (!sigFile) return undefined;
  let doc: PublisherSignature;
  let pub: KeyObject;
  try {
    doc = JSON.parse(new TextDecoder().decode(sigFile.data));
    pub = createPublicKey({
      key: Buffer.from(doc.publicKey, "base64"),
      format: "der",
      type: "spki",
    });
  } catch (cause) {
    throw new SignatureError(
      spec,
      "publisher",
      `The publisher signature of ${spec} is malformed (${
        (cause as Error).message
      }); do not install it`,
    );
  }
  if (
    pub.asymmetricKeyType !== "ed25519" ||
    keyidOf(Buffer.from(doc.publicKey, "base64")) !== doc.keyid
  ) {
    throw new SignatureError(
      spec,
      "publisher",
      `The publisher key of ${spec} is not an ed25519 key matching its key id; do not install it`,
    );
  }
  if (
    !verify(
      null,
      payload(name, version, files),
      pub,
      Buffer.from(doc.sig, "base64"),
    )
  ) {
    throw new SignatureError(
      spec,
      "publisher",
      `The publisher signature of ${spec} does not match its files (key ${doc.keyid}); the package was altered after signing, do not install it`,
    );
  }
  return doc.keyid;
}
