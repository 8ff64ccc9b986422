/**
 * The smaller commands: list, outdated, info, search, login, adduser, logout, whoami,
 * cache, verify, init. Each takes the configuration and a {@linkcode Ui} and returns what it
 * printed as data too, so tests and `--json` share one path.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, join, relative } from "node:path";
import semver from "semver";
import { inspectTarball } from "../pack/mod.ts";
import {
  type ClientConfig,
  nerfDart,
  registryFor,
  setUserRc,
  tokenFor,
} from "./config.ts";
import { ClientError } from "./errors.ts";
import { grantLines } from "./grants.ts";
import { readLockfile } from "./lockfile.ts";
import {
  inTree,
  MODULES_DIR,
  readProjectManifest,
  recoverIfIdle,
} from "./project.ts";
import { RegistryClient } from "./registry.ts";
import { pickVersion } from "./resolve.ts";
import { verifyPublisherSignature } from "../common/publisher_signature.ts";
import { verifyRegistrySignature } from "./signatures.ts";

/** One installed package as `list` reports it. */
export interface ListedPackage {
  /** Install path. */
  path: string;
  /** The package name. */
  name: string;
  /** The installed version. */
  version: string;
  /** Whether the project depends on it directly. */
  direct: boolean;
  /** Declared permissions, one line each. */
  grants: string[];
}

/**
 * The installed packages, from the lockfile.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { listInstalled } from "./commands.ts";
 * for (const p of listInstalled(loadConfig())) console.log(p.name, p.version);
 * ```
 */
export function listInstalled(config: ClientConfig): ListedPackage[] {
  recoverIfIdle(config.projectDir);
  const lock = readLockfile(config.projectDir);
  if (!lock) return [];
  return Object.entries(lock.packages).sort(([a], [b]) => (a < b ? -1 : 1)).map(
    ([path, e]) => ({
      path,
      name: e.name,
      version: e.version,
      direct: path === `${MODULES_DIR}/${e.name}` &&
        e.name in lock.root.dependencies,
      grants: grantLines(e.bpf),
    }),
  );
}

/** One row of `outdated`. */
export interface OutdatedRow {
  /** The package name. */
  name: string;
  /** The range in package.json. */
  range: string;
  /** The installed version. */
  current?: string;
  /** The highest version the range allows. */
  wanted?: string;
  /** The `latest` dist-tag. */
  latest?: string;
}

/**
 * Direct dependencies with a newer version available.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { outdated } from "./commands.ts";
 * console.log(await outdated(loadConfig()));
 * ```
 */
export async function outdated(config: ClientConfig): Promise<OutdatedRow[]> {
  const client = new RegistryClient(config);
  const deps = readProjectManifest(config.projectDir).manifest.dependencies ??
    {};
  const lock = readLockfile(config.projectDir);
  const rows = await Promise.all(
    Object.keys(deps).sort().map(async (name) => {
      const doc = await client.packument(name);
      const versions = Object.keys(doc.versions);
      const range = deps[name];
      const wanted = doc["dist-tags"]?.[range] ??
        semver.maxSatisfying(versions, range) ?? undefined;
      return {
        name,
        range,
        current: lock?.packages[`${MODULES_DIR}/${name}`]?.version,
        wanted,
        latest: doc["dist-tags"]?.latest,
      };
    }),
  );
  return rows.filter((r) => r.current !== r.wanted || r.current !== r.latest);
}

/**
 * A package's registry document, summarised: versions, dist-tags, and the latest version's
 * description and declared permissions.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { info } from "./commands.ts";
 * console.log((await info(loadConfig(), "tcplife")).latest);
 * ```
 */
export async function info(
  config: ClientConfig,
  spec: string,
): Promise<Record<string, unknown>> {
  const client = new RegistryClient(config);
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0);
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "latest" : spec.slice(at + 1);
  const doc = await client.packument(name, true);
  const tags = doc["dist-tags"] ?? {};
  const versions = Object.keys(doc.versions).sort(semver.compareLoose);
  // The version install would pick; no match is a ResolveError, not `name@null`.
  const m = pickVersion(doc, range);
  const version = m.version;
  const bpf = m?.bpf as
    | { grants?: unknown; deno?: string[]; entry?: string }
    | undefined;
  return {
    name: doc.name,
    version,
    description: m?.description ?? doc.description,
    "dist-tags": tags,
    versions,
    dependencies: m?.dependencies ?? {},
    tarball: m?.dist.tarball,
    integrity: m?.dist.integrity,
    bpf: bpf ?? null,
    grants: grantLines(bpf as never),
    registry: registryFor(config, name),
  };
}

