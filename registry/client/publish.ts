/**
 * `bpfpm pack` and `bpfpm publish`: select files (`files` field, else everything minus
 * `.npmignore`/`.gitignore` and the usual junk), validate the `bpf` manifest, compile each
 * BPF source (no root), bundle the TypeScript entry with esbuild-wasm into one ESM file
 * beside it (`bpf`, `node:` and `npm:` imports stay external) and point `bpf.entry` at it,
 * sign every file with the publisher's ed25519 key, pack, and upload npm's publish
 * document.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import {
  basename,
  dirname,
  extname,
  join,
  relative,
  resolve,
  sep,
} from "node:path";
import semver from "semver";
import { createTarball } from "../pack/mod.ts";
import { validateBpfManifest } from "../manifest.ts";
import { integrityOf, shasumOf } from "../common/digests.ts";
import { publishDocument } from "../common/publish_document.ts";
import { compileCheck } from "./compile_check.ts";
import { type ClientConfig, registryFor } from "./config.ts";
import { ClientError } from "./errors.ts";
import { grantLines } from "./grants.ts";
import {
  describeMissing,
  type KernelManifest,
  missingKernelTargets,
} from "./kernel_check.ts";
import { packagePath, RegistryClient } from "./registry.ts";
import { parseSpec } from "./resolve.ts";
import {
  SIGNATURE_FILE,
  signKeyProof,
  signPackage,
} from "../common/publisher_signature.ts";
import { publisherKey } from "./signatures.ts";
import { Ui } from "./ui.ts";

const ALWAYS_IGNORED = [
  ".git",
  ".svn",
  ".hg",
  "node_modules",
  "bpf_modules",
  ".bpfpm",
  ".bpfpmrc",
  ".npmrc",
  "bpfpm.lock",
  "package-lock.json",
  "*.tgz",
  ".DS_Store",
  "npm-debug.log",
  "*.swp",
  SIGNATURE_FILE,
];

/**
 * Turns a gitignore-style glob into a RegExp over `/`-separated relative paths.
 *
 * @example
 * ```ts
 * import { globToRegExp } from "./publish.ts";
 * globToRegExp("lib/").test("lib/a/b.js"); // true
 * globToRegExp("*.c").test("src/x.c"); // true
 * globToRegExp("*.c", { anchored: true }).test("src/x.c"); // false
 * ```
 */
