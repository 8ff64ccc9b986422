/**
 * Package tarballs: {@linkcode inspectTarball} checks and reads one safely (the server at
 * publish, the client before it extracts); {@linkcode createTarball} builds one.
 *
 * @example
 * ```ts
 * import { createTarball, inspectTarball } from "./mod.ts";
 * const tgz = await createTarball({ "package.json": '{"name":"x","version":"1.0.0"}' });
 * const { packageJson, entries } = await inspectTarball(tgz);
 * ```
 *
 * @module
 */
export {
  DEFAULT_TARBALL_LIMITS,
  type InspectedTarball,
  inspectTarball,
  type TarballEntry,
  TarballError,
  type TarballErrorReason,
  type TarballLimits,
} from "./inspect_tarball.ts";
export { createTarball, type PackFile } from "./create_tarball.ts";