/** One search hit. */
export interface SearchHit {
  /** The package name. */
  name: string;
  /** Its latest version. */
  version: string;
  /** Its description. */
  description?: string;
}

/**
 * Searches the registry (`/-/v1/search`).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { search } from "./commands.ts";
 * console.log(await search(loadConfig(), "tcp"));
 * ```
 */
export async function search(
  config: ClientConfig,
  text: string,
  size = 20,
): Promise<SearchHit[]> {
  const client = new RegistryClient(config);
  const { body } = await client.json<{ objects?: { package: SearchHit }[] }>(
    config.registry,
    `-/v1/search?text=${encodeURIComponent(text)}&size=${size}`,
    { what: "Search" },
  );
  return (body.objects ?? []).map((o) => ({
    name: o.package.name,
    version: o.package.version ??
      (o.package as { "dist-tags"?: Record<string, string> })["dist-tags"]
        ?.latest ??
      "",
    description: o.package.description,
  }));
}

/** Options of {@linkcode login} and {@linkcode adduser}. */
export interface AccountOptions {
  /** The e-mail address recorded for a new account. */
  email?: string;
  /** The registry (default: the configured one). */
  registry?: string;
}

// The CouchDB user document npm registries take at /-/user/org.couchdb.user:NAME.
function userDocument(
  user: string,
  password: string,
  extra: Record<string, string> = {},
): string {
  return JSON.stringify({
    _id: `org.couchdb.user:${user}`,
    name: user,
    password,
    type: "user",
    roles: [],
    ...extra,
  });
}

function checkCredentials(user: string, password: string): void {
  if (!user || !password) {
    throw new TypeError("A user name and a password are needed");
  }
}

async function userExists(
  client: RegistryClient,
  registry: string,
  user: string,
): Promise<boolean | undefined> {
  const { status } = await client.json(
    registry,
    `-/user/org.couchdb.user:${encodeURIComponent(user)}`,
    { what: `User ${user}`, allow: [401, 403, 404, 405] },
  );
  return status === 404 ? false : status === 200 ? true : undefined;
}

function saveToken(
  config: ClientConfig,
  registry: string,
  token: string | undefined,
): string {
  if (!token) {
    throw new ClientError(
      "EAUTH",
      `${registry} accepted the credentials but sent no token; check that it is an npm registry`,
    );
  }
  setUserRc(config, `${nerfDart(registry)}:_authToken`, token);
  return token;
}

/**
 * Logs in to an existing account (CouchDB's basic-auth login, which never creates one) and
 * saves the token in the user rc file, bound to that registry only. An unknown user name
 * is an error naming `bpfpm adduser`, so a typo never becomes an account; on registries
 * that read basic auth everywhere (Verdaccio), the credentials are checked with whoami
 * first, since their login endpoint would create the account.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { login } from "./commands.ts";
 * await login(loadConfig(), "alice", "correct horse battery staple");
 * ```
 */
export async function login(
  config: ClientConfig,
  user: string,
  password: string,
  options: AccountOptions = {},
): Promise<string> {
  checkCredentials(user, password);
  const registry = options.registry ?? config.registry;
  const client = new RegistryClient(config);
  const basic = `Basic ${btoa(`${user}:${password}`)}`;
  // Registries that read basic auth on every request (Verdaccio) answer whoami as
  // anonymous for unknown credentials, and would create the account on the PUT below:
  // ask them first. The bpfpm registry answers 401 here and never creates on that PUT.
  const probe = await client.json<{ username?: string }>(registry, "-/whoami", {
    headers: { authorization: basic },
    what: "whoami",
    allow: [401, 403, 404, 405],
  });
  if (probe.status === 200 && probe.body.username !== user) {
    throw new ClientError(
      "EAUTH",
      `${registry} did not accept ${user} with that password; check both, or create the account with bpfpm adduser --user ${user}`,
    );
  }
  const { status, body } = await client.json<{ token?: string }>(
    registry,
    `-/user/org.couchdb.user:${encodeURIComponent(user)}/-rev/undefined`,
    {
      method: "PUT",
      headers: { authorization: basic },
      body: userDocument(user, password),
      what: `Login of ${user}`,
      allow: [401],
    },
  );
  if (status === 401) {
    if (await userExists(client, registry, user) === false) {
      throw new ClientError(
        "ENOUSER",
        `${registry} has no user named ${user}; check the spelling, or create the account with bpfpm adduser --user ${user}`,
      );
    }
    throw new ClientError(
      "EAUTH",
      `Wrong password for ${user} at ${registry}; try again`,
    );
  }
  return saveToken(config, registry, body.token);
}

