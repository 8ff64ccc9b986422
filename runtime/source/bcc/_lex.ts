/**
 * A C tokenizer for the BCC passes: identifiers, numbers, literals, punctuators and whole
 * preprocessor lines, each with its offsets in the text; comments and whitespace are skipped.
 * Also the structural queries the passes share (balanced groups, top-level functions).
 *
 * @module
 */

/** One token. */
export interface Token {
  /** `id` identifier, `num` number, `str` string, `chr` character, `p` punctuator, `pp` directive. */
  k: "id" | "num" | "str" | "chr" | "p" | "pp";
  /** The token's text. */
  t: string;
  /** Offset of its first character. */
  s: number;
  /** Offset just past it. */
  e: number;
}

const PUNCT3 = ["<<=", ">>=", "..."];
const PUNCT2 = [
  "->",
  "++",
  "--",
  "<<",
  ">>",
  "<=",
  ">=",
  "==",
  "!=",
  "&&",
  "||",
  "+=",
  "-=",
  "*=",
  "/=",
  "%=",
  "&=",
  "|=",
  "^=",
  "##",
];

/** Tokenizes C. Unterminated comments and literals end at the end of the text (or line). */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let lineStart = true;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === "\n") {
      lineStart = true;
      i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "/") {
      const end = text.indexOf("\n", i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === "#" && lineStart) {
      let j = i;
      while (j < n) {
        if (text[j] === "\n" && text[j - 1] !== "\\") break;
        if (text[j] === "/" && text[j + 1] === "*") {
          const end = text.indexOf("*/", j + 2);
          j = end < 0 ? n : end + 2;
          continue;
        }
        j++;
      }
      out.push({ k: "pp", t: text.slice(i, j), s: i, e: j });
      i = j;
      continue;
    }
    lineStart = false;
    if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < n && /[\w$]/.test(text[j])) j++;
      out.push({ k: "id", t: text.slice(i, j), s: i, e: j });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(text[i + 1] ?? ""))) {
      let j = i + 1;
      while (
        j < n &&
        (/[\w.]/.test(text[j]) ||
          ((text[j] === "+" || text[j] === "-") && /[eEpP]/.test(text[j - 1])))
      ) j++;
      out.push({ k: "num", t: text.slice(i, j), s: i, e: j });
      i = j;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && text[j] !== c && text[j] !== "\n") {
        j += text[j] === "\\" ? 2 : 1;
      }
      j = Math.min(j + 1, n);
      out.push({
        k: c === '"' ? "str" : "chr",
        t: text.slice(i, j),
        s: i,
        e: j,
      });
      i = j;
      continue;
    }
    const three = text.slice(i, i + 3);
    const two = text.slice(i, i + 2);
    const p = PUNCT3.includes(three) ? three : PUNCT2.includes(two) ? two : c;
    out.push({ k: "p", t: p, s: i, e: i + p.length });
    i += p.length;
  }
  return out;
}

const OPEN: Record<string, string> = { "(": ")", "[": "]", "{": "}" };

/** Index of the token closing the group opened at `open`, or -1. */
export function matching(tokens: Token[], open: number): number {
  const close = OPEN[tokens[open].t];
  const stack: string[] = [close];
  for (let i = open + 1; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.k !== "p") continue;
    if (OPEN[t.t]) stack.push(OPEN[t.t]);
    else if (t.t === ")" || t.t === "]" || t.t === "}") {
      if (stack.pop() !== t.t) return -1;
      if (!stack.length) return i;
    }
  }
  return -1;
}

/** The top-level comma-separated token ranges `[from, to)` between `open` and its match. */
export function splitArgs(
  tokens: Token[],
  open: number,
  close: number,
): Array<[number, number]> {
  const args: Array<[number, number]> = [];
  let depth = 0;
  let from = open + 1;
  for (let i = open + 1; i < close; i++) {
    const t = tokens[i];
    if (t.k !== "p") continue;
    if (OPEN[t.t]) depth++;
    else if (t.t === ")" || t.t === "]" || t.t === "}") depth--;
    else if (t.t === "," && depth === 0) {
      args.push([from, i]);
      from = i + 1;
    }
  }
  if (close > open + 1) args.push([from, close]);
  return args;
}

