/**
 * Errors the registry server and the client share: a registry request refused or failed
 * ({@linkcode RegistryError}), and a signature that does not verify (the registry
 * refuses such a publish, the client such an install).
 *
 * @module
 */

/** Why `--require-signed` refused a package (see {@linkcode SignatureError.reason}). */
export type SignatureRefusal =
  | "unsigned"
  | "bad-signature"
  | "unknown-key"
  | "not-maintainer"
  | "revoked-key";

/**
 * A registry or publisher signature is missing, made by an unknown key, or does not verify.
 *
 * @example
 * ```ts
 * import { SignatureError } from "./errors.ts";
 * const e = new SignatureError("tcplife@1.0.0", "registry", "bad signature");
 * console.log(e.kind);
 * ```
 */
export class SignatureError extends Error {
  /** `name@version`. */
  readonly spec: string;
  /** Which signature failed. */
  readonly kind: "registry" | "publisher";
  /**
   * Why a publisher signature is refused under `--require-signed`: `unsigned`,
   * `bad-signature`, `unknown-key` (neither registered nor trusted), `not-maintainer`
   * (registered to someone who does not maintain the package) or `revoked-key`; undefined
   * for registry signatures.
   */
  readonly reason?: SignatureRefusal;
  /** The publisher key id concerned, when there is one. */
  readonly keyid?: string;
  /**
   * Creates the error.
   *
   * @param spec `name@version`
   * @param kind which signature failed
   * @param message what is wrong and what to do
   * @param options why, and the key concerned
   */
  constructor(
    spec: string,
    kind: "registry" | "publisher",
    message: string,
    options: { reason?: SignatureRefusal; keyid?: string; cause?: unknown } =
      {},
  ) {
    super(message, { cause: options.cause });
    this.name = "SignatureError";
    this.spec = spec;
    this.kind = kind;
    this.reason = options.reason;
    this.keyid = options.keyid;
  }
}

/**
 * A registry request refused or failed, on either side. The server answers with
 * `status` (the HTTP status) and `code` (a stable reason such as `manifest-confusion`);
 * the client throws it with the status the registry answered (0 when none came), `code`
 * the failure class (`E404`, `EAUTH`, `ETIMEOUT`, …) and `url` the URL requested.
 *
 * @example Telling a missing package from an auth failure
 * ```ts
 * import { RegistryError } from "./errors.ts";
 * try {
 *   throw new RegistryError(404, "Package nope not found", {
 *     code: "E404",
 *     url: "http://127.0.0.1:4873/nope",
 *   });
 * } catch (e) {
 *   if (e instanceof RegistryError && e.code === "E404") console.log(e.url);
 * }
 * ```
 */
export class RegistryError extends Error {
  /** The HTTP status (to answer with, or answered); 0 when no response came. */
  readonly status: number;
  /** A stable code, when there is one. */
  readonly code?: string;
  /** The URL requested, on the client. */
  readonly url?: string;
  /**
   * @param status The HTTP status.
   * @param message What is wrong and how to fix it.
   * @param options A code, the URL, and the underlying error.
   */
  constructor(
    status: number,
    message: string,
    options: { code?: string; url?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "RegistryError";
    this.status = status;
    this.code = options.code;
    this.url = options.url;
  }
}