/**
 * Creates an account (the CouchDB user document every npm registry accepts) and saves its
 * token, as `npm adduser` does. An existing name is an error naming `bpfpm login`.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { adduser } from "./commands.ts";
 * await adduser(loadConfig(), "alice", "correct horse battery staple", { email: "a@example.org" });
 * ```
 */
export async function adduser(
  config: ClientConfig,
  user: string,
  password: string,
  options: AccountOptions = {},
): Promise<string> {
  checkCredentials(user, password);
  const registry = options.registry ?? config.registry;
  const client = new RegistryClient(config);
  const { status, body } = await client.json<{ token?: string }>(
    registry,
    `-/user/org.couchdb.user:${encodeURIComponent(user)}`,
    {
      method: "PUT",
      body: userDocument(user, password, {
        email: options.email ?? `${user}@localhost`,
        date: new Date().toISOString(),
      }),
      what: `Sign-up of ${user}`,
      allow: [401, 409],
    },
  );
  if (status === 401 || status === 409) {
    throw new ClientError(
      "EEXIST",
      `${registry} already has a user named ${user}; log in with bpfpm login --user ${user}, or choose another name`,
    );
  }
  return saveToken(config, registry, body.token);
}

/**
 * Revokes the token at the registry (when it supports it) and removes it from the rc file.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { logout } from "./commands.ts";
 * await logout(loadConfig());
 * ```
 */
export async function logout(
  config: ClientConfig,
  registry = config.registry,
): Promise<boolean> {
  const token = tokenFor(config, registry);
  if (!token) return false;
  const client = new RegistryClient(config);
  await client.request(`${registry}-/user/token/${encodeURIComponent(token)}`, {
    method: "DELETE",
    allow: [400, 401, 403, 404, 405, 500],
  }).then((r) => r.body?.cancel()).catch(() => {});
  setUserRc(config, `${nerfDart(registry)}:_authToken`, undefined);
  return true;
}

/**
 * The user name the registry knows the saved token as.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { whoami } from "./commands.ts";
 * console.log(await whoami(loadConfig()));
 * ```
 */
export async function whoami(
  config: ClientConfig,
  registry = config.registry,
): Promise<string> {
  if (!tokenFor(config, registry)) {
    throw new ClientError(
      "EAUTH",
      `Not logged in to ${registry}; run bpfpm login --registry ${registry}`,
    );
  }
  const client = new RegistryClient(config);
  const { body } = await client.json<{ username?: string }>(
    registry,
    "-/whoami",
    { what: "whoami" },
  );
  if (!body.username) {
    throw new ClientError(
      "EAUTH",
      `${registry} did not name a user for the saved token; log in again`,
    );
  }
  return body.username;
}

/** A publisher key as the registry lists it (`GET /-/bpfpm/v1/keys?user=NAME`). */
export interface RegisteredKey {
  /** `ed25519:…`. */
  keyid: string;
  /** The public key, SPKI DER in base64. */
  key: string;
  /** Its owner. */
  user: string;
  /** ISO time of registration. */
  created: string;
  /** ISO time of revocation, when revoked. */
  revoked?: string;
}

/**
 * The publisher keys registered to a user (default: the logged-in one), revoked ones
 * included.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { listPublisherKeys } from "./commands.ts";
 * for (const k of await listPublisherKeys(loadConfig())) console.log(k.keyid, k.revoked ?? "");
 * ```
 */
