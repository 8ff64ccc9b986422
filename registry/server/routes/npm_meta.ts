/**
 * The small npm endpoints: ping, the registry's signing keys (`npm audit signatures`),
 * empty audit answers, and the refusal of web login.
 *
 * @module
 */
import { json } from "../_http.ts";
import type { Registry, Route } from "../_context.ts";

/** The npm meta routes. */
export function npmMetaRoutes(registry: Registry): Route[] {
  const { signingKey } = registry;
  const empty = () => Promise.resolve(json(200, {}));
  return [
    { method: "*", path: "/-/ping", handler: empty },
    {
      method: "*",
      path: "/-/v1/login",
      handler: () =>
        Promise.resolve(
          json(404, { error: "Web login is not supported: use legacy login" }),
        ),
    },
    {
      method: "*",
      path: "/-/npm/v1/keys",
      handler: () =>
        Promise.resolve(json(200, {
          keys: [{
            expires: null,
            keyid: signingKey.keyid,
            keytype: "ecdsa-sha2-nistp256",
            scheme: "ecdsa-sha2-nistp256",
            key: signingKey.publicKey,
          }],
        })),
    },
    { method: "*", path: "/-/npm/v1/security/advisories/bulk", handler: empty },
    { method: "*", path: "/-/npm/v1/security/audits/quick", handler: empty },
  ];
}
