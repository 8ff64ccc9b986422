/**
 * Users and tokens: sign-up and login (npm's CouchDB-style `PUT /-/user/...`, also with
 * Basic auth), whoami, a user's public record, and tokens (list, create, revoke).
 * Every password check is counted by the login limiter as it starts.
 *
 * @module
 */
import {
  hashPassword,
  newTokenSecret,
  sha256Hex,
  verifyPassword,
} from "../_crypto.ts";
import { json, readObject } from "../_http.ts";
import { RegistryError } from "../../common/errors.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";
import { StoreConflictError, type StoreTx, type UserRow } from "../store.ts";

/** The user and token routes. */
export function userRoutes(registry: Registry): Route[] {
  const { store, limiter } = registry;

  async function issueToken(tx: StoreTx, username: string, readonly: boolean) {
    const secret = newTokenSecret();
    const row = {
      key: crypto.randomUUID(),
      hash: sha256Hex(secret),
      username,
      readonly,
      created: registry.now().toISOString(),
    };
    await tx.insertToken(row);
    return { secret, row };
  }

  /** Counts a login attempt as it starts (a password check as a failure until it passes). */
  function startAttempt(ip: string, name?: string): void {
    const wait = limiter.start(ip, name);
    if (wait) {
      throw new RegistryError(
        429,
        `Too many login attempts: wait ${Math.ceil(wait / 1000)} s`,
      );
    }
  }

  async function checkPassword(
    ip: string,
    name: string,
    password: string,
    user: UserRow,
  ) {
    startAttempt(ip, name);
    if (!(await verifyPassword(password, user.passwordHash))) {
      throw new RegistryError(401, "Wrong user name or password");
    }
    limiter.succeeded(ip, name);
  }

  function loggedIn(name: string, secret: string): Response {
    return json(201, {
      ok: true,
      id: `org.couchdb.user:${name}`,
      rev: "1",
      token: secret,
    });
  }

  async function login(ctx: RequestContext): Promise<Response> {
    const { req, ip } = ctx;
    const name = ctx.params.name;
    const body = await readObject(req, 64 * 1024);
    const password = body.password;
    if (typeof password !== "string") {
      throw new RegistryError(400, "A password is required");
    }
    if (body.name !== undefined && body.name !== name) {
      throw new RegistryError(
        400,
        "The user name in the body differs from the URL",
      );
    }
    const existing = await store.getUser(name);
    if (existing) {
      await checkPassword(ip, name, password, existing);
      const { secret } = await store.transaction((tx) =>
        issueToken(tx, name, false)
      );
      return loggedIn(name, secret);
    }
    startAttempt(ip);
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) {
      throw new RegistryError(
        400,
        "A user name is 1-64 lowercase letters, digits, '.', '_' or '-'",
      );
    }
    if (password.length < 8) {
      throw new RegistryError(400, "A password needs at least 8 characters");
    }
    const requester = await registry.authenticate(req).catch(() => null);
    if (!registry.signup && !requester?.user.admin) {
      throw new RegistryError(
        403,
        "Sign-up is closed on this registry: ask an admin for an account",
      );
    }
    const passwordHash = await hashPassword(password);
    const email = typeof body.email === "string"
      ? body.email.slice(0, 256)
      : null;
    try {
      const { secret } = await store.transaction(async (tx) => {
        if ((await tx.getOrgMembers(name)).length) {
          throw new RegistryError(
            409,
            `${name} is an org name: choose another user name`,
          );
        }
        const first = (await tx.countUsers()) === 0 &&
          registry.admins.size === 0;
        await tx.createUser({
          name,
          email,
          passwordHash,
          admin: registry.admins.has(name) || first,
          created: registry.now().toISOString(),
        });
        return await issueToken(tx, name, false);
      });
      return loggedIn(name, secret);
    } catch (e) {
      if (e instanceof StoreConflictError) {
        throw new RegistryError(409, `User ${name} already exists`);
      }
      throw e;
    }
  }

  async function loginBasic(ctx: RequestContext): Promise<Response> {
    const { req, ip } = ctx;
    const name = ctx.params.name;
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
    if (!m) {
      throw new RegistryError(401, "Basic authentication is required here");
    }
    let decoded: string;
    try {
      decoded = atob(m[1]);
    } catch {
      throw new RegistryError(
        400,
        "Authorization: Basic must carry base64 of user:password",
      );
    }
    const [user, ...pw] = decoded.split(":");
    if (user !== name) {
      throw new RegistryError(401, "The user name differs from the URL");
    }
    const row = await store.getUser(name);
    if (!row) throw new RegistryError(401, "Wrong user name or password");
    await checkPassword(ip, name, pw.join(":"), row);
    const { secret } = await store.transaction((tx) =>
      issueToken(tx, name, false)
    );
    return loggedIn(name, secret);
  }

  async function getUser(ctx: RequestContext): Promise<Response> {
    const name = ctx.params.name;
    const u = await store.getUser(name);
    if (!u) return json(404, { error: `No user named ${name}` });
    return json(200, {
      _id: `org.couchdb.user:${name}`,
      name,
      email: u.email ?? "",
    });
  }

  async function whoami(ctx: RequestContext): Promise<Response> {
    const auth = await registry.requireUser(ctx.req, false);
    return json(200, { username: auth.user.name });
  }

  async function listTokens(ctx: RequestContext): Promise<Response> {
    const auth = await registry.requireUser(ctx.req, false);
    const list = await store.listTokens(auth.user.name);
    return json(200, {
      objects: list.map((t) => ({
        token: t.key.slice(0, 8),
        key: t.key,
        readonly: t.readonly,
        cidr_whitelist: [],
        created: t.created,
        updated: t.created,
      })),
      total: list.length,
      urls: {},
    });
  }

  async function createToken(ctx: RequestContext): Promise<Response> {
    const auth = await registry.requireUser(ctx.req, false);
    if (auth.readonly) {
      throw new RegistryError(403, "A read-only token cannot create tokens");
    }
    const body = await readObject(ctx.req, 64 * 1024);
    if (typeof body.password !== "string") {
      throw new RegistryError(400, "A password is required");
    }
    if (Array.isArray(body.cidr_whitelist) && body.cidr_whitelist.length) {
      throw new RegistryError(
        400,
        "CIDR-restricted tokens are not supported by this registry: create the token without --cidr",
      );
    }
    await checkPassword(ctx.ip, auth.user.name, body.password, auth.user);
    const { secret, row } = await store.transaction((tx) =>
      issueToken(tx, auth.user.name, body.readonly === true)
    );
    return json(201, {
      token: secret,
      key: row.key,
      readonly: row.readonly,
      cidr_whitelist: [],
      created: row.created,
      updated: row.created,
    });
  }

  async function revokeToken(ctx: RequestContext): Promise<Response> {
    const auth = await registry.requireUser(ctx.req, false);
    const ok = await store.transaction((tx) =>
      tx.deleteToken(auth.user.name, ctx.params.key)
    );
    if (!ok) throw new RegistryError(404, "No such token");
    return new Response(null, { status: 204 });
  }

  /** `npm logout`: the token itself names what to revoke. */
  async function logout(ctx: RequestContext): Promise<Response> {
    const auth = await registry.requireUser(ctx.req, false);
    await store.transaction((tx) =>
      tx.deleteToken(auth.user.name, sha256Hex(ctx.params.secret))
    );
    return json(200, { ok: true });
  }

  return [
    { method: "GET", path: "/-/whoami", handler: whoami },
    { method: "DELETE", path: "/-/user/token/:secret", handler: logout },
    {
      method: "PUT",
      path: "/-/user/org.couchdb.user::name",
      handler: login,
    },
    {
      method: "GET",
      path: "/-/user/org.couchdb.user::name",
      handler: getUser,
    },
    {
      method: "PUT",
      path: "/-/user/org.couchdb.user::name/-rev/:rev",
      handler: loginBasic,
    },
    { method: "GET", path: "/-/npm/v1/tokens", handler: listTokens },
    { method: "POST", path: "/-/npm/v1/tokens", handler: createToken },
    {
      method: "DELETE",
      path: "/-/npm/v1/tokens/token/:key",
      handler: revokeToken,
    },
  ];
}