export async function listPublisherKeys(
  config: ClientConfig,
  user?: string,
  registry = config.registry,
): Promise<RegisteredKey[]> {
  const name = user ?? await whoami(config, registry);
  const client = new RegistryClient(config);
  const { status, body } = await client.json<
    { keys?: RegisteredKey[]; error?: string }
  >(registry, `-/bpfpm/v1/keys?user=${encodeURIComponent(name)}`, {
    what: "Publisher keys",
    allow: [404, 405],
  });
  if (!Array.isArray(body.keys)) {
    throw new ClientError(
      "EKEY",
      status === 404 && body.error?.startsWith("No user")
        ? `${registry} has no user named ${name}`
        : `${registry} does not register publisher keys (GET /-/bpfpm/v1/keys answered ${status})`,
    );
  }
  return body.keys;
}

/**
 * Revokes one of your publisher keys at the registry. Installers with `--require-signed`
 * then refuse everything it signed; make a new key by moving `publisher_ed25519.pem` out
 * of the config dir before the next publish.
 *
 * @returns the key as the registry now records it (with `revoked`)
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { revokePublisherKey } from "./commands.ts";
 * await revokePublisherKey(loadConfig(), "ed25519:0123456789abcdef0123456789abcdef");
 * ```
 */
export async function revokePublisherKey(
  config: ClientConfig,
  keyid: string,
  registry = config.registry,
): Promise<RegisteredKey> {
  if (!/^ed25519:[0-9a-f]{32}$/.test(keyid)) {
    throw new TypeError(
      `${
        JSON.stringify(keyid)
      } is not a publisher key id; they look like ed25519: and 32 hex digits (bpfpm keys lists yours)`,
    );
  }
  const client = new RegistryClient(config);
  const { body } = await client.json<RegisteredKey>(
    registry,
    `-/bpfpm/v1/keys/${encodeURIComponent(keyid)}`,
    { method: "DELETE", what: `Revocation of publisher key ${keyid}` },
  );
  return body;
}

/** One problem `verify` found. */
export interface VerifyProblem {
  /** `name@version`. */
  spec: string;
  /** What is wrong. */
  problem: string;
}

function walk(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      // Nested dependencies live in the package's own bpf_modules: not its files.
      if (e.name === MODULES_DIR && dir === base) continue;
      walk(p, base, out);
    } else out.push(relative(base, p));
  }
  return out;
}

/**
 * Checks what is installed: each tarball's sha512 against the lockfile, each installed
 * file against the tarball, registry signatures (when the registry publishes keys) and
 * publisher signatures.
 *
 * @returns the problems found (empty when everything verifies) and counts
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { verifyInstalled } from "./commands.ts";
 * const { problems } = await verifyInstalled(loadConfig());
 * if (problems.length) Deno.exit(1);
 * ```
 */
export async function verifyInstalled(
  config: ClientConfig,
): Promise<
  {
    problems: VerifyProblem[];
    checked: number;
    registrySigned: number;
    publisherSigned: number;
  }
