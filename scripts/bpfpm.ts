/**
 * The `bpfpm` command: the package client (install, run, publish, …) and, as
 * `bpfpm registry …`, the registry server. Run `bpfpm --help`.
 *
 * @module
 */
import { main } from "../registry/client/cli.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
