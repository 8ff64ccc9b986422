/**
 * Terminal output: notices on stderr, results on stdout, a progress bar only when stderr
 * is a terminal, and yes/no questions only when stdin is one.
 *
 * @module
 */

const enc = new TextEncoder();

/** A progress bar that draws only on a TTY. */
export interface Progress {
  /** Advances by one (or `n`) and redraws. */
  tick(n?: number): void;
  /** Grows the total. */
  grow(n: number): void;
  /** Clears the bar. */
  done(): void;
}

/**
 * Output for one command.
 *
 * @example
 * ```ts
 * import { Ui } from "./ui.ts";
 * const ui = new Ui();
 * const bar = ui.progress("fetch", 3);
 * bar.tick(); bar.tick(); bar.tick(); bar.done();
 * ui.out("done");
 * ```
 */
export class Ui {
  #tty: boolean;
  #stdinTty: boolean;
  #quiet: boolean;
  #confirmed = false;

  /**
   * Creates the output for one command.
   *
   * @param options `quiet` silences notices; `tty` overrides terminal detection
   */
  constructor(options: { quiet?: boolean; tty?: boolean } = {}) {
    this.#tty = options.tty ?? Deno.stderr.isTerminal();
    this.#stdinTty = options.tty ?? Deno.stdin.isTerminal();
    this.#quiet = options.quiet ?? false;
  }

  /** Whether stdin is a terminal (so questions can be asked). */
  get interactive(): boolean {
    return this.#stdinTty;
  }

  /** Prints a result line on stdout. */
  out(line: string): void {
    Deno.stdout.writeSync(enc.encode(line + "\n"));
  }

  /** Prints a notice on stderr (unless quiet). */
  info(line: string): void {
    if (!this.#quiet) Deno.stderr.writeSync(enc.encode(line + "\n"));
  }

  /** Prints a warning on stderr. */
  warn(line: string): void {
    Deno.stderr.writeSync(enc.encode(`warning: ${line}\n`));
  }

  /** Asks a yes/no question on the terminal; false when not interactive. */
  confirm(question: string): boolean {
    if (!this.#stdinTty) return false;
    const yes = confirm(question);
    this.#confirmed ||= yes;
    return yes;
  }

  /** Whether the user answered yes to a question of this command. */
  get confirmed(): boolean {
    return this.#confirmed;
  }

  /**
   * Asks for a line on the terminal and shows what is typed (a user name).
   *
   * @returns the answer, or undefined when stdin is not a terminal or at end of input
   */
  ask(question: string): string | undefined {
    if (!this.#stdinTty) return undefined;
    return prompt(question)?.trim() || undefined;
  }

  /**
   * Asks for a secret on the terminal with echo off: nothing typed is shown (not even
   * stars), backspace edits, Enter ends, Ctrl-C and Ctrl-D cancel. The terminal's mode is
   * restored however the read ends.
   *
   * @returns the secret, or undefined when stdin is not a terminal or the user cancelled
   */
  async secret(question: string): Promise<string | undefined> {
    if (!this.#stdinTty) return undefined;
    const bytes: number[] = [];
    let cancelled = false;
    // Echo goes off before the question shows, so an answer typed at once is not shown.
    Deno.stdin.setRaw(true);
    try {
      Deno.stderr.writeSync(enc.encode(`${question} `));
      const buf = new Uint8Array(256);
      read: for (;;) {
        const n = await Deno.stdin.read(buf);
        if (n === null) {
          cancelled = bytes.length === 0;
          break;
        }
        for (const b of buf.subarray(0, n)) {
          if (b === 0x0d || b === 0x0a) break read;
          if (b === 0x03 || (b === 0x04 && !bytes.length)) {
            cancelled = true;
            break read;
          }
          if (b === 0x7f || b === 0x08) {
            // Drop one whole UTF-8 character.
            while (bytes.length && (bytes.pop()! & 0xc0) === 0x80) {
              /* tail */
            }
          } else if (b >= 0x20) bytes.push(b);
        }
      }
    } finally {
      Deno.stdin.setRaw(false);
      Deno.stderr.writeSync(enc.encode("\n"));
    }
    return cancelled ? undefined : new TextDecoder().decode(
      new Uint8Array(bytes),
    );
  }

  /** A progress bar labelled `label` over `total` steps. */
  progress(label: string, total: number): Progress {
    let n = 0;
    let last = 0;
    const draw = (force = false) => {
      if (!this.#tty || this.#quiet) return;
      const now = performance.now();
      if (!force && now - last < 50) return;
      last = now;
      const width = 24;
      const filled = total ? Math.round((n / total) * width) : width;
      const bar = "#".repeat(filled) + "-".repeat(width - filled);
      Deno.stderr.writeSync(enc.encode(`\r${label} [${bar}] ${n}/${total}`));
    };
    return {
      tick: (k = 1) => {
        n += k;
        draw(n >= total);
      },
      grow: (k) => {
        total += k;
        draw();
      },
      done: () => {
        if (this.#tty && !this.#quiet) {
          Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
        }
      },
    };
  }
}
