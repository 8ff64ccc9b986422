/**
 * Where each part of the rewritten C came from in the C as written, so that compiler
 * diagnostics on a line the rewriter changed get the user's column, not the rewritten one.
 *
 * @module
 */

/**
 * For each rewritten line whose text moved (by its 1-based number, as a string key), segments
 * `[column, line, column, copied]` sorted by rewritten column: from that rewritten column on,
 * the text came from that line and column of the source. Copied text (`1`) advances both
 * columns together; generated text (`0`) maps every column to where the construct it
 * replaced starts. A line not listed is the source's line of the same number, unchanged.
 * (This is the shape `compile()`'s `positions` option takes.)
 */
export type PositionMap = Record<string, [number, number, number, 0 | 1][]>;

/** One replacement: `[start, end)` of the current text becomes `text`. */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** `[g0, g1)` of the rewritten text came from `[o0, o1)` of the source. */
interface Piece {
  g0: number;
  g1: number;
  o0: number;
  o1: number;
  copied: boolean;
}

/**
 * Applies non-overlapping edits. A replacement that removes newlines gets them back at its
 * end, so the text keeps its line count and every line its number.
 */
function padded(text: string, edits: readonly Edit[]): Edit[] {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  return sorted.map((e) => {
    if (e.start < at) {
      throw new Error(
        `Internal error: overlapping BCC rewrites at offset ${e.start}; please report this with the program`,
      );
    }
    at = e.end;
    const removed = text.slice(e.start, e.end).split("\n").length - 1;
    const added = e.text.split("\n").length - 1;
    return { ...e, text: e.text + "\n".repeat(Math.max(0, removed - added)) };
  });
}

/** The rewrite's text and where its pieces came from, edit after edit. */
export class TrackedText {
  #text: string;
  #source: string;
  #pieces: Piece[];

  constructor(source: string) {
    this.#source = source;
    this.#text = source;
    this.#pieces = [{
      g0: 0,
      g1: source.length,
      o0: 0,
      o1: source.length,
      copied: true,
    }];
  }

  /** The current text. */
  get text(): string {
    return this.#text;
  }

  /** Replaces the whole text; the change is tracked as one edit (common prefix and suffix kept). */
  set text(next: string) {
    const before = this.#text;
    if (next === before) return;
    let p = 0;
    const max = Math.min(before.length, next.length);
    while (p < max && before[p] === next[p]) p++;
    let s = 0;
    while (
      s < max - p &&
      before[before.length - 1 - s] === next[next.length - 1 - s]
    ) s++;
    this.#apply([{
      start: p,
      end: before.length - s,
      text: next.slice(p, next.length - s),
    }], next);
  }

  /** Applies edits (offsets in the current text), keeping every line's number. */
  edit(edits: readonly Edit[]): void {
    const list = padded(this.#text, edits);
    let out = "";
    let at = 0;
    for (const e of list) {
      out += this.#text.slice(at, e.start) + e.text;
      at = e.end;
    }
    this.#apply(list, out + this.#text.slice(at));
  }

  /** The source offset that current offset `g` came from (for an edit's start or end). */
  #origin(g: number, end: boolean): number {
    for (const p of this.#pieces) {
      if (end ? g > p.g0 && g <= p.g1 : g >= p.g0 && g < p.g1) {
        if (!p.copied) return end ? p.o1 : p.o0;
        return p.o0 + (g - p.g0);
      }
    }
    return end || g > 0 ? this.#source.length : 0;
  }

  #apply(edits: readonly Edit[], next: string): void {
    const out: Piece[] = [];
    let delta = 0;
    let at = 0;
    const keep = (from: number, to: number) => {
      for (const p of this.#pieces) {
        const a = Math.max(from, p.g0);
        const b = Math.min(to, p.g1);
        if (a >= b) continue;
        out.push(
          p.copied
            ? {
              g0: a + delta,
              g1: b + delta,
              o0: p.o0 + (a - p.g0),
              o1: p.o0 + (b - p.g0),
              copied: true,
            }
            : { ...p, g0: a + delta, g1: b + delta },
        );
      }
    };
    for (const e of edits) {
      keep(at, e.start);
      const o0 = this.#origin(e.start, false);
      const o1 = e.end > e.start ? Math.max(o0, this.#origin(e.end, true)) : o0;
      if (e.text.length) {
        out.push({
          g0: e.start + delta,
          g1: e.start + delta + e.text.length,
          o0,
          o1,
          copied: false,
        });
      }
      delta += e.text.length - (e.end - e.start);
      at = e.end;
    }
    keep(at, this.#text.length);
    this.#pieces = out;
    this.#text = next;
  }

  /**
   * Where the text's generated tail starts: text appended after the whole source (event type
   * keepers, say), which has no place in the user's file.
   */
  generatedTail(): number {
    const last = this.#pieces.at(-1);
    return last && !last.copied && last.o0 === this.#source.length
      ? last.g0
      : this.#text.length;
  }

  /** The position map of the text's first `length` characters (see {@linkcode PositionMap}). */
  positions(length = this.#text.length): PositionMap {
    const starts = (s: string) => {
      const out = [0];
      for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) {
        out.push(i + 1);
      }
      return out;
    };
    const source = starts(this.#source);
    const where = (o: number): [number, number] => {
      let lo = 0;
      let hi = source.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (source[mid] <= o) lo = mid;
        else hi = mid - 1;
      }
      return [lo + 1, o - source[lo] + 1];
    };
    const map: PositionMap = {};
    const lines = starts(this.#text.slice(0, length));
    let k = 0;
    lines.forEach((start, i) => {
      const end = i + 1 < lines.length ? lines[i + 1] : length;
      const segments: [number, number, number, 0 | 1][] = [];
      while (k < this.#pieces.length && this.#pieces[k].g1 <= start) k++;
      for (let j = k; j < this.#pieces.length; j++) {
        const p = this.#pieces[j];
        if (p.g0 >= end && segments.length) break;
        const a = Math.max(start, p.g0);
        const [line, column] = where(p.copied ? p.o0 + (a - p.g0) : p.o0);
        segments.push([a - start + 1, line, column, p.copied ? 1 : 0]);
        if (p.g1 >= end) break;
      }
      const [first] = segments;
      const same = segments.length === 1 && first[0] === 1 &&
        first[1] === i + 1 && first[2] === 1 && first[3] === 1;
      if (!same && segments.length) map[i + 1] = segments;
    });
    return map;
  }
}
