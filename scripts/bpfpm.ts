/**
 * The `bpfpm` command: the package client (install, run, publish, …) and, as
 * `bpfpm registry …`, the registry server. Run `bpfpm --help`. This is the one place
 * that composes the two: neither registry/client nor registry/server imports the other,
 * and the server loads only when `bpfpm registry` runs.
 *
 * @module
 */
import { main } from "../registry/client/cli.ts";
import { importLater } from "../runtime/_import_later.ts";

if (import.meta.main) {
  Deno.exit(
    await main(Deno.args, {
      registry: async (args) =>
        await (await importLater<typeof import("../registry/server/cli.ts")>(
          new URL("../registry/server/cli.ts", import.meta.url),
        )).registryCommand(args),
    }),
  );
}
