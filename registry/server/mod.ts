/**
 * The bpfpm registry server: an npm-compatible registry for probe packages.
 *
 * @example Start one in-process
 * ```ts
 * import { startRegistry } from "./mod.ts";
 * const reg = await startRegistry({ port: 0, db: ":memory:" });
 * await reg.close();
 * ```
 *
 * @module
 */
export {
  defaultDbPath,
  openStore,
  registryCommand,
  type RunningRegistry,
  startRegistry,
  type StartRegistryOptions,
} from "./cli.ts";
export {
  createRegistryHandler,
  RegistryError,
  type RegistryHandler,
  type RegistryHandlerOptions,
} from "./handler.ts";
export {
  connectPostgresStore,
  openSqliteStore,
  type SqlDialect,
  SqlStore,
} from "./sql_store.ts";
export type { Store, StoreTx } from "./store.ts";