export function globToRegExp(
  glob: string,
  options: { anchored?: boolean } = {},
): RegExp {
  let g = glob.trim().replace(/^\.\//, "");
  // gitignore rules match at any depth unless they contain a slash; `files` entries (npm)
  // are always relative to the package root.
  const anchored = options.anchored || g.startsWith("/") ||
    g.slice(0, -1).includes("/");
  g = g.replace(/^\//, "").replace(/\/$/, "");
  let re = "";
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === "*" && g[i + 1] === "*") {
      re += ".*";
      i++;
      if (g[i + 1] === "/") i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  // A pattern matches the path itself or anything below it (a directory pattern).
  return new RegExp(`^${anchored ? "" : "(?:.*/)?"}${re}(?:/.*)?$`);
}

function listAll(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = relative(base, p).split(sep).join("/");
    if (ALWAYS_IGNORED.some((g) => globToRegExp(g).test(rel))) continue;
    if (e.isDirectory()) listAll(p, base, out);
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/**
 * The files a package would publish, relative to its root, sorted.
 *
 * @example
 * ```ts
 * import { selectFiles } from "./publish.ts";
 * console.log(selectFiles("probes/tcplife"));
 * ```
 */
export function selectFiles(dir: string): string[] {
  const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const all = listAll(dir);
  let chosen: string[];
  if (Array.isArray(pj.files)) {
    const include = (pj.files as string[]).filter((f) => !f.startsWith("!"))
      .map((f) => globToRegExp(f, { anchored: true }));
    const exclude = (pj.files as string[]).filter((f) => f.startsWith("!")).map(
      (f) => globToRegExp(f.slice(1), { anchored: true }),
    );
    chosen = all.filter((f) =>
      include.some((r) => r.test(f)) && !exclude.some((r) => r.test(f))
    );
  } else {
    const ignoreFile = [".npmignore", ".gitignore"].map((f) => join(dir, f))
      .find(existsSync);
    const rules = ignoreFile
      ? readFileSync(ignoreFile, "utf8").split("\n").map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
      : [];
    chosen = all.filter((f) => {
      let ignored = false;
      for (const r of rules) {
        if (r.startsWith("!")) {
          if (globToRegExp(r.slice(1)).test(f)) ignored = false;
        } else if (globToRegExp(r).test(f)) ignored = true;
      }
      return !ignored;
    });
  }
  const always = all.filter((f) =>
    f === "package.json" || /^(readme|license|licence)(\.[^/]*)?$/i.test(f)
  );
  return [...new Set([...chosen, ...always])].sort();
}

/**
 * Bundles a TypeScript entry into one ESM file with esbuild-wasm; `bpf` stays external.
 *
 * @example
 * ```ts
 * import { bundleEntry } from "./publish.ts";
 * const code = await bundleEntry("probes/tcplife", "mod.ts");
 * ```
 */
export async function bundleEntry(dir: string, entry: string): Promise<string> {
  const esbuild = await bundler();
  try {
    const r = await esbuild.build({
      absWorkingDir: dir,
      entryPoints: [join(dir, entry)],
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "esnext",
      write: false,
      external: [
        "bpf",
        "bpf/*",
        "node:*",
        "npm:*",
        "jsr:*",
        "https:*",
        "http:*",
      ],
      logLevel: "silent",
      legalComments: "inline",
    });
    return r.outputFiles[0].text;
  } catch (e) {
    const errors = (e as {
      errors?: { text: string; location?: { file: string; line: number } }[];
    }).errors ?? [];
    const lines = errors.map((x) =>
      `${x.location ? `${x.location.file}:${x.location.line}: ` : ""}${x.text}`
    );
    throw new ClientError(
      "EBUNDLE",
      `The entry ${entry} does not bundle:\n${
        lines.join("\n") || (e as Error).message
      }`,
      {
        cause: e,
      },
    );
  }
}

type Esbuild = typeof import("esbuild-wasm");
let esbuildReady: Promise<Esbuild> | undefined;

/** esbuild-wasm, initialised once per process: compiling its WebAssembly costs seconds. */
function bundler(): Promise<Esbuild> {
  esbuildReady ??= (async () => {
    const esbuild = await import("esbuild-wasm");
    await esbuild.initialize({});
    return esbuild;
  })();
  esbuildReady.catch(() => (esbuildReady = undefined));
  return esbuildReady;
}

/**
 * Stops the bundler service if it was started, so the process can exit.
 *
 * @example
 * ```ts
 * import { bundleEntry, stopBundler } from "./publish.ts";
 * try {
 *   await bundleEntry("probes/tcplife", "mod.ts");
 * } finally {
 *   await stopBundler();
 * }
 * ```
 */
export async function stopBundler(): Promise<void> {
  const ready = esbuildReady;
  esbuildReady = undefined;
  if (ready) await (await ready.catch(() => undefined))?.stop();
}

/** What pack produced. */
export interface PackResult {
  /** The `.tgz` bytes. */
  tarball: Uint8Array;
  /** The rewritten package.json (what the registry will see). */
  manifest: Record<string, unknown>;
  /** A printable summary. */
  summary: PackSummary;
  /** Where the tarball was written (pack only). */
  path?: string;
}

/** A publish/pack summary. */
export interface PackSummary {
  /** The package name. */
  name: string;
  /** The version. */
  version: string;
  /** Every packed file with its size in bytes. */
  files: { path: string; size: number }[];
  /** Sum of the file sizes. */
  unpackedSize: number;
  /** Size of the `.tgz`. */
  size: number;
  /** sha512 integrity of the `.tgz`. */
  integrity: string;
  /** sha1 hex of the `.tgz`. */
  shasum: string;
  /** The declared permissions, one line each. */
  grants: string[];
  /** The publisher key id, when signed. */
  signedBy?: string;
  /** Each BPF source and which compiler checked it. */
  compiled: { source: string; via: string }[];
}

/**
 * Builds the tarball a publish would upload (validating, compiling, bundling, signing).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { pack } from "./publish.ts";
 * const r = await pack(loadConfig(), "probes/tcplife", { out: "/tmp/tcplife.tgz" });
 * console.log(r.summary.integrity);
 * ```
 */
export async function pack(
  config: ClientConfig,
  dir: string,
  options: { sign?: boolean; out?: string; ui?: Ui; write?: boolean } = {},
): Promise<PackResult> {
  const ui = options.ui ?? new Ui();
  const root = resolve(dir);
  if (!existsSync(join(root, "package.json"))) {
    throw new ClientError(
      "EMANIFEST",
      `${root} has no package.json; run bpfpm init there first`,
    );
  }
  let pj: Record<string, unknown>;
  try {
    pj = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  } catch (cause) {
    throw new ClientError(
      "EMANIFEST",
      `${join(root, "package.json")} is not valid JSON`,
      { cause },
    );
  }
  const name = String(pj.name ?? "");
  const version = String(pj.version ?? "");
  try {
    parseSpec(name);
  } catch (cause) {
    throw new ClientError(
      "EMANIFEST",
      `package.json name ${JSON.stringify(name)} is not a valid package name`,
      { cause },
    );
  }
  if (!semver.valid(version)) {
    throw new ClientError(
      "EMANIFEST",
      `package.json version ${
        JSON.stringify(version)
      } is not a semver version such as 1.0.0`,
    );
  }
  const files = selectFiles(root);
  const data = new Map<string, Uint8Array>();
  for (const f of files) data.set(f, readFileSync(join(root, f)));
  const compiled: { source: string; via: string }[] = [];
  const bpf = pj.bpf as {
    entry: string;
    sources?: string[];
    grants?: unknown;
    deno?: string[];
  } | undefined;
  if (bpf !== undefined) {
    const v = validateBpfManifest(bpf);
    if (!v.ok) {
      throw new ClientError(
        "EMANIFEST",
        `The bpf manifest is invalid:\n  ${v.errors.join("\n  ")}`,
      );
    }
    // A name this kernel lacks is most likely a typo: refused here, not on users' machines.
    let missing;
    try {
      missing = await missingKernelTargets(bpf as KernelManifest);
    } catch (e) {
      throw new ClientError("EKERNEL", (e as Error).message);
    }
    const needed = missing.filter((m) => !m.optional);
    if (needed.length) {
      throw new ClientError(
        "EKERNEL",
        `${
          needed.map(describeMissing).join("; ")
        }: fix the name in package.json, or mark it "optional": true if the package runs without it`,
      );
    }
    for (const m of missing) ui.info(describeMissing(m));
    for (const f of [bpf.entry, ...(bpf.sources ?? [])]) {
      if (!data.has(f)) {
        throw new ClientError(
          "EMANIFEST",
          `${f} is named in the bpf manifest but is not among the packed files; add it to "files"`,
        );
      }
    }
    for (const src of bpf.sources ?? []) {
      ui.info(`compiling ${src}`);
      const r = await compileCheck(join(root, src), config.cacheDir);
      compiled.push({ source: src, via: r.via });
    }
    if (/\.(ts|tsx|mts|js|mjs|jsx)$/.test(bpf.entry)) {
      ui.info(`bundling ${bpf.entry}`);
      const code = await bundleEntry(root, bpf.entry);
      const bundled = join(
        dirname(bpf.entry),
        basename(bpf.entry, extname(bpf.entry)) + ".bundle.js",
      )
        .split(sep).join("/").replace(/^\.\//, "");
      data.set(bundled, new TextEncoder().encode(code));
      pj = { ...pj, bpf: { ...bpf, entry: bundled } };
    }
  }
  // The registry takes the manifest from the tarball: what is packed is what gets checked.
  data.set(
    "package.json",
    new TextEncoder().encode(JSON.stringify(pj, null, 2) + "\n"),
  );
  let signedBy: string | undefined;
  if (options.sign !== false) {
    const key = publisherKey(config.configDir)!;
    const list = [...data].map(([path, d]) => ({ path, data: d }));
    data.set(
      SIGNATURE_FILE,
      new TextEncoder().encode(signPackage(name, version, list, key)),
    );
    signedBy = key.keyid;
  }
  const packFiles = [...data].sort(([a], [b]) => (a < b ? -1 : 1)).map((
    [path, d],
  ) => ({
    path,
    data: d,
    mode: path.endsWith(".sh") ? 0o755 : 0o644,
  }));
  const tarball = await createTarball(packFiles);
  const summary: PackSummary = {
    name,
    version,
    files: packFiles.map((f) => ({ path: f.path, size: f.data.length })),
    unpackedSize: packFiles.reduce((n, f) => n + f.data.length, 0),
    size: tarball.length,
    integrity: integrityOf(tarball),
    shasum: shasumOf(tarball),
    grants: grantLines(pj.bpf as never),
    signedBy,
    compiled,
  };
  let path: string | undefined;
  if (options.out !== undefined || options.write) {
    path = resolve(
      options.out ??
        `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`,
    );
    writeFileSync(path, tarball);
  }
  return { tarball, manifest: pj, summary, path };
}

function printSummary(ui: Ui, s: PackSummary, verb: string): void {
  ui.out(`${verb} ${s.name}@${s.version}`);
  for (const f of s.files) ui.out(`  ${String(f.size).padStart(8)}  ${f.path}`);
  ui.out(
    `  files: ${s.files.length}, unpacked ${s.unpackedSize} B, tarball ${s.size} B`,
  );
  ui.out(`  integrity: ${s.integrity}`);
  for (const c of s.compiled) ui.out(`  compiled: ${c.source} (${c.via})`);
  ui.out(`  grants:${s.grants.length ? "" : " none"}`);
  for (const g of s.grants) ui.out(`    ${g}`);
  ui.out(`  signed by: ${s.signedBy ?? "unsigned"}`);
}

/**
 * Packs and uploads a package (npm's publish document, `PUT /:name`), then prints what
 * was published.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { publish } from "./publish.ts";
 * await publish(loadConfig(), "probes/tcplife", { tag: "latest" });
 * ```
 */
export async function publish(
  config: ClientConfig,
  dir: string,
  options: { tag?: string; sign?: boolean; dryRun?: boolean; ui?: Ui } = {},
): Promise<PackSummary> {
  const ui = options.ui ?? new Ui();
  const { tarball, manifest, summary } = await pack(config, dir, {
    sign: options.sign,
    ui,
  });
  if (options.dryRun) {
    printSummary(ui, summary, "Would publish");
    return summary;
  }
  const registry = registryFor(config, summary.name);
  const client = new RegistryClient(config);
  const doc = publishDocument({
    manifest,
    tarball,
    registry,
    tag: options.tag,
  });
  // The key goes first, so the registry can check the signature against it at publish.
  if (summary.signedBy) {
    await registerPublisherKey(client, config, registry, ui);
  }
  await client.json(registry, packagePath(summary.name), {
    method: "PUT",
    body: JSON.stringify(doc),
    what: `Publish of ${summary.name}@${summary.version}`,
  });
  printSummary(ui, summary, `Published to ${registry}:`);
  return summary;
}

/**
 * Registers the user's publisher key with the registry (`PUT /-/bpfpm/v1/keys/:keyid`,
 * with a proof that the user holds it), so installers with `--require-signed` learn whose
 * key it is. A registry without the endpoint (Verdaccio, npmjs) only earns a warning; a key
 * that is revoked or registered to another user stops the publish.
 *
 * @returns `registered` (new), `known` (already this user's), `unsupported`, or `skipped`
 * (not logged in: the publish itself will say so)
 *
 * @example
 * ```ts
 * import { loadConfig, registryFor } from "./config.ts";
 * import { registerPublisherKey } from "./publish.ts";
 * import { RegistryClient } from "./registry.ts";
 * const config = loadConfig();
 * await registerPublisherKey(new RegistryClient(config), config, registryFor(config, ""));
 * ```
 */
export async function registerPublisherKey(
  client: RegistryClient,
  config: ClientConfig,
  registry: string,
  ui: Ui = new Ui(),
): Promise<"registered" | "known" | "unsupported" | "skipped"> {
  const key = publisherKey(config.configDir)!;
  const who = await client.json<{ username?: string }>(registry, "-/whoami", {
    what: "Who am I",
    allow: [401, 403, 404, 405],
  });
  if (who.status === 401 || who.status === 403) return "skipped";
  if (who.status === 404 || who.status === 405) {
    ui.warn(
      `${registry} does not say who you are (GET /-/whoami), so your publisher key was not registered; installers with --require-signed must run bpfpm trust ${key.keyid}`,
    );
    return "unsupported";
  }
  const user = who.body.username;
  // Anonymous (Verdaccio answers 200 without a name): the publish will say so.
  if (typeof user !== "string" || !user) return "skipped";
  const r = await client.json<{ error?: string }>(
    registry,
    `-/bpfpm/v1/keys/${encodeURIComponent(key.keyid)}`,
    {
      method: "PUT",
      body: JSON.stringify({
        keyid: key.keyid,
        key: Buffer.from(key.publicKeyDer).toString("base64"),
        proof: signKeyProof(key, user),
      }),
      what: `Registration of publisher key ${key.keyid}`,
      allow: [400, 404, 405, 409, 410],
    },
  );
  if (r.status === 201) {
    ui.info(`registered publisher key ${key.keyid} as ${user}'s`);
    return "registered";
  }
  if (r.status === 200) return "known";
  if (r.status === 409 || r.status === 410) {
    throw new ClientError(
      "EKEY",
      `${
        r.body.error ?? `${registry} refused publisher key ${key.keyid}`
      }; key file: ${join(config.configDir, "publisher_ed25519.pem")}`,
    );
  }
  ui.warn(
    `${registry} does not register publisher keys${
      r.status === 400 && r.body.error ? ` (${r.body.error})` : ""
    }; installers with --require-signed must run bpfpm trust ${key.keyid}`,
  );
  return "unsupported";
}
