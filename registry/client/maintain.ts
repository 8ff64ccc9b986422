/**
 * Package maintenance against an npm registry, the requests npm's own CLI sends:
 * `dist-tag` (add, rm, ls), `deprecate`, `owner` (add, rm, ls) and `unpublish`. Every
 * write reads the package document fresh (`?write=true`) and sends it back with its `_rev`,
 * so a concurrent change is refused by the registry instead of overwritten.
 *
 * @module
 */
import semver from "semver";
import { type ClientConfig, registryFor } from "./config.ts";
import { ClientError } from "./errors.ts";
import { packagePath, RegistryClient } from "./registry.ts";
import { parseSpec } from "./resolve.ts";

interface WriteDoc {
  _id: string;
  _rev: string;
  name: string;
  "dist-tags": Record<string, string>;
  versions: Record<string, Record<string, unknown>>;
  maintainers?: { name: string; email?: string }[];
  [key: string]: unknown;
}

async function readForWrite(
  client: RegistryClient,
  registry: string,
  name: string,
): Promise<WriteDoc> {
  const { body } = await client.json<WriteDoc>(
    registry,
    `${packagePath(name)}?write=true`,
    { what: `Package ${name}` },
  );
  if (typeof body._rev !== "string" || typeof body.versions !== "object") {
    throw new ClientError(
      "EHTTP",
      `${registry} sent ${name}'s document without a revision; it does not support changing packages`,
    );
  }
  return body;
}

async function writeBack(
  client: RegistryClient,
  registry: string,
  name: string,
  rev: string,
  body: Record<string, unknown>,
  what: string,
): Promise<void> {
  await client.json(
    registry,
    `${packagePath(name)}/-rev/${encodeURIComponent(rev)}`,
    { method: "PUT", body: JSON.stringify(body), what },
  );
}

// GET, PUT or DELETE on /-/package/NAME/dist-tags[/TAG]: the tags afterwards.
async function distTagRequest(
  config: ClientConfig,
  name: string,
  tag?: string,
  init: { method?: string; body?: string } = {},
): Promise<Record<string, string>> {
  const path = `-/package/${packagePath(name)}/dist-tags${
    tag === undefined ? "" : `/${encodeURIComponent(tag)}`
  }`;
  const { body } = await new RegistryClient(config).json<
    Record<string, string>
  >(registryFor(config, name), path, {
    ...init,
    what: tag === undefined ? `Package ${name}` : `Tag ${tag} of ${name}`,
  });
  return body;
}

/**
 * The package's dist-tags.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { distTagList } from "./maintain.ts";
 * console.log(await distTagList(loadConfig(), "tcplife")); // { latest: "1.2.0" }
 * ```
 */
export function distTagList(
  config: ClientConfig,
  name: string,
): Promise<Record<string, string>> {
  return distTagRequest(config, name);
}

/**
 * Points `tag` at a published version.
 *
 * @returns the package's tags afterwards
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { distTagAdd } from "./maintain.ts";
 * await distTagAdd(loadConfig(), "tcplife@1.0.0", "stable");
 * ```
 */
export async function distTagAdd(
  config: ClientConfig,
  spec: string,
  tag: string,
): Promise<Record<string, string>> {
  const { name, range, explicit } = parseSpec(spec);
  if (!explicit || !semver.valid(range)) {
    throw new TypeError(
      `dist-tag add needs an exact version: bpfpm dist-tag add ${name}@1.2.3 ${tag}`,
    );
  }
  if (!tag || semver.validRange(tag)) {
    throw new TypeError(
      `${
        JSON.stringify(tag)
      } cannot be a tag: a tag must not look like a version or range`,
    );
  }
  return await distTagRequest(config, name, tag, {
    method: "PUT",
    body: JSON.stringify(range),
  });
}

/**
 * Removes a dist-tag (`latest` cannot be removed, only moved).
 *
 * @returns the package's tags afterwards
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { distTagRemove } from "./maintain.ts";
 * await distTagRemove(loadConfig(), "tcplife", "beta");
 * ```
 */
export async function distTagRemove(
  config: ClientConfig,
  name: string,
  tag: string,
): Promise<Record<string, string>> {
  if (tag === "latest") {
    throw new TypeError(
      "The latest tag cannot be removed; move it with bpfpm dist-tag add NAME@VERSION latest",
    );
  }
  return await distTagRequest(config, name, tag, { method: "DELETE" });
}

/**
 * Marks every version matching the range (default: all) deprecated with `message`; an
 * empty message removes the deprecation.
 *
 * @returns the versions changed
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { deprecate } from "./maintain.ts";
 * await deprecate(loadConfig(), "tcplife@<1.1.0", "use 1.1.0: it fixes IPv6");
 * ```
 */
export async function deprecate(
  config: ClientConfig,
  spec: string,
  message: string,
): Promise<string[]> {
  const parsed = parseSpec(spec);
  const { name } = parsed;
  const range = parsed.explicit ? parsed.range : "*";
  if (!semver.validRange(range)) {
    throw new TypeError(
      `${
        JSON.stringify(range)
      } is not a version range; use ${name}@1.2.3 or ${name}@"<2"`,
    );
  }
  const registry = registryFor(config, name);
  const client = new RegistryClient(config);
  const doc = await readForWrite(client, registry, name);
  const matches = (v: string) =>
    semver.satisfies(v, range, { includePrerelease: true });
  const changed: string[] = [];
  for (const [v, m] of Object.entries(doc.versions)) {
    if (!matches(v)) continue;
    if ((m.deprecated ?? "") === message) continue;
    if (message) m.deprecated = message;
    else delete m.deprecated;
    changed.push(v);
  }
  if (!Object.keys(doc.versions).some(matches)) {
    throw new ClientError(
      "E404",
      `No version of ${name} matches ${range}; bpfpm info ${name} lists its versions`,
    );
  }
  if (changed.length) {
    await writeBack(client, registry, name, doc._rev, {
      _id: doc._id,
      _rev: doc._rev,
      name: doc.name,
      "dist-tags": doc["dist-tags"],
      versions: doc.versions,
    }, `Deprecation of ${spec}`);
  }
  return changed.sort(semver.compare);
}

