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
    return confirm(question);
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