/** The source text of tokens `[from, to)`. */
export function textOf(
  text: string,
  tokens: Token[],
  from: number,
  to: number,
): string {
  if (to <= from) return "";
  return text.slice(tokens[from].s, tokens[to - 1].e);
}

/** A parameter of a function. */
export interface Param {
  /** The declared type, e.g. `struct sock *`. */
  type: string;
  /** Its name ("" when unnamed). */
  name: string;
  /** `X` when the type is a single pointer to `struct X`. */
  struct?: string;
}

/** A function definition (or a `MACRO(...) {` probe form) at the top level. */
export interface FunctionDef {
  /** Its name (for a probe macro, the macro's name). */
  name: string;
  /** Token index where its declaration starts (specifiers, SEC(...), return type). */
  declStart: number;
  /** Token index of the name. */
  nameIndex: number;
  /** Token index of the `(` of the parameter list. */
  open: number;
  /** Token index of its `)`. */
  close: number;
  /** Token index of the body's `{`. */
  bodyOpen: number;
  /** Token index of the body's `}`. */
  bodyClose: number;
  /** The parameters. */
  params: Param[];
  /** The section given with SEC("...") in the declaration, if any. */
  section?: string;
  /** Whether it is declared `static`. */
  isStatic: boolean;
}

/** Parses one parameter declaration. */
export function parseParam(
  text: string,
  tokens: Token[],
  from: number,
  to: number,
): Param {
  const words = tokens.slice(from, to);
  let nameAt = -1;
  for (let i = words.length - 1; i >= 0; i--) {
    if (words[i].k === "id") {
      nameAt = i;
      break;
    }
    if (words[i].t !== "]" && words[i].t !== "[" && words[i].k !== "num") break;
  }
  const typeWords = words.slice(0, nameAt < 0 ? words.length : nameAt);
  const hasType = typeWords.some((w) => w.k === "id");
  const name = hasType && nameAt >= 0 ? words[nameAt].t : "";
  const type = name
    ? textOf(text, tokens, from, from + nameAt)
    : textOf(text, tokens, from, to);
  const m = /^(?:const\s+|volatile\s+)*struct\s+([A-Za-z_]\w*)\s*\*$/.exec(
    type.trim(),
  );
  return { type: type.trim(), name, struct: m?.[1] };
}

/** The top-level function definitions, in order. */
export function functions(text: string, tokens: Token[]): FunctionDef[] {
  const out: FunctionDef[] = [];
  let declStart = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.k === "pp") {
      declStart = i + 1;
      continue;
    }
    if (t.t === ";" || t.t === "}") {
      declStart = i + 1;
      continue;
    }
    if (t.t === "{") {
      // A struct/union/enum/initializer body at the top level: skip it.
      const end = matching(tokens, i);
      if (end < 0) return out;
      i = end;
      if (tokens[i + 1]?.t !== ";" && tokens[i + 1]?.k !== "id") {
        declStart = i + 1;
      }
      continue;
    }
    if (t.t === "(" || t.t === "[") {
      const end = matching(tokens, i);
      if (end < 0) return out;
      const prev = tokens[i - 1];
      if (
        t.t === "(" && prev?.k === "id" && tokens[end + 1]?.t === "{" &&
        !["SEC", "__attribute__", "sizeof", "typeof", "__typeof__"].includes(
          prev.t,
        )
      ) {
        const bodyOpen = end + 1;
        const bodyClose = matching(tokens, bodyOpen);
        if (bodyClose < 0) return out;
        const decl = textOf(text, tokens, declStart, i - 1);
        const section = /\bSEC\s*\(\s*"([^"]*)"\s*\)/.exec(decl)?.[1];
        const params = splitArgs(tokens, i, end).map(([a, b]) =>
          parseParam(text, tokens, a, b)
        ).filter((p) => !(p.type === "void" && !p.name));
        out.push({
          name: prev.t,
          declStart,
          nameIndex: i - 1,
          open: i,
          close: end,
          bodyOpen,
          bodyClose,
          params,
          section,
          isStatic: /\bstatic\b/.test(decl),
        });
        i = bodyClose;
        declStart = i + 1;
        continue;
      }
      i = end;
    }
  }
  return out;
}

/** 1-based line and column of an offset. */
export function lineCol(
  text: string,
  offset: number,
): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** A replacement of `[start, end)` of the text. */
export type { Edit } from "../_positions.ts";
