/**
 * BPF C that does not compile: clang's diagnostics, mapped to where the C sits in the
 * user's TypeScript file.
 *
 * @module
 */
import { BpfError } from "../errors.ts";

/**
 * One clang diagnostic, its position already mapped into the user's file.
 *
 * @example Print clang's diagnostics
 * ```ts
 * import { BPF, CompileError } from "bpf";
 * try {
 *   await BPF.load({ text: "int broken(" });
 * } catch (e) {
 *   if (e instanceof CompileError) {
 *     for (const d of e.diagnostics) console.error(`${d.file}:${d.line}:${d.column} ${d.severity}: ${d.message}`);
 *   }
 * }
 * ```
 */
export interface Diagnostic {
  /** The user's file (the .ts holding the C) for the main source, else the header's path. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  /** "error", "fatal error", "warning", "note" or "remark". */
  severity: string;
  /** clang's message, e.g. "use of undeclared identifier 'x'". */
  message: string;
}

/**
 * Where a source rewriter moved text, for the lines it changed: by 1-based line (a string
 * key), segments `[column, line, column, copied]` sorted by column, each saying that from
 * that column of the compiled line on, the text came from that line and column of the C as
 * written. Copied text (`1`) advances both columns together; generated text (`0`) maps every
 * column to where the construct it replaced starts. A line not listed is unchanged.
 *
 * @example A call the rewriter lengthened by 16 characters at column 5
 * ```ts
 * import type { PositionMap } from "./compile_error.ts";
 * const positions: PositionMap = { "3": [[1, 3, 1, 1], [5, 3, 5, 0], [29, 3, 13, 1]] };
 * console.log(positions["3"].length);
 * ```
 */
export type PositionMap = Record<string, [number, number, number, 0 | 1][]>;

/** The line and column of the C as written that compiled `line`:`column` came from. */
function unmove(
  positions: PositionMap | undefined,
  line: number,
  column: number,
): { line: number; column: number } {
  const segments = positions?.[line];
  if (!segments?.length) return { line, column };
  let s = segments[0];
  for (const x of segments) if (x[0] <= column) s = x;
  return {
    line: s[1],
    column: s[3] ? s[2] + Math.max(0, column - s[0]) : s[2],
  };
}

/** Where the C source sits in the user's file. */
export interface SourceMapping {
  /** The C file name clang was given (diagnostics naming it are mapped). */
  name: string;
  /** The user's file to report instead (default: `name`). */
  file?: string;
  /** The line of `file` that holds the C's line 1 (default 1). */
  lineOffset?: number;
  /** The column of `file` where the C's line 1 starts (default 1). */
  columnOffset?: number;
  /**
   * The C as written in `file` (a template literal's raw text), when it differs from the
   * compiled text by escapes such as `\\n`: columns are then counted in the raw text.
   */
  raw?: string;
  /**
   * The C as the user wrote it (escapes processed), shown under a diagnostic on a line a
   * rewriter changed when `raw` is not known.
   */
  source?: string;
  /** Where a rewriter moved the C's text (positions are mapped back through it first). */
  positions?: PositionMap;
}

/** How many raw characters the escape at raw[i] (a backslash) spans. */
function escapeLength(raw: string, i: number): number {
  const c = raw[i + 1];
  if (c === "x") return 4;
  if (c === "u") {
    if (raw[i + 2] === "{") {
      const end = raw.indexOf("}", i);
      return end < 0 ? 2 : end - i + 1;
    }
    return 6;
  }
  return 2;
}

/** The raw column (1-based) of cooked column `column` on a raw line; undefined if unknown. */
function rawColumn(rawLine: string, column: number): number | undefined {
  let i = 0;
  for (let cooked = 1; cooked < column; cooked++) {
    if (i >= rawLine.length) return undefined;
    if (rawLine[i] === "$" && rawLine[i + 1] === "{") return undefined;
    i += rawLine[i] === "\\" ? escapeLength(rawLine, i) : 1;
  }
  return i + 1;
}

const DIAG =
  /^(.+?):(\d+):(\d+): (fatal error|error|warning|note|remark): (.*)$/;
