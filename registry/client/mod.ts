/**
 * The bpfpm client as a library: configuration, the registry client and cache,
 * resolution and the lockfile, atomic installs, running probes with their grants,
 * packing and publishing, and verification. `scripts/bpfpm.ts` is the CLI over it
 * (docs/client.md).
 *
 * @example Install a probe package and run it
 * ```ts
 * import { install, loadConfig, runPackage } from "./mod.ts";
 * const config = loadConfig({ registry: "http://127.0.0.1:4873/" });
 * await install(config, { add: ["tcplife@^1"], yes: true });
 * Deno.exitCode = await runPackage(config, "tcplife", [], { yes: true });
 * ```
 *
 * @module
 */
export {
  ATTACH_KINDS,
  type AttachGrant,
  type AttachKind,
  type Grants,
  RISKY_HELPERS,
  type RiskyHelper,
} from "../manifest.ts";
export type { TarballEntry } from "../pack/mod.ts";
export {
  type ClientConfig,
  type ConfigOptions,
  DEFAULT_FETCH_RETRIES,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_REGISTRY,
  loadConfig,
  nerfDart,
  normalizeRegistry,
  parseRc,
  registryFor,
  setUserRc,
  tokenFor,
  userCacheDir,
  userConfigDir,
} from "./config.ts";
export {
  ClientError,
  ConfigError,
  exitCodeOf,
  IntegrityError,
  type RegistryErrorCode,
  ResolveError,
} from "./errors.ts";
export {
  RegistryError,
  SignatureError,
  type SignatureRefusal,
} from "../common/errors.ts";
export { ContentCache, maskMode, writeEntries } from "./cache.ts";
export { integrityOf, sha512Hex, shasumOf } from "../common/digests.ts";
export {
  packagePath,
  type Packument,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryKey,
  type VersionManifest,
} from "./registry.ts";
export {
  type LockedBpf,
  type LockEntry,
  LOCKFILE,
  type Lockfile,
  lockMatches,
  readLockfile,
  writeLockfile,
} from "./lockfile.ts";
export { isPackageName, packageNameProblem } from "../common/names.ts";
export { stableStringify } from "../common/stable_json.ts";
export {
  MAX_PACKAGES,
  type PackageSpec,
  parseSpec,
  pickVersion,
  type ResolveOptions,
  resolveTree,
  validRange,
} from "./resolve.ts";
export { install, type InstallOptions, type InstallResult } from "./install.ts";
export { planRun, runPackage, type RunPlan } from "./run.ts";
export {
  bundleEntry,
  globToRegExp,
  pack,
  type PackResult,
  type PackSummary,
  publish,
  selectFiles,
  stopBundler,
} from "./publish.ts";
export { compileCheck, type CompileCheckResult } from "./compile_check.ts";
export {
  type AccountOptions,
  adduser,
  info,
  initPackage,
  type ListedPackage,
  listInstalled,
  login,
  logout,
  outdated,
  type OutdatedRow,
  search,
  type SearchHit,
  verifyInstalled,
  type VerifyProblem,
  whoami,
} from "./commands.ts";
export {
  deprecate,
  distTagAdd,
  distTagList,
  distTagRemove,
  ownerAdd,
  ownerList,
  ownerRemove,
  unpublish,
} from "./maintain.ts";
export { diffGrants, type GrantDiff, grantLines } from "./grants.ts";
export {
  publisherKey,
  setTrustedKeys,
  trustedKeys,
  verifyRegistrySignature,
} from "./signatures.ts";
export {
  keyidOf,
  type PublisherSignature,
  SIGNATURE_FILE,
  signPackage,
  verifyPublisherSignature,
} from "../common/publisher_signature.ts";
export {
  checkLauncher,
  commandName,
  DEFAULT_PREFIX,
  type GlobalLayout,
  globalLayout,
  removeLauncher,
  selfCommand,
  writeLauncher,
} from "./global.ts";
export { execPackage, execProjectDir } from "./exec.ts";
export {
  type Check,
  type CheckStatus,
  doctor,
  formatReport,
} from "./doctor.ts";
export {
  type CompletionCommand,
  completionScript,
  type Shell,
  SHELLS,
} from "./completion.ts";
export {
  findProjectDir,
  grantsDigest,
  isApproved,
  recordApprovals,
} from "./project.ts";
export { type Progress, Ui } from "./ui.ts";
export { main } from "./cli.ts";