/**
 * The package's owners (its maintainers).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { ownerList } from "./maintain.ts";
 * for (const o of await ownerList(loadConfig(), "tcplife")) console.log(o.name);
 * ```
 */
export async function ownerList(
  config: ClientConfig,
  name: string,
): Promise<{ name: string; email?: string }[]> {
  const registry = registryFor(config, name);
  const doc = await readForWrite(new RegistryClient(config), registry, name);
  return doc.maintainers ?? [];
}

async function changeOwners(
  config: ClientConfig,
  user: string,
  name: string,
  add: boolean,
): Promise<{ name: string; email?: string }[]> {
  if (!user) throw new TypeError("owner add/rm needs a user name");
  const registry = registryFor(config, name);
  const client = new RegistryClient(config);
  if (add) {
    const { status } = await client.json(
      registry,
      `-/user/org.couchdb.user:${encodeURIComponent(user)}`,
      { what: `User ${user}`, allow: [404] },
    );
    if (status === 404) {
      throw new ClientError(
        "E404",
        `${registry} has no user named ${user}; check the spelling`,
      );
    }
  }
  const doc = await readForWrite(client, registry, name);
  const before = doc.maintainers ?? [];
  const has = before.some((m) => m.name === user);
  if (add === has) return before;
  const after = add
    ? [...before, { name: user }]
    : before.filter((m) => m.name !== user);
  if (!after.length) {
    throw new TypeError(
      `${user} is ${name}'s only owner; add another owner first`,
    );
  }
  await writeBack(client, registry, name, doc._rev, {
    _id: doc._id,
    _rev: doc._rev,
    maintainers: after,
  }, `Owners of ${name}`);
  return after;
}

/**
 * Makes `user` an owner of the package (they may then publish, tag and unpublish it).
 *
 * @returns the owners afterwards
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { ownerAdd } from "./maintain.ts";
 * await ownerAdd(loadConfig(), "bob", "tcplife");
 * ```
 */
export function ownerAdd(
  config: ClientConfig,
  user: string,
  name: string,
): Promise<{ name: string; email?: string }[]> {
  return changeOwners(config, user, name, true);
}

/**
 * Removes `user` from the package's owners (never the last one).
 *
 * @returns the owners afterwards
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { ownerRemove } from "./maintain.ts";
 * await ownerRemove(loadConfig(), "bob", "tcplife");
 * ```
 */
export function ownerRemove(
  config: ClientConfig,
  user: string,
  name: string,
): Promise<{ name: string; email?: string }[]> {
  return changeOwners(config, user, name, false);
}

/**
 * Unpublishes one version (`name@version`), or with `force` the whole package (`name`).
 * A version's tags move to the newest version left.
 *
 * @returns the versions removed
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { unpublish } from "./maintain.ts";
 * await unpublish(loadConfig(), "tcplife@1.0.1");
 * ```
 */
export async function unpublish(
  config: ClientConfig,
  spec: string,
  options: { force?: boolean } = {},
): Promise<string[]> {
  const { name, range, explicit } = parseSpec(spec);
  const registry = registryFor(config, name);
  const client = new RegistryClient(config);
  const doc = await readForWrite(client, registry, name);
  const all = Object.keys(doc.versions).sort(semver.compare);
  if (!explicit) {
    if (!options.force) {
      throw new TypeError(
        `Unpublishing all of ${name} (${all.length} versions) needs --force; to remove one version: bpfpm unpublish ${name}@VERSION`,
      );
    }
    await client.json(
      registry,
      `${packagePath(name)}/-rev/${encodeURIComponent(doc._rev)}`,
      { method: "DELETE", what: `Unpublish of ${name}` },
    );
    return all;
  }
  if (!semver.valid(range)) {
    throw new TypeError(
      `unpublish takes one exact version: bpfpm unpublish ${name}@1.2.3`,
    );
  }
  if (!(range in doc.versions)) {
    throw new ClientError(
      "E404",
      `${name}@${range} is not published; bpfpm info ${name} lists its versions`,
    );
  }
  if (all.length === 1) {
    throw new TypeError(
      `${range} is ${name}'s only version; unpublish the whole package with bpfpm unpublish ${name} --force`,
    );
  }
  const versions = { ...doc.versions };
  delete versions[range];
  const left = Object.keys(versions).sort(semver.compare);
  const newest = left.filter((v) => !semver.prerelease(v)).at(-1) ??
    left.at(-1)!;
  const tags: Record<string, string> = {};
  for (const [t, v] of Object.entries(doc["dist-tags"])) {
    if (v !== range) tags[t] = v;
    else if (t === "latest") tags[t] = newest;
  }
  await writeBack(client, registry, name, doc._rev, {
    ...doc,
    "dist-tags": tags,
    versions,
  }, `Unpublish of ${spec}`);
  return [range];
}