const INCLUDED = /^(In file included from |\s+from )(.+?):(\d+)([:,])$/;
/** clang's caret line under a source snippet: `^`, with `~` ranges. */
const CARET = /^[ ~]*\^[ ~^]*$/;
const GENERATED = /^\d+ (error|warning)s? generated\.?$/;

/**
 * Maps clang's diagnostics text into the user's file: returns the parsed diagnostics and the
 * text with every position in the main source rewritten.
 */
export function mapDiagnostics(
  text: string,
  map: SourceMapping,
): { diagnostics: Diagnostic[]; text: string } {
  const file = map.file ?? map.name;
  const lineOffset = map.lineOffset ?? 1;
  const columnOffset = map.columnOffset ?? 1;
  const rawLines = map.raw?.split("\n");
  const sourceLines = map.source?.split("\n");
  const where = (compiledLine: number, compiledColumn: number) => {
    const { line, column } = unmove(
      map.positions,
      compiledLine,
      compiledColumn,
    );
    const rawLine = rawLines?.[line - 1];
    const raw = rawLine === undefined ? undefined : rawColumn(rawLine, column);
    // The user's line as written, for the snippet (the one its column counts in).
    const shown = raw === undefined ? sourceLines?.[line - 1] : rawLine;
    return { line, column: raw ?? column, shown };
  };
  const pos = (compiledLine: number, compiledColumn: number) => {
    const { line, column } = where(compiledLine, compiledColumn);
    return {
      line: lineOffset + line - 1,
      column: line === 1 ? columnOffset + column - 1 : column,
    };
  };
  const diagnostics: Diagnostic[] = [];
  const input = text.split("\n");
  const lines: string[] = [];
  for (let i = 0; i < input.length; i++) {
    const l = input[i];
    const d = DIAG.exec(l);
    if (d) {
      const main = d[1] === map.name;
      const p = main
        ? pos(Number(d[2]), Number(d[3]))
        : { line: Number(d[2]), column: Number(d[3]) };
      const diag = {
        file: main ? file : d[1],
        ...p,
        severity: d[4],
        message: d[5],
      };
      diagnostics.push(diag);
      lines.push(
        `${diag.file}:${diag.line}:${diag.column}: ${diag.severity}: ${diag.message}`,
      );
      // clang shows the compiled line under it, which on a rewritten line is not what the
      // user wrote: show the user's line and the caret where they wrote the token.
      const at = main && map.positions?.[d[2]]
        ? where(Number(d[2]), Number(d[3]))
        : undefined;
      if (
        at?.shown !== undefined && i + 2 < input.length &&
        !DIAG.test(input[i + 1]) && CARET.test(input[i + 2])
      ) {
        lines.push(at.shown, `${" ".repeat(at.column - 1)}^`);
        i += 2;
        // A fix-it hint under the caret belongs to the compiled line.
        const next = input[i + 1];
        if (
          next !== undefined && next.trim() && !DIAG.test(next) &&
          !INCLUDED.test(next) && !GENERATED.test(next)
        ) i++;
      }
      continue;
    }
    const inc = INCLUDED.exec(l);
    if (inc && inc[2] === map.name) {
      lines.push(`${inc[1]}${file}:${pos(Number(inc[3]), 1).line}${inc[4]}`);
      continue;
    }
    lines.push(l);
  }
  return { diagnostics, text: lines.join("\n") };
}

/**
 * BPF C that clang rejected. `message` shows the first errors as `file.ts:LINE:COL: error: …`
 * with their source lines; `diagnostics` has all of them parsed; `text` is clang's whole
 * output with positions mapped.
 *
 * @example Reporting a compile error
 * ```ts
 * import { compile, CompileError } from "./mod.ts";
 * try {
 *   await compile("int f( {", { file: "probe.ts", lineOffset: 10 });
 * } catch (e) {
 *   if (e instanceof CompileError) console.error(e.diagnostics[0].line); // 10
 * }
 * ```
 */
export class CompileError extends BpfError {
  /** Every diagnostic, positions mapped into the user's file. */
  readonly diagnostics: Diagnostic[];
  /** clang's complete output, positions mapped. */
  readonly text: string;
  #clang?: { text: string; name: string; positions?: PositionMap };

