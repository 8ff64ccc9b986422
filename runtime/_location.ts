/**
 * Where a script's embedded C sits in its .ts file, so compile diagnostics point at the
 * user's file, line and column.
 *
 * @module
 */

const RUNTIME_DIR = new URL(".", import.meta.url).href;

/** Where the C starts: file path, 1-based line and column. */
export interface SourceSite {
  /** The script's path (or URL when it is not a file). */
  file: string;
  /** Line of the C's first character. */
  lineOffset: number;
  /** Column of the C's first character. */
  columnOffset: number;
}

/** The first stack frame outside runtime/: the script's call into the runtime. */
export function callerFrame(
  stack = new Error().stack ?? "",
): { url: string; line: number; column: number } | undefined {
  for (const line of stack.split("\n").slice(1)) {
    const m = /\(?((?:file|https?):\/\/[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m || m[1].startsWith(RUNTIME_DIR)) continue;
    if (
      m[1].endsWith("/mod.ts") &&
      new URL("../mod.ts", RUNTIME_DIR).href === m[1]
    ) continue;
    return { url: m[1], line: Number(m[2]), column: Number(m[3]) };
  }
  return undefined;
}

/**
 * Finds `text` as a template literal in `fileText`, preferring one at or after the call's
 * line: where its first character sits. A literal's source line is compared with the text's
 * line after cooking its escapes (`\\` → `\`); around `${}` the literal pieces must appear
 * in order. Only escapes that are not line-stable (`\n`, `\x..`, `\u....`) match loosely.
 */
export function locateText(
  fileText: string,
  text: string,
  fromLine: number,
): { line: number; column: number } | undefined {
  const fileLines = fileText.split("\n");
  const textLines = text.split("\n");
  const start = Math.max(0, Math.min(fromLine - 1, fileLines.length));
  const order = [
    ...fileLines.keys().drop(start),
    ...fileLines.keys().take(start),
  ];
  for (const i of order) {
    if (i + textLines.length > fileLines.length) continue;
    for (
      let tick = fileLines[i].indexOf("`");
      tick >= 0;
      tick = fileLines[i].indexOf("`", tick + 1)
    ) {
      if (!sameLine(fileLines[i].slice(tick + 1), textLines[0])) continue;
      let ok = true;
      for (let k = 1; k < textLines.length && ok; k++) {
        ok = sameLine(fileLines[i + k], textLines[k]);
      }
      if (ok) return { line: i + 1, column: tick + 2 };
    }
  }
  return undefined;
}

function sameLine(fileLine: string, textLine: string): boolean {
  const pieces = literalPieces(fileLine);
  if (pieces === undefined) return true;
  if (pieces.length === 1) return pieces[0] === textLine;
  const last = pieces[pieces.length - 1];
  if (!textLine.startsWith(pieces[0]) || !textLine.endsWith(last)) {
    return false;
  }
  let at = pieces[0].length;
  for (const piece of pieces.slice(1, -1)) {
    const i = textLine.indexOf(piece, at);
    if (i < 0) return false;
    at = i + piece.length;
  }
  return at <= textLine.length - last.length;
}

/**
 * The text a template literal's source line stands for, up to the literal's closing backtick,
 * split at its `${}` interpolations; undefined for escapes that change lines (`\n`, `\x..`).
 */
function literalPieces(line: string): string[] | undefined {
  const pieces = [""];
  const end = line.endsWith("\r") ? line.length - 1 : line.length;
  for (let i = 0; i < end; i++) {
    const c = line[i];
    if (c === "`") break;
    if (c === "$" && line[i + 1] === "{") {
      const close = line.indexOf("}", i);
      if (close < 0) return undefined;
      pieces.push("");
      i = close;
    } else if (c === "\\") {
      const next = line[++i];
      if (next === "t") pieces[pieces.length - 1] += "\t";
      else if (next !== undefined && "\\`$'\"".includes(next)) {
        pieces[pieces.length - 1] += next;
      } else return undefined;
    } else pieces[pieces.length - 1] += c;
  }
  return pieces;
}

/**
 * The site of `text` in the script that called the runtime. When the C is not a literal there
 * (read from a file, or built at run time), its own lines are named instead, in a file name
 * that says where it was passed: `<C text passed at /x/tool.ts:12>:71:3`.
 */
export function sourceSite(
  text: string,
  stack?: string,
): SourceSite | undefined {
  const frame = callerFrame(stack);
  if (!frame) return undefined;
  const own = (file: string): SourceSite => ({
    file: `<C text passed at ${file}:${frame.line}>`,
    lineOffset: 1,
    columnOffset: 1,
  });
  if (!frame.url.startsWith("file://")) return own(frame.url);
  const file = decodeURIComponent(new URL(frame.url).pathname);
  let fileText: string;
  try {
    fileText = Deno.readTextFileSync(file);
  } catch {
    return own(file);
  }
  const at = locateText(fileText, text, frame.line);
  return at
    ? { file, lineOffset: at.line, columnOffset: at.column }
    : own(file);
}
