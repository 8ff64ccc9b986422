/**
 * Checks a publish document (npm's `PUT /:pkg` body) and prepares the version to
 * store. Everything slow (base64, gunzip, tar checks, hashes) happens here, before the
 * transaction. The served manifest is built from the tarball's own package.json, and a
 * document whose dependencies, scripts, bin or `bpf` disagree with it is refused
 * (manifest confusion).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import semver from "semver";
import { validateBpfManifest } from "../manifest.ts";
import {
  inspectTarball,
  TarballError,
  type TarballLimits,
} from "../pack/mod.ts";
import { integrityOf, shasumOf } from "../common/digests.ts";
import { RegistryError, SignatureError } from "../common/errors.ts";
import {
  packageNameProblem,
  tarballFilename,
  unscopedName,
} from "../common/names.ts";
import { verifyPublisherSignature } from "../common/publisher_signature.ts";
import { BASE } from "./_docs.ts";

/** How deep JSON from a request or a tarball may nest; manifests need far less. */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuses JSON nested deeper than {@linkcode MAX_JSON_DEPTH} (checked without recursion),
 * before anything walks it recursively.
 *
 * @param value Parsed JSON.
 * @param what What it is, for the message.
 * @throws {RegistryError} A 400 naming the limit.
 */
export function checkJsonDepth(value: unknown, what: string): void {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      throw new RegistryError(
        400,
        `${what} is nested more than ${MAX_JSON_DEPTH} levels deep: flatten it`,
      );
    }
    for (const x of Object.values(v)) stack.push([x, depth + 1]);
  }
}

/**
 * A deep copy of parsed JSON whose objects are null-prototype, so a user-named key such
 * as `constructor` or `__proto__` is only ever an own property. Call it after
 * {@linkcode checkJsonDepth}: it recurses.
 */
export function ownKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ownKeysDeep);
  if (typeof value !== "object" || value === null) return value;
  const out = Object.create(null);
  for (const [k, v] of Object.entries(value)) out[k] = ownKeysDeep(v);
  return out;
}

/**
 * Parses JSON from a request: refuses nesting past {@linkcode MAX_JSON_DEPTH}, and
 * returns null-prototype objects ({@linkcode ownKeysDeep}).
 *
 * @param text The JSON text.
 * @param what What it is, for messages.
 * @throws {RegistryError} A 400 for invalid or too deeply nested JSON.
 */
export function parseJson(text: string, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RegistryError(400, `${what} is not valid JSON`);
  }
  checkJsonDepth(value, what);
  return ownKeysDeep(value);
}

/** A null-prototype copy of `record`: lookups by a user-named key see own keys only. */
export function ownRecord<T>(
  record: Record<string, T> = {},
): Record<string, T> {
  return Object.assign(Object.create(null), record);
}

/** Checks a dist-tag name. */
export function tagProblem(tag: string): string | null {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(tag)) {
    return `dist-tag ${
      JSON.stringify(tag)
    } must be letters, digits, '.', '_' or '-'`;
  }
  if (looksLikeRange(tag)) {
    return `dist-tag ${JSON.stringify(tag)} looks like a version range`;
  }
  return null;
}

/**
 * `semver.validRange`, remembered per tag (a few names, asked at every publish): a
 * name that is not a range costs semver a thrown error, ~0.5 ms. Bounded.
 */
function looksLikeRange(tag: string): boolean {
  let known = rangeTags.get(tag);
  if (known === undefined) {
    if (rangeTags.size >= 1024) rangeTags.clear();
    rangeTags.set(tag, known = semver.validRange(tag) !== null);
  }
  return known;
}
const rangeTags = new Map<string, boolean>();

