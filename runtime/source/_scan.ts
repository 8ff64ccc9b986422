/**
 * Lexical helpers for rewriting C: a mask that blanks comments and literals (same length,
 * same newlines), and macro-call lookup on it.
 *
 * @module
 */

/**
 * `text` with comments and the contents of string and character literals replaced by spaces
 * (newlines kept), so that searches never match inside them. Offsets are unchanged.
 */
export function maskC(text: string): string {
  const out = text.split("");
  let i = 0;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== "\n") {
        j += text[j] === "\\" ? 2 : 1;
      }
      blank(i + 1, Math.min(j, text.length));
      i = j + 1;
    } else {
      i++;
    }
  }
  return out.join("");
}

/** A macro-style call found in the source. */
export interface Call {
  /** Offset of the name. */
  start: number;
  /** Offset just past the closing parenthesis. */
  end: number;
  /** The arguments, trimmed, as written in the original text. */
  args: string[];
}

/** Every call `name(...)` outside comments and literals, with top-level-comma arguments. */
export function findCalls(text: string, masked: string, name: string): Call[] {
  const calls: Call[] = [];
  const re = new RegExp(`\\b${name}\\s*\\(`, "g");
  for (const m of masked.matchAll(re)) {
    const start = m.index;
    let depth = 0;
    let argStart = start + m[0].length;
    const args: string[] = [];
    let end = -1;
    for (let i = argStart - 1; i < masked.length; i++) {
      const c = masked[i];
      if (c === "(" || c === "[" || c === "{") depth++;
      else if (c === ")" || c === "]" || c === "}") {
        depth--;
        if (depth === 0) {
          args.push(text.slice(argStart, i).trim());
          end = i + 1;
          break;
        }
      } else if (c === "," && depth === 1) {
        args.push(text.slice(argStart, i).trim());
        argStart = i + 1;
      }
    }
    if (end > 0) calls.push({ start, end, args });
  }
  return calls;
}

/** Replaces `[start, end)` with `replacement` padded with the newlines it removed. */
export function spliceKeepingLines(
  text: string,
  start: number,
  end: number,
  replacement: string,
): string {
  const removed = text.slice(start, end).split("\n").length - 1;
  const added = replacement.split("\n").length - 1;
  const pad = "\n".repeat(Math.max(0, removed - added));
  return text.slice(0, start) + replacement + pad + text.slice(end);
}
