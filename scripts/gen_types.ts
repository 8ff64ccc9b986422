/**
 * `deno task gen-types <script.ts | probe.bpf.c | probe.bpf.o> [--out file.ts]` in a
 * checkout; the installed CLI's `bpfpm gen-types` runs the same code
 * (runtime/btf/gen_types_cli.ts).
 *
 * @module
 */
export {
  findBpfSource,
  main,
  SourceNotFoundError,
  typesFor,
} from "../runtime/btf/gen_types_cli.ts";
import { main } from "../runtime/btf/gen_types_cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args, "deno task gen-types"));