/** npm's bin normalisation: a string becomes `{ name: path }`, paths lose `./`. */
export function normalizeBin(
  name: string,
  bin: unknown,
): Record<string, string> | undefined {
  if (bin === undefined || bin === null) return undefined;
  const raw: Record<string, unknown> = typeof bin === "string"
    ? { [unscopedName(name)]: bin }
    : bin as Record<string, unknown>;
  if (typeof raw !== "object" || Array.isArray(raw)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") continue;
    const key = k.split(/[\\/]/).pop()!.replace(/^\.+/, "");
    const path = v.replace(/\\/g, "/").split("/").filter((p) => p && p !== ".")
      .join("/");
    if (key && path && !path.split("/").includes("..")) out[key] = path;
  }
  return out;
}

function canonical(v: unknown): string {
  if (v === undefined || v === null) return "null";
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).filter((
      [, x],
    ) => x !== undefined);
    if (!entries.length) return "null";
    return `{${
      entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) =>
        `${JSON.stringify(k)}:${canonical(x)}`
      ).join(",")
    }}`;
  }
  return JSON.stringify(v);
}

const INSTALL_SCRIPTS = ["preinstall", "install", "postinstall"];

/**
 * The install-time scripts; like npm, a package with `binding.gyp` and no install or
 * preinstall script gets `node-gyp rebuild` (npm adds it to the publish document).
 */
function installScripts(
  pj: Record<string, unknown>,
  gyp: boolean,
): Record<string, unknown> {
  const scripts = (pj.scripts ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const s of INSTALL_SCRIPTS) {
    if (scripts[s] !== undefined) out[s] = scripts[s];
  }
  if (gyp && out.install === undefined && out.preinstall === undefined) {
    out.install = "node-gyp rebuild";
  }
  return out;
}

/** Fields that must agree between the publish document and the tarball's package.json. */
const CHECKED_FIELDS: [
  string,
  (pj: Record<string, unknown>, name: string, gyp: boolean) => unknown,
][] = [
  ["name", (pj) => pj.name],
  ["version", (pj) => pj.version],
  ["dependencies", (pj) => pj.dependencies],
  ["optionalDependencies", (pj) => pj.optionalDependencies],
  ["peerDependencies", (pj) => pj.peerDependencies],
  [
    "bundleDependencies",
    (pj) => pj.bundleDependencies ?? pj.bundledDependencies,
  ],
  ["bin", (pj, name) => normalizeBin(name, pj.bin)],
  ["install scripts", (pj, _name, gyp) => installScripts(pj, gyp)],
  ["bpf", (pj) => pj.bpf],
  ["engines", (pj) => pj.engines],
  ["os", (pj) => pj.os],
  ["cpu", (pj) => pj.cpu],
];

/** A version ready to be stored. */
export interface PreparedVersion {
  /** The package name. */
  name: string;
  /** The version. */
  version: string;
  /** Tags to set: tag → this version. */
  tags: string[];
  /** The served version manifest (without `dist.signatures`, `_npmUser`, `maintainers`). */
  manifest: Record<string, unknown>;
  /** The tarball's file name. */
  filename: string;
  /** The tarball. */
  tarball: Uint8Array;
  /** sha512 SRI. */
  integrity: string;
  /** The README found in the tarball. */
  readme: string;
  /** A provenance bundle, if one was attached. */
  attestation?: string;
  /** The key id of a verified `bpfpm-signature.json` in the tarball, if it has one. */
  publisherKeyid?: string;
}

