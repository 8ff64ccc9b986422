/**
 * Domain errors of the bpfpm client. Each names its cause and the fix; the CLI prints
 * `error.message` and exits with a non-zero status.
 *
 * @module
 */
import { RegistryError, SignatureError } from "../common/errors.ts";

/** Why a registry request failed: the `code` of the client's `RegistryError`s. */
export type RegistryErrorCode =
  | "EUNREACHABLE"
  | "E404"
  | "EAUTH"
  | "EFORBIDDEN"
  | "EHTTP"
  | "EOFFLINE"
  | "ETIMEOUT"
  | "ETOOLARGE";

/**
 * A tarball's sha512 does not match the integrity the registry or the lockfile recorded.
 *
 * @example
 * ```ts
 * import { IntegrityError } from "./errors.ts";
 * const e = new IntegrityError("tcplife@1.0.0", "sha512-a", "sha512-b");
 * console.log(e.expected !== e.actual);
 * ```
 */
export class IntegrityError extends Error {
  /** `name@version` of the package. */
  readonly spec: string;
  /** The integrity recorded by the registry or lockfile. */
  readonly expected: string;
  /** The integrity of the bytes received. */
  readonly actual: string;
  /**
   * Creates the error.
   *
   * @param spec `name@version`
   * @param expected the recorded integrity
   * @param actual the computed integrity
   */
  constructor(spec: string, expected: string, actual: string) {
    super(
      `Integrity mismatch for ${spec}: expected ${
        expected.slice(0, 24)
      }… but the tarball hashes to ${
        actual.slice(0, 24)
      }…; the registry or a proxy served altered bytes, nothing was installed (run bpfpm cache verify, then retry)`,
    );
    this.name = "IntegrityError";
    this.spec = spec;
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * No published version satisfies a range, or a dist-tag does not exist.
 *
 * @example
 * ```ts
 * import { ResolveError } from "./errors.ts";
 * const e = new ResolveError("tcplife", "^9", ["1.0.0"]);
 * console.log(e.available);
 * ```
 */
export class ResolveError extends Error {
  /** The package name. */
  readonly pkg: string;
  /** The range or tag asked for. */
  readonly range: string;
  /** The versions the registry has. */
  readonly available: string[];
  /**
   * Creates the error.
   *
   * @param pkg the package name
   * @param range the range or tag asked for
   * @param available the versions the registry has
   * @param options the cause
   */
  constructor(
    pkg: string,
    range: string,
    available: string[],
    options?: ErrorOptions,
  ) {
    const shown = available.slice(-8).join(", ") || "none";
    super(
      `No version of ${pkg} satisfies ${
        JSON.stringify(range)
      } (available: ${shown}); choose another range`,
      options,
    );
    this.name = "ResolveError";
    this.pkg = pkg;
    this.range = range;
    this.available = available;
  }
}

/**
 * The project state does not allow the operation: a frozen lockfile out of date, grants
 * not accepted, a package that is not installed, a manifest that is invalid.
 *
 * @example
 * ```ts
 * import { ClientError } from "./errors.ts";
 * throw new ClientError("ELOCKFILE", "bpfpm.lock is out of date with package.json; run bpfpm install without --frozen-lockfile");
 * ```
 */
export class ClientError extends Error {
  /** A short machine-readable code. */
  readonly code: string;
  /**
   * Creates the error.
   *
   * @param code a short machine-readable code
   * @param message what is wrong and what to do
   * @param options the cause
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
    this.code = code;
  }
}

/**
 * The configuration is invalid: a flag value, an environment variable or an rc file
 * entry. The CLI exits with status 2, as for any other usage error.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * throw new ConfigError("BPFPM_FETCH_TIMEOUT=soon is not a duration; use milliseconds (30000) or 30s");
 * ```
 */
export class ConfigError extends ClientError {
  /**
   * Creates the error.
   *
   * @param message which setting is wrong, where it was set, and what it accepts
   * @param options the cause
   */
  constructor(message: string, options?: ErrorOptions) {
    super("ECONFIG", message, options);
    this.name = "ConfigError";
  }
}

/**
 * The exit status docs/client.md gives for an expected failure: 2 for a usage or
 * configuration error, 1 for any other error of the client's own; undefined for an
 * unexpected error (a bug, which keeps its stack).
 *
 * @example
 * ```ts
 * import { ConfigError, exitCodeOf } from "./errors.ts";
 * exitCodeOf(new ConfigError("registry=foo is not a URL")); // 2
 * exitCodeOf(new Error("bug")); // undefined
 * ```
 */
export function exitCodeOf(error: unknown): 1 | 2 | undefined {
  if (error instanceof ConfigError) return 2;
  if (
    error instanceof ClientError || error instanceof RegistryError ||
    error instanceof IntegrityError || error instanceof ResolveError ||
    error instanceof SignatureError ||
    (error as Error)?.name === "TarballError"
  ) return 1;
  return undefined;
}
