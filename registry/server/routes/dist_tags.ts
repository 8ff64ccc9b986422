/**
 * Dist-tags: list, read, set and remove (`npm dist-tag`). Tags are own keys of a
 * null-prototype record, so a tag named `constructor` is just a tag.
 *
 * @module
 */
import { json, readJson } from "../_http.ts";
import { ownRecord, tagProblem } from "../_publish.ts";
import { RegistryError } from "../../common/errors.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";
import { tagOf } from "./packages.ts";

/** The dist-tag routes. */
export function distTagRoutes(registry: Registry): Route[] {
  const { store } = registry;

  async function list(ctx: RequestContext): Promise<Response> {
    const { pkg: name, tag } = ctx.params;
    const pkg = await store.getPackage(name);
    if (!pkg) return json(404, { error: `Package ${name} not found` });
    return json(200, tag ? tagOf(pkg.distTags, tag) ?? null : pkg.distTags);
  }

  async function change(ctx: RequestContext): Promise<Response> {
    const { req } = ctx;
    const { pkg: name, tag } = ctx.params;
    const auth = await registry.requireUser(req, true);
    let version: string | undefined;
    if (req.method === "DELETE") {
      if (tag === "latest") {
        throw new RegistryError(
          400,
          "The latest tag cannot be removed: point it elsewhere",
        );
      }
    } else {
      const v = await readJson(req, 4096);
      if (typeof v !== "string") {
        throw new RegistryError(
          400,
          "The body must be a JSON string: the version",
        );
      }
      version = v;
      const p = tagProblem(tag);
      if (p) throw new RegistryError(400, p);
    }
    const tags = await store.transaction(async (tx) => {
      const pkg = await registry.requireOwner(tx, auth, name);
      const versions = await tx.getVersions(name);
      const t = ownRecord(pkg.distTags);
      if (version !== undefined) {
        if (!versions.some((v) => v.version === version)) {
          throw new RegistryError(
            400,
            `Version ${version} of ${name} is not published`,
          );
        }
        t[tag] = version;
      } else {
        if (!Object.hasOwn(t, tag)) {
          throw new RegistryError(404, `${name} has no tag ${tag}`);
        }
        delete t[tag];
      }
      await registry.save(
        tx,
        name,
        pkg.created,
        pkg.rev,
        t,
        pkg.owners,
        versions,
      );
      return t;
    });
    return json(200, tags);
  }

  return [
    { method: "GET", path: "/-/package/:pkg/dist-tags", handler: list },
    { method: "GET", path: "/-/package/:pkg/dist-tags/:tag", handler: list },
    {
      method: ["PUT", "POST", "DELETE"],
      path: "/-/package/:pkg/dist-tags/:tag",
      handler: change,
    },
  ];
}