function decodeBase64(data: unknown, what: string): Uint8Array {
  if (
    typeof data !== "string" || data.length % 4 !== 0 ||
    !/^[A-Za-z0-9+/]*={0,2}$/.test(data)
  ) {
    throw new RegistryError(400, `Attachment ${what} is not valid base64`);
  }
  const buf = Buffer.from(data, "base64");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Validates a publish document and its tarball.
 *
 * @param name The package name from the URL.
 * @param body The parsed JSON body.
 * @param limits Tarball caps.
 * @returns The version to store.
 * @throws {RegistryError} With a 400 and a reason for every refusal.
 */
export async function preparePublish(
  name: string,
  body: Record<string, unknown>,
  limits: Partial<TarballLimits>,
): Promise<PreparedVersion> {
  const nameProblem = packageNameProblem(name);
  if (nameProblem) {
    throw new RegistryError(
      400,
      `Invalid package name ${JSON.stringify(name)}: ${nameProblem}`,
    );
  }
  if (body.name !== undefined && body.name !== name) {
    throw new RegistryError(
      400,
      `The document names ${
        JSON.stringify(body.name)
      } but the URL names ${name}`,
    );
  }
  const versions = body.versions as
    | Record<string, Record<string, unknown>>
    | undefined;
  if (
    !versions || typeof versions !== "object" ||
    Object.keys(versions).length !== 1
  ) {
    throw new RegistryError(
      400,
      "A publish document must hold exactly one version",
    );
  }
  const [version] = Object.keys(versions);
  const docManifest = versions[version];
  if (typeof docManifest !== "object" || docManifest === null) {
    throw new RegistryError(400, `versions[${version}] must be an object`);
  }
  if (semver.valid(version) !== version) {
    throw new RegistryError(
      400,
      `Invalid version ${
        JSON.stringify(version)
      }: it must be a full semver such as 1.0.0`,
    );
  }
  const attachments = body._attachments as
    | Record<string, Record<string, unknown>>
    | undefined;
  if (!attachments || typeof attachments !== "object") {
    throw new RegistryError(400, "The publish document has no _attachments");
  }
  const filename = tarballFilename(name, version);
  const keys = Object.keys(attachments);
  const tgzKey = keys.find((k) => k.endsWith(".tgz"));
  const sigKeys = keys.filter((k) => k.endsWith(".sigstore"));
  if (
    !tgzKey || keys.length > 2 ||
    keys.filter((k) => k.endsWith(".tgz")).length !== 1 ||
    keys.length !== 1 + sigKeys.length
  ) {
    throw new RegistryError(
      400,
      `Attach exactly one tarball (${filename}) and at most one .sigstore bundle`,
    );
  }
  if (tgzKey !== filename && !tgzKey.endsWith(`/${filename}`)) {
    throw new RegistryError(
      400,
      `The tarball attachment must be named ${filename}, not ${tgzKey}`,
    );
  }
  const att = attachments[tgzKey];
  if (typeof att !== "object" || att === null) {
    throw new RegistryError(400, `Attachment ${tgzKey} must be an object`);
  }
  const maxCompressed = limits.maxCompressedSize ?? 16 * 1024 * 1024;
  if (
    typeof att.data === "string" &&
    att.data.length > Math.ceil(maxCompressed / 3) * 4 + 4
  ) {
    throw new RegistryError(
      413,
      `The tarball is over the ${maxCompressed}-byte cap`,
      {
        code: "too-large-compressed",
      },
    );
  }
  const tarball = decodeBase64(att.data, tgzKey);
  if (att.length !== undefined && att.length !== tarball.length) {
    throw new RegistryError(
      400,
      `Attachment ${tgzKey} says length ${att.length} but holds ${tarball.length} bytes`,
    );
  }
  let inspected;
  try {
    inspected = await inspectTarball(tarball, limits);
  } catch (e) {
    if (e instanceof TarballError) {
      throw new RegistryError(
        e.reason.startsWith("too-large") ? 413 : 400,
        `Tarball refused (${e.reason}): ${e.message}`,
        {
          code: e.reason,
          cause: e,
        },
      );
    }
    throw e;
  }
  checkJsonDepth(inspected.packageJson, "package.json in the tarball");
  const pj = ownKeysDeep(inspected.packageJson) as Record<string, unknown>;
  if (pj.name !== name) {
    throw new RegistryError(
      400,
      `package.json in the tarball names ${
        JSON.stringify(pj.name)
      }, not ${name}`,
      {
        code: "manifest-confusion",
      },
    );
  }
  if (pj.version !== version) {
    throw new RegistryError(
      400,
      `package.json in the tarball has version ${
        JSON.stringify(pj.version)
      }, not ${version}`,
      {
        code: "manifest-confusion",
      },
    );
  }
  const files = new Map(inspected.entries.map((e) => [e.path, e]));
  const gyp = files.has("package/binding.gyp");
  for (const [field, get] of CHECKED_FIELDS) {
    if (
      canonical(get(docManifest, name, gyp)) !== canonical(get(pj, name, gyp))
    ) {
      throw new RegistryError(
        400,
        `Manifest confusion: ${field} in the publish document differs from package.json in the tarball; publish the tarball's own package.json`,
        { code: "manifest-confusion" },
      );
    }
  }
  if (pj.bpf !== undefined) {
    const v = validateBpfManifest(pj.bpf);
    if (!v.ok) {
      throw new RegistryError(
        400,
        `Invalid bpf manifest in package.json:\n${v.errors.join("\n")}`,
        {
          code: "bad-bpf-manifest",
        },
      );
    }
    const bpf = pj.bpf as { entry: string; sources?: string[] };
    for (const f of [bpf.entry, ...(bpf.sources ?? [])]) {
      if (!files.has(`package/${f.replace(/^\.\//, "")}`)) {
        throw new RegistryError(
          400,
          `The bpf manifest names ${f}, which is not in the tarball`,
          {
            code: "bad-bpf-manifest",
          },
        );
      }
    }
  }
  let attestation: string | undefined;
  if (sigKeys.length) {
    const bytes = decodeBase64(attachments[sigKeys[0]]?.data, sigKeys[0]);
    if (bytes.length > 1024 * 1024) {
      throw new RegistryError(413, "The .sigstore bundle is over 1 MiB");
    }
    try {
      attestation = JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)));
    } catch {
      throw new RegistryError(400, "The .sigstore attachment is not JSON");
    }
  }
  let publisherKeyid: string | undefined;
  try {
    publisherKeyid = verifyPublisherSignature(name, version, inspected.entries);
  } catch (e) {
    if (!(e instanceof SignatureError)) throw e;
    throw new RegistryError(
      400,
      `The tarball's bpfpm-signature.json is refused: ${
        e.message.replace(/[;,] do not install it$/, "")
      }; sign the package again (bpfpm publish signs it)`,
      { code: "bad-publisher-signature", cause: e },
    );
  }
  const readmeEntry = inspected.entries.find((e) =>
    e.type === "file" && /^package\/readme(\.(md|markdown|txt))?$/i.test(e.path)
  );
  const readme = readmeEntry?.data
    ? new TextDecoder().decode(readmeEntry.data.subarray(0, 1 << 20))
    : "";

  const manifest: Record<string, unknown> = Object.create(null);
  for (const [k, v] of Object.entries(pj)) {
    if (!k.startsWith("_") && k !== "readme" && k !== "readmeFilename") {
      manifest[k] = v;
    }
  }
  const bin = normalizeBin(name, pj.bin);
  if (bin) manifest.bin = bin;
  manifest._id = `${name}@${version}`;
  if (Object.keys(installScripts(pj, gyp)).length) {
    manifest.hasInstallScript = true;
  }
  if (files.has("package/npm-shrinkwrap.json")) manifest._hasShrinkwrap = true;
  const integrity = integrityOf(tarball);
  const shasum = shasumOf(tarball);
  manifest.dist = {
    integrity,
    shasum,
    tarball: `${BASE}/${name}/-/${filename}`,
    fileCount: inspected.entries.filter((e) => e.type === "file").length,
    unpackedSize: inspected.entries.reduce((n, e) => n + e.size, 0),
  };
  const docTags = body["dist-tags"] as Record<string, unknown> | undefined;
  const tags =
    docTags && typeof docTags === "object" && Object.keys(docTags).length
      ? Object.entries(docTags).filter(([, v]) => v === version).map(([t]) => t)
      : ["latest"];
  if (!tags.length) {
    throw new RegistryError(
      400,
      `dist-tags must point at the published version ${version}`,
    );
  }
  for (const t of tags) {
    const p = tagProblem(t);
    if (p) throw new RegistryError(400, p);
  }
  return {
    name,
    version,
    tags,
    manifest,
    filename,
    tarball,
    integrity,
    readme,
    attestation,
    publisherKeyid,
  };
}
