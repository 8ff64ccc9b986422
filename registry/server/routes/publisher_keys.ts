/**
 * Publisher keys (`/-/bpfpm/v1/keys`): a user registers the ed25519 key that signs
 * their packages (with a proof of possession), lists them, and revokes them. A signed
 * publish is checked here against the registered keys.
 *
 * @module
 */
import { keyProblem } from "../../common/publisher_signature.ts";
import { json, readObject } from "../_http.ts";
import { RegistryError } from "../../common/errors.ts";
import type { Registry, RequestContext, Route } from "../_context.ts";
import {
  type PublisherKeyRow,
  StoreConflictError,
  type StoreTx,
  type UserRow,
} from "../store.ts";

/** A signed publish must not use a key registered to someone else, or a revoked one. */
export async function checkSigningKey(
  tx: StoreTx,
  user: UserRow,
  keyid: string,
): Promise<void> {
  const k = await tx.getPublisherKey(keyid);
  if (!k) return;
  if (k.username !== user.name) {
    throw new RegistryError(
      403,
      `The package is signed with publisher key ${keyid}, which is registered to ${k.username}: sign it with your own key (bpfpm publish uses the key in your config dir)`,
      { code: "foreign-publisher-key" },
    );
  }
  if (k.revoked) {
    throw new RegistryError(
      403,
      `The package is signed with publisher key ${keyid}, which you revoked on ${k.revoked}: move publisher_ed25519.pem out of your config dir so bpfpm makes a new key, and publish again`,
      { code: "revoked-publisher-key" },
    );
  }
}

function keyJson(k: PublisherKeyRow): Record<string, unknown> {
  return {
    keyid: k.keyid,
    key: k.key,
    user: k.username,
    created: k.created,
    ...(k.revoked ? { revoked: k.revoked } : {}),
  };
}

/** The publisher key routes. */
export function publisherKeyRoutes(registry: Registry): Route[] {
  const { store } = registry;

  async function list(ctx: RequestContext): Promise<Response> {
    const user = ctx.url.searchParams.get("user");
    if (!user) {
      throw new RegistryError(
        400,
        "Say whose keys to list: /-/bpfpm/v1/keys?user=NAME",
      );
    }
    if (!(await store.getUser(user))) {
      return json(404, { error: `No user named ${user}` });
    }
    const keys = await store.listPublisherKeys(user);
    return json(200, { user, keys: keys.map(keyJson) });
  }

  async function get(ctx: RequestContext): Promise<Response> {
    const keyid = ctx.params.keyid;
    const k = await store.getPublisherKey(keyid);
    if (!k) {
      return json(404, { error: `No publisher key ${keyid} is registered` });
    }
    if (k.revoked) {
      return json(410, {
        ...keyJson(k),
        error:
          `Publisher key ${keyid} was revoked by ${k.username} on ${k.revoked}`,
      });
    }
    return json(200, keyJson(k));
  }

  async function register(ctx: RequestContext): Promise<Response> {
    const keyid = ctx.params.keyid;
    const auth = await registry.requireUser(ctx.req, true);
    const body = await readObject(ctx.req, 64 * 1024);
    if (body.keyid !== undefined && body.keyid !== keyid) {
      throw new RegistryError(
        400,
        `The body names key ${
          JSON.stringify(body.keyid)
        } but the URL names ${keyid}`,
      );
    }
    if (typeof body.key !== "string" || typeof body.proof !== "string") {
      throw new RegistryError(
        400,
        'Send { keyid, key, proof }: key is the SPKI public key in base64, proof its signature of "bpfpm publisher key <keyid> belongs to <user>" (bpfpm publish sends both)',
      );
    }
    const problem = keyProblem(keyid, body.key, auth.user.name, body.proof);
    if (problem) throw new RegistryError(400, problem);
    const row: PublisherKeyRow = {
      keyid,
      key: body.key,
      username: auth.user.name,
      created: registry.now().toISOString(),
      revoked: null,
    };
    const attempt = () =>
      store.transaction(async (tx) => {
        const k = await tx.getPublisherKey(keyid);
        if (!k) {
          await tx.insertPublisherKey(row);
          return { status: 201, k: row };
        }
        if (k.username !== auth.user.name) {
          throw new RegistryError(
            409,
            `Publisher key ${keyid} is registered to another user: a key belongs to one user, so make your own (move publisher_ed25519.pem out of your config dir)`,
            { code: "key-taken" },
          );
        }
        if (k.revoked) {
          throw new RegistryError(
            410,
            `Publisher key ${keyid} was revoked on ${k.revoked} and cannot be registered again: move publisher_ed25519.pem out of your config dir so bpfpm makes a new key`,
            { code: "key-revoked" },
          );
        }
        return { status: 200, k };
      });
    // Two registrations of one new key race on the primary key: the loser reads the winner.
    const r = await attempt().catch((e) => {
      if (e instanceof StoreConflictError) return attempt();
      throw e;
    });
    return json(r.status, keyJson(r.k));
  }

  async function revoke(ctx: RequestContext): Promise<Response> {
    const keyid = ctx.params.keyid;
    const auth = await registry.requireUser(ctx.req, true);
    const r = await store.transaction(async (tx) => {
      const k = await tx.getPublisherKey(keyid);
      if (!k) {
        throw new RegistryError(404, `No publisher key ${keyid} is registered`);
      }
      if (k.username !== auth.user.name && !auth.user.admin) {
        throw new RegistryError(
          403,
          `Publisher key ${keyid} belongs to ${k.username}: only they (or an admin) can revoke it`,
        );
      }
      const at = registry.now().toISOString();
      await tx.revokePublisherKey(keyid, at);
      return { ...k, revoked: k.revoked ?? at };
    });
    return json(200, keyJson(r));
  }

  return [
    { method: "GET", path: "/-/bpfpm/v1/keys", handler: list },
    { method: ["GET", "HEAD"], path: "/-/bpfpm/v1/keys/:keyid", handler: get },
    { method: "PUT", path: "/-/bpfpm/v1/keys/:keyid", handler: register },
    { method: "DELETE", path: "/-/bpfpm/v1/keys/:keyid", handler: revoke },
  ];
}
