/**
 * Orgs (`npm org`): list members, and set or remove one (an org's owner, or an admin
 * for a new org).
 *
 * @module
 */
import { json, readObject } from "../_http.ts";
import { RegistryError } from "../../common/errors.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";

/** The org routes. */
export function orgRoutes(registry: Registry): Route[] {
  const { store } = registry;

  async function members(ctx: RequestContext): Promise<Response> {
    const org = ctx.params.org;
    const list = await store.getOrgMembers(org);
    if (!list.length) return json(404, { error: `Org ${org} not found` });
    return json(200, Object.fromEntries(list.map((m) => [m.username, m.role])));
  }

  async function change(ctx: RequestContext): Promise<Response> {
    const { req } = ctx;
    const org = ctx.params.org;
    const members = await store.getOrgMembers(org);
    const auth = await registry.requireUser(req, true);
    const isOwner = members.some((m) =>
      m.username === auth.user.name && m.role === "owner"
    );
    if (!auth.user.admin && !isOwner) {
      throw new RegistryError(
        403,
        members.length
          ? `Only an owner of ${org} can change its members`
          : `Only an admin can create the org ${org}`,
      );
    }
    const body = await readObject(req, 64 * 1024);
    const user = String(body.user ?? "");
    if (!(await store.getUser(user))) {
      throw new RegistryError(400, `No user named ${JSON.stringify(user)}`);
    }
    if (!members.length && (await store.getUser(org))) {
      throw new RegistryError(
        409,
        `${org} is a user name: an org cannot take it`,
      );
    }
    if (req.method === "DELETE") {
      await store.transaction((tx) => tx.removeOrgMember(org, user));
      return new Response(null, { status: 204 });
    }
    const role = String(body.role ?? "developer");
    if (!["owner", "admin", "developer"].includes(role)) {
      throw new RegistryError(400, "role must be owner, admin or developer");
    }
    await store.transaction((tx) =>
      tx.setOrgMember({ org, username: user, role })
    );
    return json(200, { org: { name: org }, user, role });
  }

  return [
    { method: "GET", path: "/-/org/:org/user", handler: members },
    { method: ["PUT", "DELETE"], path: "/-/org/:org/user", handler: change },
  ];
}