  /**
   * Makes the error; its message summarizes the first errors. Usually made by
   * {@linkcode CompileError.fromClang}.
   *
   * @param text clang's diagnostics, already mapped (see mapDiagnostics)
   * @param diagnostics the parsed diagnostics
   * @param options the cause, and clang's unmapped output with the C file name it used and the
   *   rewriter's position map (which let {@linkcode CompileError.prototype.at} map it again)
   */
  constructor(
    text: string,
    diagnostics: Diagnostic[],
    options?: ErrorOptions & {
      clang?: { text: string; name: string; positions?: PositionMap };
    },
  ) {
    super(summarize(text, diagnostics), options);
    this.name = "CompileError";
    this.diagnostics = diagnostics;
    this.text = text;
    this.#clang = options?.clang;
  }

  /**
   * The error for clang's output, positions mapped as `mapping` says. When the C is a
   * template literal at `mapping.file`'s lineOffset:columnOffset, columns follow its raw text.
   *
   * @example From clang's output
   * ```ts
   * import { CompileError } from "bpf";
   * const e = CompileError.fromClang("probe.c:3:5: error: use of undeclared identifier 'x'", { name: "probe.c" });
   * console.log(e.diagnostics[0].line); // 3
   * ```
   */
  static fromClang(clangText: string, mapping: SourceMapping): CompileError {
    const raw = mapping.raw ??
      (mapping.file && mapping.lineOffset
        ? rawLiteral(
          mapping.file,
          mapping.lineOffset,
          mapping.columnOffset ?? 1,
        )
        : undefined);
    const mapped = mapDiagnostics(clangText, { ...mapping, raw });
    return new CompileError(mapped.text, mapped.diagnostics, {
      clang: {
        text: clangText,
        name: mapping.name,
        positions: mapping.positions,
      },
    });
  }

  /**
   * The same error with positions mapped to where the C sits in `site.file`: for callers
   * that work out the C's place only once it failed (no recompile needed).
   *
   * @param site the user's file and where the C's first line starts in it (and, optionally,
   *   the C as the user wrote it, shown under errors on lines a rewriter changed)
   * @returns a new CompileError (this one if clang's output was not kept)
   *
   * @example Mapping after the fact
   * ```ts
   * import { compile, CompileError } from "./mod.ts";
   * try {
   *   await compile("int x = ;");
   * } catch (e) {
   *   if (e instanceof CompileError) {
   *     console.log(e.at({ file: "probe.ts", lineOffset: 4, columnOffset: 20 }).diagnostics[0]);
   *   }
   * }
   * ```
   */
  at(
    site: {
      file: string;
      lineOffset?: number;
      columnOffset?: number;
      source?: string;
    },
  ): CompileError {
    if (!this.#clang) return this;
    return CompileError.fromClang(this.#clang.text, {
      name: this.#clang.name,
      positions: this.#clang.positions,
      ...site,
    });
  }
}

/**
 * The raw text of the template literal starting at line:column of `file` (its content as
 * written, escapes unprocessed), or undefined when no template literal starts there.
 */
function rawLiteral(
  file: string,
  line: number,
  column: number,
): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return undefined;
  }
  let start = 0;
  for (let l = 1; l < line; l++) {
    start = text.indexOf("\n", start) + 1;
    if (start === 0) return undefined;
  }
  start += column - 1;
  if (text[start - 1] !== "`") return undefined;
  let end = start;
  while (end < text.length && text[end] !== "`") {
    end += text[end] === "\\" ? 2 : 1;
  }
  return text.slice(start, end);
}

const SHOWN = 3;

function summarize(text: string, diagnostics: Diagnostic[]): string {
  const errors = diagnostics.filter((d) => d.severity.endsWith("error"));
  const head = errors.length
    ? `BPF C source does not compile (${errors.length} error${
      errors.length === 1 ? "" : "s"
    }): fix the C code at the positions below`
    : "BPF C source does not compile: fix the C code (clang's output below)";
  // Each error with the source and caret lines clang printed under it.
  const blocks: string[] = [];
  let current: string[] | undefined;
  for (const l of text.split("\n")) {
    const d = DIAG.exec(l);
    if (d) {
      if (d[4].endsWith("error")) {
        if (blocks.length >= SHOWN) break;
        current = [l];
        blocks.push("");
      } else if (d[4] !== "note") {
        current = undefined;
      }
      if (d[4] === "note" && current) current.push(l);
    } else if (current && !GENERATED.test(l)) {
      if (l.trim() || current.length > 1) current.push(l);
    }
    if (current) blocks[blocks.length - 1] = current.join("\n").trimEnd();
  }
  const more = errors.length > SHOWN
    ? `\n(${errors.length - SHOWN} more: see the CompileError's text)`
    : "";
  return `${head}\n${blocks.length ? blocks.join("\n") : text.trim()}${more}`;
}

