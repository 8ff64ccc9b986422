/**
 * registry/client/_args.ts keeps node:util's parseArgs meaning (it replaces it on the CLI's
 * start): every input is parsed by both, with the CLI's own option tables, and the values,
 * positionals and error messages compared.
 */
import * as assert from "node:assert/strict";
import { parseArgs as nodeParseArgs } from "node:util";
import { type ArgOption, parseArgs } from "../../registry/client/_args.ts";

const OPTIONS: Record<string, ArgOption> = {
  registry: { type: "string" },
  help: { type: "boolean", short: "h" },
  quiet: { type: "boolean", short: "q" },
  global: { type: "boolean", short: "g" },
  prefix: { type: "string", short: "p" },
  yes: { type: "boolean", short: "y" },
  tag: { type: "string", multiple: true, short: "t" },
  flag: { type: "boolean", multiple: true, short: "f" },
};

const INPUTS: string[][] = [
  [],
  ["run", "pkg"],
  ["-y", "run"],
  ["--yes", "--quiet", "x"],
  ["--prefix", "/opt", "pkg"],
  ["--prefix=/opt", "pkg"],
  ["--prefix="],
  ["-p", "/opt"],
  ["-p/opt"],
  ["-yqg"],
  ["-ygp/opt"],
  ["-yp", "/opt"],
  ["-py"],
  ["--tag", "a", "-t", "b", "--tag=c", "-td"],
  ["-f", "--flag", "-ff"],
  ["-", "x"],
  ["--", "-y", "--nope"],
  ["a", "--", "b"],
  ["--prefix"],
  ["-p"],
  ["--yes=1"],
  ["--yes="],
  ["-y1"],
  ["--nope"],
  ["-z"],
  ["-yz"],
  ["--nope=1"],
  ["--prefix", "-y"],
  ["--prefix", "--yes"],
  ["-p", "-y"],
  ["--prefix=-y"],
  ["-p-y"],
  ["--prefix", "-"],
  ["--registry", "http://x/", "--registry", "http://y/"],
  ["---x"],
  ["--__proto__"],
  ["--constructor"],
  ["-h", "--help", "pos", "-q"],
  ["--y"],
];

function outcome(fn: () => { values: object; positionals: string[] }) {
  try {
    const { values, positionals } = fn();
    return { values: { ...values }, positionals };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

Deno.test("parseArgs agrees with node:util's on values, positionals and messages", () => {
  let errors = 0;
  for (const args of INPUTS) {
    const ours = outcome(() => parseArgs(args, OPTIONS));
    const node = outcome(() =>
      nodeParseArgs({
        args,
        options: OPTIONS,
        allowPositionals: true,
        strict: true,
      })
    );
    assert.deepEqual(ours, node, JSON.stringify(args));
    if ("error" in ours) errors++;
  }
  // The inputs reach every refusal, not only the happy paths.
  assert.ok(errors >= 10, `${errors} inputs were refused`);
});

Deno.test("bpfpm refuses a bad option with node's first sentence and the help hint", async () => {
  const cli = new URL("../../scripts/bpfpm.ts", import.meta.url);
  const config = new URL("../../deno.json", import.meta.url);
  for (
    const [args, message] of [
      [["run", "--nope"], "Unknown option '--nope'"],
      [["run", "--yes=1"], "Option '-y, --yes' does not take an argument"],
      [["run", "--prefix"], "Option '--prefix <value>' argument missing"],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        config.pathname,
        cli.pathname,
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.match(
      stderr,
      new RegExp(
        `^${
          message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
        }; bpfpm run --help shows the options$`,
        "m",
      ),
    );
  }
});
