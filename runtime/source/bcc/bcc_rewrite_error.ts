/**
 * The error of a BCC construct that cannot be rewritten into libbpf C.
 *
 * @module
 */

import { callerFrame, locateText } from "../../_location.ts";

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
  /** The .ts (or C) file the C sits in, when known; `line`/`column` are then that file's. */
  readonly file?: string;
  /** Why, without the position. */
  readonly reason: string;

  /**
   * Makes the error; the message starts with the position (`file:line:col:` or `Line L:C:`).
   *
   * @param message Why it cannot be rewritten and what to write instead.
   * @param options The construct, its position and an optional cause.
   */
  constructor(
    message: string,
    options: {
      construct: string;
      line: number;
      column: number;
      file?: string;
      cause?: unknown;
    },
  ) {
    const where = options.file
      ? `${options.file}:${options.line}:${options.column}`
      : `Line ${options.line}:${options.column}`;
    super(`${where}: ${message}`, { cause: options.cause });
    this.name = "BccRewriteError";
    this.construct = options.construct;
    this.line = options.line;
    this.column = options.column;
    this.file = options.file;
    this.reason = message;
  }

  /**
   * The same error at its place in the script whose template literal holds the C, when the
   * C can be found there (as `BPF.load({ text })` callers write it); else this error.
   *
   * @param source The C as the user wrote it.
   * @param stack A stack through the user's call (default: the current one).
   * @returns An error with `file`, and `line`/`column` in that file.
   */
  locate(source: string, stack = new Error().stack): BccRewriteError {
    if (this.file) return this;
    const frame = callerFrame(stack);
    if (!frame?.url.startsWith("file://")) return this;
    const file = decodeURIComponent(new URL(frame.url).pathname);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      return this;
    }
    const at = locateText(text, source, frame.line);
    if (!at) return this;
    const line = at.line + this.line - 1;
    // The literal search is loose on lines with `${`: check the construct is really there.
    const word = /[A-Za-z_]\w*/.exec(this.construct)?.[0] ?? "";
    if (!text.split("\n")[line - 1]?.includes(word)) return this;
    return new BccRewriteError(this.reason, {
      construct: this.construct,
      file,
      line,
      column: this.line === 1 ? at.column + this.column - 1 : this.column,
      cause: this.cause,
    });
  }
}