/** How the native library's message introduces what the compiler printed. */
const OUTPUT = "; the compiler's output: ";
const CRASHED = /^the compiler crashed \(signal (\d+)[^)]*\)/;
const LLVM_ERROR = /LLVM ERROR: (?:line (\d+): )?([^\n]*)/;
/** A crash stack's frame naming a place in the source: `2.\tfile:3:5: parsing function body 'f'`. */
const STACK_PLACE = /^\s*\d+\.\s+(.+?):(\d+):(\d+): (.*)$/gm;
const STACK_FUNCTION = /on function '@?([^']+)'/;
const ATOMIC = /\b__(?:sync|atomic)_\w+/;

/**
 * The error for a compile whose child died by a signal (`error` is the native library's
 * message, which ends with what the compiler printed): a CompileError at the construct the
 * compiler stopped at when its output names one, else one saying what it printed. Undefined
 * when the compiler did not crash (it could not run at all: the library is missing or damaged).
 *
 * @param error the native compile's error message
 * @param source the compiled C (the main file clang saw, after any prelude)
 * @param mapping where that C sits in the user's file
 */
export function crashError(
  error: string,
  source: string,
  mapping: SourceMapping,
): CompileError | undefined {
  const crashed = CRASHED.exec(error);
  if (!crashed) return undefined;
  const from = error.indexOf(OUTPUT);
  const output = from < 0 ? "" : error.slice(from + OUTPUT.length);
  const llvm = LLVM_ERROR.exec(output);
  const fn = STACK_FUNCTION.exec(output)?.[1];
  let place: { line: number; column: number } | undefined;
  let what = llvm?.[2]?.trim();
  // The first frame with a place is the innermost (e.g. the current parser token).
  for (const m of output.matchAll(STACK_PLACE)) {
    if (m[1] !== mapping.name) continue;
    place = { line: Number(m[2]), column: Number(m[3]) };
    what ??= m[4];
    break;
  }
  // The compiler's own command line is noise here (and long).
  const shown = output.replace(/^\s*0\.\s+Program arguments:.*\n?/m, "");
  const said = shown ? `The compiler's output:\n${shown}` : "";
  const lines = source.split("\n");
  if (!place && llvm?.[1] && Number(llvm[1]) <= lines.length) {
    // LLVM names only the line: point at the atomic it rejects, else the line's first token.
    const text = lines[Number(llvm[1]) - 1];
    const at = ATOMIC.exec(text)?.index ?? text.search(/\S|$/);
    place = { line: Number(llvm[1]), column: at + 1 };
  }
  if (!place && fn) {
    // Code generation names only the function: point at its definition.
    const def = new RegExp(`\\b${fn.replace(/\W/g, "")}\\s*\\(`);
    const line = lines.findIndex((l) => def.test(l));
    if (line >= 0) {
      place = { line: line + 1, column: lines[line].search(def) + 1 };
    }
  }
  const hint = /XADD/.test(what ?? "")
    ? 'LLVM 14 cannot use the result of a 32-bit atomic add: make the variable 64-bit (u64), drop the use of the result (call __sync_fetch_and_add as a statement), or compile for BPF CPU v3 (the default; cflags ["-mcpu=v3"])'
    : "change the construct it stopped at (the compiler's output is in the error's text)";
  const why = `the compiler crashed on this C (an LLVM 14 bug, signal ${
    crashed[1]
  }${fn ? `, in function ${fn}` : ""})${what ? `: ${what}` : ""}; ${hint}`;
  if (place) {
    return CompileError.fromClang(
      `${mapping.name}:${place.line}:${place.column}: fatal error: ${why}\n${said}`,
      mapping,
    );
  }
  return new CompileError(
    `fatal error: ${why}\n${said}`,
    [],
    { clang: { text: output, name: mapping.name } },
  );
}
