/**
 * Errors the registry server and the client share: a signature that does not verify
 * (the registry refuses such a publish, the client such an install).
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
