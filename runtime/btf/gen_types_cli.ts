/**
 * `bpfpm gen-types <script.ts | probe.bpf.c | probe.bpf.o> [--out file.ts]` (and, in a
 * checkout, `deno task gen-types`): prints TypeScript interfaces for a probe's map
 * keys/values and the structs its C defines. It lives in the runtime, which the installed
 * bpfpm carries, so it works outside the repository.
 *
 * Where the C is found in a script: the template literal given as `text:` (the `BPF.load`
 * option; it must not interpolate `${...}`), else a `file:` option's path (a string, or
 * `new URL("...", import.meta.url)`), relative to the script. A `.c` file is read as is; a
 * `.o` file is used without compiling. The C goes through the same rewrite and compile as
 * `BPF.load`, so BCC's dialect works.
 *
 * @module
 */

import { definedStructs, generateTypes, typeAnchors } from "./gen_types.ts";

/** Thrown when no BPF C can be found in a script. */
export class SourceNotFoundError extends Error {
  /** The script searched. */
  readonly file: string;
  /**
   * @param message what was not found
   * @param options the file and cause
   */
  constructor(message: string, options: { file: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "SourceNotFoundError";
    this.file = options.file;
  }
}

const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  "0": "\0",
};

/** The cooked value of a template literal body without substitutions. */
function cook(raw: string): string {
  return raw.replace(
    /\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\r?\n|.)/g,
    (_, e: string) => {
      if (e[0] === "u") {
        return String.fromCodePoint(
          parseInt(e[1] === "{" ? e.slice(2, -1) : e.slice(1), 16),
        );
      }
      if (e[0] === "x") return String.fromCharCode(parseInt(e.slice(1), 16));
      if (e === "\n" || e === "\r\n") return "";
      return ESCAPES[e] ?? e;
    },
  );
}

/**
 * Finds the BPF C a TypeScript script passes to `BPF.load`.
 *
 * @param script the script's text
 * @param file the script's path, for messages and relative `file:` options
 * @returns the C and where it came from
 *
 * @example
 * ```ts
 * import { findBpfSource } from "./gen_types_cli.ts";
 * findBpfSource("BPF.load({ text: `int x;` })", "a.ts").text; // "int x;"
 * ```
 */
export function findBpfSource(
  script: string,
  file: string,
): { text?: string; path?: string } {
  const textAt = /\btext\s*:\s*(?:String\.raw\s*)?`/.exec(script);
  if (textAt) {
    const raw = textAt[0].includes("String.raw");
    let i = textAt.index + textAt[0].length;
    const start = i;
    for (; i < script.length && script[i] !== "`"; i++) {
      if (script[i] === "\\") i++;
      else if (script[i] === "$" && script[i + 1] === "{") {
        throw new SourceNotFoundError(
          `The BPF text in ${file} interpolates \${...}, which gen-types cannot evaluate: move the C to a .bpf.c file and pass file:, or run gen-types on the .c file`,
          { file },
        );
      }
    }
    const body = script.slice(start, i);
    return { text: raw ? body : cook(body) };
  }
  const fileAt = /\bfile\s*:\s*(?:new\s+URL\(\s*)?(["'])([^"']+)\1/.exec(
    script,
  );
  if (fileAt) {
    const dir = file.includes("/")
      ? file.slice(0, file.lastIndexOf("/") + 1)
      : "./";
    return { path: fileAt[2].startsWith("/") ? fileAt[2] : dir + fileAt[2] };
  }
  throw new SourceNotFoundError(
    `No BPF C found in ${file}: gen-types looks for BPF.load({ text: \`...\` }) or { file: "x.bpf.c" }`,
    { file },
  );
}

/**
 * Generates the types for a script, a C file or an object file.
 *
 * @param path `.ts`/`.js` script, `.c` source or `.o` object
 * @returns the TypeScript source
 *
 * @example
 * ```ts
 * import { typesFor } from "./gen_types_cli.ts";
 * console.log(await typesFor("examples/hello.ts"));
 * ```
 */
export async function typesFor(path: string): Promise<string> {
  if (path.endsWith(".o")) {
    return generateTypes(await Deno.readFile(path), { source: path });
  }
  let c: string;
  if (path.endsWith(".c")) c = await Deno.readTextFile(path);
  else {
    const found = findBpfSource(await Deno.readTextFile(path), path);
    c = found.text ?? await Deno.readTextFile(found.path!);
  }
  // Loaded lazily: the compiler needs the native library, the .o path does not.
  const { rewrite } = await import("../source/rewrite.ts");
  const { compile } = await import("../compile/mod.ts");
  const { object } = await compile(rewrite(c).text + typeAnchors(c), {
    file: path,
  });
  return generateTypes(object, { structs: definedStructs(c), source: path });
}

/**
 * The CLI: `<file> [--out out.ts]`.
 *
 * @param args command-line arguments
 * @param command how the usage line names the command
 * @returns the exit code
 *
 * @example
 * ```ts
 * import { main } from "./gen_types_cli.ts";
 * await main(["probe.bpf.o"]);
 * ```
 */
export async function main(
  args: string[],
  command = "bpfpm gen-types",
): Promise<number> {
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args[outAt + 1] : undefined;
  const files = outAt < 0
    ? args
    : args.filter((_, i) => i !== outAt && i !== outAt + 1);
  if (files.length !== 1 || (outAt >= 0 && !out)) {
    console.error(
      `usage: ${command} <script.ts | probe.bpf.c | probe.bpf.o> [--out types.ts]`,
    );
    return 2;
  }
  try {
    const ts = await typesFor(files[0]);
    if (out) await Deno.writeTextFile(out, ts);
    else console.log(ts);
    return 0;
  } catch (e) {
    console.error(`gen-types: ${(e as Error).message}`);
    return 1;
  }
}
