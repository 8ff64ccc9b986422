/**
 * The error of a BCC construct that cannot be rewritten into libbpf C.
 *
 * @module
 */

/**
 * A BCC construct the rewriter cannot translate: names the construct, where it is (line and
 * column in the C source as the user wrote it) and why.
 *
 * @example Reporting the construct and its line
 * ```ts
 * import { BccRewriteError, rewriteBcc } from "./mod.ts";
 * try {
 *   rewriteBcc(`BPF_HASH(counts);\nint f(void *ctx) { counts.frobnicate(1); return 0; }`);
 * } catch (e) {
 *   if (e instanceof BccRewriteError) console.error(e.line, e.construct, e.message);
 * }
 * ```
 */
export class BccRewriteError extends Error {
  /** The construct, e.g. `counts.frobnicate()` or `BPF_TABLE("extern", ...)`. */
  readonly construct: string;
  /** 1-based line in the C source. */
  readonly line: number;
  /** 1-based column in the C source. */
  readonly column: number;

  /**
   * @param message Why it cannot be rewritten and what to write instead.
   * @param options The construct, its position and an optional cause.
   */
  constructor(
    message: string,
    options: {
      construct: string;
      line: number;
      column: number;
      cause?: unknown;
    },
  ) {
    super(`Line ${options.line}:${options.column}: ${message}`, {
      cause: options.cause,
    });
    this.name = "BccRewriteError";
    this.construct = options.construct;
    this.line = options.line;
    this.column = options.column;
  }
}
