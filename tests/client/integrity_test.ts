/**
 * registry/common/integrity.ts (Web Crypto, no node:buffer) agrees with node: the async
 * integrity with digests.ts's node:crypto one, and sha512Hex with node:buffer's base64
 * decoding on well-formed and odd SRI strings alike.
 */
import * as assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { integrityOf } from "../../registry/common/digests.ts";
import {
  integrityOfBytes,
  sha512Hex,
} from "../../registry/common/integrity.ts";

/** sha512Hex as it was, on node:buffer. */
function nodeSha512Hex(integrity: string): string {
  const part = integrity.split(/\s+/).find((p) => p.startsWith("sha512-"));
  if (!part) throw new TypeError("no sha512");
  const hex = Buffer.from(part.slice(7), "base64").toString("hex");
  if (hex.length !== 128) throw new TypeError("malformed");
  return hex;
}

function outcome(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    return `${(e as Error).name}`;
  }
}

Deno.test("integrityOfBytes equals integrityOf, and sha512Hex decodes base64 as node:buffer does", async () => {
  const inputs: Uint8Array[] = [new Uint8Array()];
  for (let n = 1; n < 300; n += 37) {
    inputs.push(crypto.getRandomValues(new Uint8Array(n * 101)));
  }
  const integrities: string[] = [];
  for (const bytes of inputs) {
    const i = await integrityOfBytes(bytes);
    assert.equal(i, integrityOf(bytes));
    integrities.push(i);
  }
  const b64 = integrities[1].slice(7);
  const odd = [
    ...integrities,
    `sha1-abc ${integrities[2]}`,
    b64.replaceAll("+", "-").replaceAll("/", "_"),
    `sha512-${b64.replaceAll("+", "-").replaceAll("/", "_")}`,
    `sha512-${b64.replace(/=+$/, "")}`,
    `sha512-${b64.slice(0, 40)}*${b64.slice(40)}`,
    `sha512-${b64.slice(0, 40)}=${b64.slice(40)}`,
    `sha512-${b64.slice(0, -4)}`,
    `sha512-${b64}AAAA`,
    `sha512-${b64.slice(0, 86)}A`,
    "sha512-",
    "sha512-=",
    "md5-xyz",
    "",
  ];
  let refused = 0;
  for (const s of odd) {
    const ours = outcome(() => sha512Hex(s));
    assert.equal(ours, outcome(() => nodeSha512Hex(s)), JSON.stringify(s));
    if (ours === "TypeError") refused++;
  }
  assert.ok(refused >= 5, `${refused} refused`);
});
