/**
 * Request and response helpers every resource module uses: JSON and HTML answers,
 * bounded body reads, strict query parameters, `If-None-Match`.
 *
 * @module
 */
import { parseJson } from "./_publish.ts";
import { Buffer } from "node:buffer";
import { RegistryError } from "../common/errors.ts";

/** `application/json` with its charset. */
export const JSON_TYPE = "application/json; charset=utf-8";
/** npm's abbreviated packument type. */
export const ABBREV_TYPE = "application/vnd.npm.install-v1+json; charset=utf-8";

/** A JSON answer. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
  });
}

/** An HTML answer under a strict content security policy. */
export function html(body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
      "x-content-type-options": "nosniff",
    },
  });
}

/** Whether an `If-None-Match` header (a list, weak or strong) names `etag`. */
export function etagMatches(header: string | null, etag: string): boolean {
  if (!header) return false;
  if (header === etag || header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/** Refuses a body whose declared length is over `max` before any of it is read. */
export function checkDeclaredLength(req: Request, max: number): void {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > max) {
    throw new RegistryError(
      413,
      `The request body is over the ${max}-byte limit`,
    );
  }
}

/**
 * Reads a request body up to `max` bytes; with `timeoutMs`, a body that has not
 * arrived whole by then is refused (408), so a stalled upload cannot hold a publish turn.
 */
export async function readBody(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<Uint8Array> {
  checkDeclaredLength(req, max);
  if (!req.body) return new Uint8Array();
  const reader = req.body.getReader();
  let timedOut = false;
  const timer = timeoutMs
    ? setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => {});
    }, timeoutMs)
    : undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((cause) => {
        throw new RegistryError(
          400,
          "The request body could not be read: the client closed the connection; send it again",
          { cause },
        );
      });
      if (done) break;
      total += value.length;
      if (total > max) {
        reader.cancel().catch(() => {});
        throw new RegistryError(
          413,
          `The request body is over the ${max}-byte limit`,
        );
      }
      chunks.push(value);
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) {
    throw new RegistryError(
      408,
      `The request body did not arrive within ${
        timeoutMs / 1000
      } s: send it without pauses`,
    );
  }
  const out = Buffer.concat(chunks, total);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Reads a JSON body (see {@linkcode parseJson}: depth-capped, null-prototype objects). */
export async function readJson(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<unknown> {
  const bytes = await readBody(req, max, timeoutMs);
  return parseJson(new TextDecoder().decode(bytes), "The request body");
}

/** Reads a JSON object body. */
export async function readObject(
  req: Request,
  max: number,
  timeoutMs = 0,
): Promise<Record<string, unknown>> {
  const v = await readJson(req, max, timeoutMs);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new RegistryError(400, "The request body must be a JSON object");
  }
  return v as Record<string, unknown>;
}

/** A whole-number query parameter (a count or an offset), or a 400 naming it. */
export function countParam(url: URL, name: string, fallback: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^[0-9]{1,9}$/.test(raw)) {
    throw new RegistryError(
      400,
      `${name}=${
        raw.slice(0, 40)
      } is not a whole number below 1000000000: give ${name} as digits, such as ${name}=${fallback}`,
    );
  }
  return Number(raw);
}