> {
  recoverIfIdle(config.projectDir);
  const lock = readLockfile(config.projectDir);
  if (!lock) {
    throw new ClientError(
      "ELOCKFILE",
      `No bpfpm.lock in ${config.projectDir}; run bpfpm install first`,
    );
  }
  const client = new RegistryClient(config);
  const problems: VerifyProblem[] = [];
  let registrySigned = 0;
  let publisherSigned = 0;
  const tree = join(config.projectDir, MODULES_DIR);
  const entries = Object.entries(lock.packages);
  await Promise.all(entries.map(async ([path, e]) => {
    const spec = `${e.name}@${e.version}`;
    try {
      const bytes = await client.tarball(e.resolved, e.integrity, spec);
      const { entries: files } = await inspectTarball(bytes);
      const dir = inTree(tree, path);
      const expected = new Map<string, Uint8Array>();
      for (const f of files) {
        const rel = f.path.replace(/^package\//, "");
        // Installs skip a bpf_modules shipped inside a tarball (see install.ts).
        if (f.type === "file" && !rel.startsWith(`${MODULES_DIR}/`)) {
          expected.set(rel, f.data!);
        }
      }
      const present = existsSync(dir) ? walk(dir) : [];
      for (const rel of present) {
        if (!expected.has(rel)) {
          problems.push({ spec, problem: `extra file ${rel}` });
        }
      }
      for (const [rel, data] of expected) {
        const p = join(dir, rel);
        if (!existsSync(p)) {
          problems.push({ spec, problem: `missing file ${rel}` });
        } else if (
          !statSync(p).isFile() ||
          !Buffer.from(readFileSync(p)).equals(Buffer.from(data))
        ) {
          problems.push({ spec, problem: `modified file ${rel}` });
        }
      }
      const doc = await client.packument(e.name);
      const m = doc.versions[e.version];
      if (!m) {
        problems.push({
          spec,
          problem: "the registry no longer has this version",
        });
      } else {
        if (m.dist.integrity && m.dist.integrity !== e.integrity) {
          problems.push({
            spec,
            problem: `the registry now reports integrity ${
              m.dist.integrity.slice(0, 24)
            }…, the lockfile ${e.integrity.slice(0, 24)}…`,
          });
        }
        const keys = await client.registryKeys(registryFor(config, e.name));
        if (verifyRegistrySignature(m, keys, e.integrity) === "verified") {
          registrySigned++;
        }
      }
      if (verifyPublisherSignature(e.name, e.version, files)) publisherSigned++;
    } catch (err) {
      problems.push({ spec, problem: (err as Error).message });
    }
  }));
  problems.sort((a, b) => (a.spec < b.spec ? -1 : a.spec > b.spec ? 1 : 0));
  return { problems, checked: entries.length, registrySigned, publisherSigned };
}

/**
 * Scaffolds a probe package: package.json with a `bpf` manifest, a BPF C source and a
 * TypeScript entry.
 *
 * @returns the files written
 *
 * @example
 * ```ts
 * import { initPackage } from "./commands.ts";
 * initPackage("/tmp/myprobe");
 * ```
 */
export function initPackage(dir: string, name = basename(dir)): string[] {
  const clean = name.toLowerCase().replace(/[^a-z0-9._-]/g, "-");
  if (existsSync(join(dir, "package.json"))) {
    throw new ClientError(
      "EEXIST",
      `${
        join(dir, "package.json")
      } already exists; bpfpm init only scaffolds a new package`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    "package.json": JSON.stringify(
      {
        name: clean,
        version: "0.1.0",
        description: `${clean}: a BPF probe`,
        type: "module",
        files: ["mod.ts", "probe.bpf.c", "README.md"],
        bpf: {
          entry: "mod.ts",
          sources: ["probe.bpf.c"],
          kernel: { btf: true, tracepoints: ["syscalls:sys_enter_execve"] },
          grants: {
            attach: [{
              kind: "tracepoint",
              target: "syscalls:sys_enter_execve",
            }],
            helpers: [],
            mapMemory: "1MiB",
          },
          // What the package's sandboxed code may have beyond the sandbox (docs/security.md):
          // nothing here; add e.g. "--allow-net=127.0.0.1:9100" for an exporter.
          deno: [],
        },
      },
      null,
      2,
    ) + "\n",
    "probe.bpf.c": `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1024);
  __type(key, u32);
  __type(value, u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(void *ctx) {
  u32 pid = bpf_get_current_pid_tgid() >> 32;
  u64 one = 1, *v = bpf_map_lookup_elem(&counts, &pid);
  if (v) __sync_fetch_and_add(v, 1);
  else bpf_map_update_elem(&counts, &pid, &one, BPF_ANY);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
`,
    "mod.ts": `import { BPF } from "bpf";

// Counts execve calls per process and prints the table every second, for the number of
// seconds given as the first argument (default: until Ctrl-C).
const seconds = Number(Deno.args[0] ?? "Infinity");
using b = await BPF.load({ file: new URL("./probe.bpf.c", import.meta.url) });
const counts = b.map("counts");
for (let t = 0; t < seconds; t++) {
  await new Promise((r) => setTimeout(r, 1000));
  for (const [pid, n] of counts.entries()) console.log(\`pid \${pid}: \${n} execve\`);
}
`,
    "README.md":
      `# ${clean}\n\nA BPF probe. Run it with \`bpfpm run ${clean}\`.\n`,
  };
  for (const [rel, text] of Object.entries(files)) {
    writeFileSync(join(dir, rel), text);
  }
  return Object.keys(files);
}
