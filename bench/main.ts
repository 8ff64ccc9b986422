/**
 * Runs one benchmark by name: `deno task bench <name> [args...]` loads `bench/<name>.ts`
 * and calls its `main(args)`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync, readdirSync } from "node:fs";

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...rest] = Deno.args;
const known = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "main.ts" && !f.startsWith("_"))
  .map((f) => f.slice(0, -3));
if (!name || !existsSync(join(here, `${name}.ts`))) {
  console.error(
    `Unknown or missing benchmark ${JSON.stringify(name ?? "")}: use one of ${
      known.join(", ")
    } (deno task bench <name>)`,
  );
  Deno.exit(2);
}
const mod = await import(`./${name}.ts`);
Deno.exit((await mod.main(rest)) ?? 0);
