/**
 * `node:util`'s `parseArgs` in its strict form with positionals (what the `bpfpm` command
 * line uses), with Node's tokenising and Node's messages, so the CLI's start loads no
 * `node:*` module (runtime/_path.ts says what one costs). tests/client/args_test.ts checks
 * it against `node:util` on the same inputs.
 *
 * @module
 */

/** One option: boolean or string, an optional one-letter short form, repeatable or not. */
export interface ArgOption {
  /** A boolean takes no value; a string takes the next argument or `=value`. */
  type: "boolean" | "string";
  /** The one-letter short form (`-y`). */
  short?: string;
  /** Collect every occurrence in an array, rather than keep the last. */
  multiple?: boolean;
}

/** What {@linkcode parseArgs} returns. */
export interface ParsedArgs {
  /** Option values by long name: true for a boolean, the text for a string. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** The arguments that are not options, in order. */
  positionals: string[];
}

interface Token {
  name: string;
  rawName: string;
  value?: string;
  inlineValue?: boolean;
}

/**
 * Parses `args` against `options` as `node:util`'s
 * `parseArgs({ args, options, strict: true, allowPositionals: true })` does.
 *
 * @param args the arguments (without the command's name)
 * @param options the options by long name
 * @returns the values and the positionals
 * @throws {TypeError} with Node's message for an unknown option, a missing value, a value
 *   given to a boolean, or a value that looks like an option
 *
 * @example
 * ```ts
 * import { parseArgs } from "./_args.ts";
 * const { values, positionals } = parseArgs(["run", "-y", "--prefix=/opt"], {
 *   yes: { type: "boolean", short: "y" },
 *   prefix: { type: "string" },
 * });
 * console.log(values.yes, values.prefix, positionals); // true /opt ["run"]
 * ```
 */
export function parseArgs(
  args: readonly string[],
  options: Readonly<Record<string, ArgOption>>,
): ParsedArgs {
  const own = (name: string) =>
    Object.hasOwn(options, name) ? options[name] : undefined;
  const longOf = (short: string) =>
    Object.keys(options).find((k) => options[k].short === short) ?? short;
  const isString = (name: string) => own(name)?.type === "string";

  const tokens: Token[] = [];
  const positionals: string[] = [];
  const rest = [...args];
  // An option alone (-f, --foo): a string option takes the next argument as its value.
  const alone = (name: string, rawName: string) => {
    const takes = isString(name) && rest.length > 0;
    tokens.push({
      name,
      rawName,
      value: takes ? rest.shift() : undefined,
      inlineValue: takes ? false : undefined,
    });
  };
  // An option with its value in the same argument (-fVALUE, --foo=VALUE).
  const joined = (name: string, rawName: string, value: string) =>
    tokens.push({ name, rawName, value, inlineValue: true });
  while (rest.length) {
    const arg = rest.shift()!;
    if (arg === "--") {
      positionals.push(...rest);
      break;
    }
    if (arg.length === 2 && arg[0] === "-" && arg[1] !== "-") {
      alone(longOf(arg[1]), arg);
      continue;
    }
    if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
      const name = longOf(arg[1]);
      if (isString(name)) {
        joined(name, arg.slice(0, 2), arg.slice(2));
        continue;
      }
      // -abc is -a -b -c; a string option inside takes the rest as its value.
      const expanded: string[] = [];
      for (let i = 1; i < arg.length; i++) {
        if (!isString(longOf(arg[i])) || i === arg.length - 1) {
          expanded.push(`-${arg[i]}`);
        } else {
          expanded.push(`-${arg.slice(i)}`);
          break;
        }
      }
      rest.unshift(...expanded);
      continue;
    }
    if (arg.length > 2 && arg.startsWith("--")) {
      const eq = arg.indexOf("=", 3);
      if (eq < 0) alone(arg.slice(2), arg);
      else joined(arg.slice(2, eq), arg.slice(0, eq), arg.slice(eq + 1));
      continue;
    }
    positionals.push(arg);
  }

  const values: ParsedArgs["values"] = {};
  for (const t of tokens) {
    const o = own(t.name);
    if (!o) {
      throw new TypeError(
        `Unknown option '${t.rawName}'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${
          JSON.stringify(t.rawName)
        }`,
      );
    }
    const shortAndLong = `${o.short ? `-${o.short}, ` : ""}--${t.name}`;
    if (o.type === "string" && typeof t.value !== "string") {
      throw new TypeError(`Option '${shortAndLong} <value>' argument missing`);
    }
    if (o.type === "boolean" && t.value != null) {
      throw new TypeError(`Option '${shortAndLong}' does not take an argument`);
    }
    if (
      !t.inlineValue && t.value !== undefined && t.value.length > 1 &&
      t.value[0] === "-"
    ) {
      const example = t.rawName.startsWith("--")
        ? `'${t.rawName}=-XYZ'`
        : `'--${t.name}=-XYZ' or '${t.rawName}-XYZ'`;
      throw new TypeError(
        `Option '${t.rawName}' argument is ambiguous.\nDid you forget to specify the option argument for '${t.rawName}'?\nTo specify an option argument starting with a dash use ${example}.`,
      );
    }
    const value = t.value ?? true;
    if (o.multiple) {
      const list = values[t.name];
      values[t.name] = Array.isArray(list) ? [...list, value] : [value];
    } else values[t.name] = value;
  }
  return { values, positionals };
}
