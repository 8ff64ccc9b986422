/**
 * `bpfpm run <pkg|dir> [-- args]`: runs a probe package behind the sandbox
 * (runtime/sandbox/, docs/security.md). This process is the trusted side: it compiles,
 * checks grants, loads, attaches and drains; the package's code runs in a child with no
 * FFI, no subprocesses and no privileges. An installed package runs with the grants and
 * Deno flags recorded in bpfpm.lock at install, from files taken out of its verified
 * tarball (an installed or cached file edited since install is refused); a package
 * directory runs in place with its own manifest.
 *
 * @module
 */
import {
  isAbsolute,
  join,
  normalize,
  resolve,
  sep,
} from "../../runtime/_path.ts";
import { exists, fileHolds } from "../../runtime/_fs.ts";
import { denoFlagProblem } from "../common/deno_flags.ts";
import { validateGrants } from "../../runtime/policy/grants.ts";
import type { ClientConfig } from "./config.ts";
import { ClientError, ConfigError } from "./errors.ts";
import { explainGrant, grantLines } from "./grants.ts";
import { type LockedBpf, readLockfile } from "./lockfile.ts";
import { MODULES_DIR } from "./project.ts";
import { Ui } from "./ui.ts";
import type { SandboxRun } from "../../runtime/sandbox/host.ts";
import { importLater } from "../../runtime/_import_later.ts";

/** A probe ready to start. */
export interface RunPlan {
  /** The package directory (installed, or the one given). */
  dir: string;
  /** `name@version`. */
  spec: string;
  /** The package name. */
  name: string;
  /** The entry, relative to the package. */
  entry: string;
  /** The grants and Deno flags it runs with: the lockfile's for an installed package. */
  bpf: LockedBpf;
  /** An installed package's files, from its verified tarball. */
  files?: Map<string, Uint8Array>;
  /** An installed package's locked tarball integrity (a directory's plan has none). */
  integrity?: string;
}

function checkFlags(spec: string, deno: readonly string[] | undefined): void {
  for (const f of deno ?? []) {
    const problem = denoFlagProblem(f);
    if (problem) {
      throw new ClientError(
        "EMANIFEST",
        `${spec} declares a Deno flag bpfpm refuses: ${problem}`,
      );
    }
  }
}

function inside(dir: string, rel: string): string | undefined {
  const p = normalize(join(dir, rel));
  return p.startsWith(dir + sep) ? p : undefined;
}

/** An installed package's plan as the lockfile gives it, before its files are verified. */
function lockedPlan(config: ClientConfig, target: string): RunPlan {
  const dir = join(config.projectDir, MODULES_DIR, target);
  const lock = readLockfile(config.projectDir);
  const locked = lock?.packages[`${MODULES_DIR}/${target}`];
  if (!locked) {
    throw new ClientError(
      "ENOTINSTALLED",
      exists(join(dir, "package.json"))
        ? `${target} is in ${MODULES_DIR} but not in bpfpm.lock, so its grants are unknown: run bpfpm install ${target}`
        : `${target} is not installed in ${config.projectDir}; run bpfpm install ${target} first, or pass a package directory such as ./${target}`,
    );
  }
  const spec = `${locked.name}@${locked.version}`;
  if (!locked.bpf?.entry) {
    throw new ClientError(
      "ENOTPROBE",
      `${spec} has no bpf manifest, so it is not a probe package bpfpm can run`,
    );
  }
  checkFlags(spec, locked.bpf.deno);
  return {
    dir,
    spec,
    name: locked.name,
    entry: normalize(locked.bpf.entry),
    bpf: locked.bpf,
    integrity: locked.integrity,
  };
}

/**
 * An installed package's files, taken out of its cached tarball after checking the
 * tarball against the locked integrity and each installed file against the tarball;
 * undefined for a directory's plan (it runs in place).
 */
async function verifiedFiles(
  config: ClientConfig,
  plan: RunPlan,
  target: string,
): Promise<Map<string, Uint8Array> | undefined> {
  const { spec, dir, integrity } = plan;
  if (integrity === undefined) return undefined;
  // The cache and the tar reader load only for an installed package's run: a directory's
  // run starts without them.
  const [{ ContentCache }, { tarballFiles }] = await Promise.all([
    importLater<typeof import("./cache.ts")>(
      new URL("./cache.ts", import.meta.url),
    ),
    importLater<typeof import("./_tar_files.ts")>(
      new URL("./_tar_files.ts", import.meta.url),
    ),
  ]);
  const bytes = await new ContentCache(config.cacheDir).get(integrity);
  if (!bytes) {
    throw new ClientError(
      "EINTEGRITY",
      `${spec}'s tarball is missing from the cache or fails its locked sha512 integrity (edited since install?): run bpfpm install to fetch it again`,
    );
  }
  let files: Map<string, Uint8Array>;
  try {
    files = await tarballFiles(bytes);
  } catch (cause) {
    throw new ClientError(
      "EINTEGRITY",
      `${spec}'s cached tarball cannot be read (${
        (cause as Error).message
      }): run bpfpm install --force ${target} to fetch it again`,
      { cause },
    );
  }
  for (const rel of files.keys()) {
    if (rel.startsWith(`${MODULES_DIR}/`)) files.delete(rel);
  }
  for (const [rel, data] of files) {
    if (!fileHolds(join(dir, rel), data)) {
      throw new ClientError(
        "EINTEGRITY",
        `${spec}'s installed ${rel} differs from its locked tarball (changed since install): run bpfpm install --force ${target} to restore it, or bpfpm verify to see every change`,
      );
    }
  }
  if (!files.has(plan.entry)) {
    throw new ClientError(
      "EMANIFEST",
      `${spec}'s entry ${plan.bpf.entry} is missing from the package; reinstall it`,
    );
  }
  return files;
}

/**
 * The problems of the manifest parts a run reads (entry, grants, Deno flags), by the rules
 * that own them (runtime/policy/grants.ts, registry/common/deno_flags.ts); the whole schema,
 * whose compile costs a start ~60 ms, is publish's and install's.
 */
function runnableProblems(bpf: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof bpf.entry !== "string" || !bpf.entry) {
    out.push("bpf.entry: must be the entry file's path in the package");
  }
  if (bpf.grants !== undefined) {
    try {
      validateGrants(bpf.grants, "bpf.grants");
    } catch (e) {
      out.push((e as Error).message);
    }
  }
  if (bpf.deno !== undefined && !Array.isArray(bpf.deno)) {
    out.push("bpf.deno: must be an array of Deno flags");
  }
  for (const [i, f] of ((bpf.deno ?? []) as unknown[]).entries()) {
    const problem = denoFlagProblem(f as string);
    if (problem) out.push(`bpf.deno[${i}]: ${problem}`);
  }
  return out;
}

function planDirectory(dir: string): RunPlan {
  const pj = JSON.parse(Deno.readTextFileSync(join(dir, "package.json")));
  const spec = `${pj.name}@${pj.version}`;
  if (!pj.bpf) {
    throw new ClientError(
      "ENOTPROBE",
      `${spec} has no bpf manifest, so it is not a probe package bpfpm can run`,
    );
  }
  const problems = runnableProblems(pj.bpf);
  if (problems.length) {
    throw new ClientError(
      "EMANIFEST",
      `${spec} has an invalid bpf manifest: ${problems.join("; ")}`,
    );
  }
  const entry = inside(resolve(dir), pj.bpf.entry);
  if (!entry || !exists(entry) || !Deno.statSync(entry).isFile) {
    throw new ClientError(
      "EMANIFEST",
      `${spec}'s entry ${pj.bpf.entry} is missing from the package`,
    );
  }
  return {
    dir: resolve(dir),
    spec,
    name: pj.name,
    entry: normalize(pj.bpf.entry),
    bpf: { entry: pj.bpf.entry, grants: pj.bpf.grants, deno: pj.bpf.deno },
  };
}

/**
 * Works out how a package (installed name or directory) would run: its grants, flags and
 * files, after checking them.
 *
 * @param config the client configuration
 * @param target an installed package's name, or a package directory (`./x`, `/abs`)
 * @returns the plan
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { planRun } from "./run.ts";
 * const plan = await planRun(loadConfig(), "tcplife");
 * console.log(plan.spec, plan.bpf.grants);
 * ```
 */
export async function planRun(
  config: ClientConfig,
  target: string,
): Promise<RunPlan> {
  const plan = startPlan(config, target);
  plan.files = await verifiedFiles(config, plan, target);
  return plan;
}

/**
 * What a run needs to know before its child starts (entry, grants, Deno flags): a
 * directory's checked manifest, or an installed package's locked entry; planRun's first
 * half, without the installed files' integrity check.
 */
function startPlan(config: ClientConfig, target: string): RunPlan {
  if (typeof target !== "string" || !target) {
    throw new TypeError("run needs a package name or directory");
  }
  const asDir = isAbsolute(target) || target.startsWith(".")
    ? resolve(config.projectDir, target)
    : undefined;
  if (asDir && exists(join(asDir, "package.json"))) {
    return planDirectory(asDir);
  }
  return lockedPlan(config, target);
}

/**
 * Shows a probe's permissions, asks on a TTY (unless `yes`), and runs it behind the sandbox
 * to completion.
 *
 * @returns the probe's exit code
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { runPackage } from "./run.ts";
 * Deno.exitCode = await runPackage(loadConfig(), "tcplife", [], { yes: true });
 * ```
 */
export async function runPackage(
  config: ClientConfig,
  target: string,
  args: string[],
  options: { yes?: boolean; ui?: Ui } = {},
): Promise<number> {
  const ui = options.ui ?? new Ui();
  const plan = startPlan(config, target);
  const { runSandboxed } = await importLater<
    typeof import("../../runtime/sandbox/host.ts")
  >(new URL("../../runtime/sandbox/host.ts", import.meta.url));
  // The child starts held (host.ts): what must pass before the package's first line runs
  // is done while it starts.
  const result = await runSandboxed({
    ...sandboxRun(plan, args),
    admit: async () => {
      await checkKernel(plan.dir, ui);
      const files = await verifiedFiles(config, plan, target);
      const userPins = await namedPins(args);
      confirmGrants(plan, { yes: options.yes, ui });
      return { files, userPins };
    },
  });
  if (result.violation) ui.warn(result.violation);
  return result.code;
}

/**
 * Does this kernel have the tracepoints, functions and types a package names
 * (kernel_check.ts)? Throws EKERNEL naming what is missing; warns of missing optional ones.
 *
 * @param dir the package's directory (its plan's `dir`)
 * @param ui where the warnings go
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { checkKernel, planRun } from "./run.ts";
 * import { Ui } from "./ui.ts";
 * await checkKernel((await planRun(loadConfig(), "tcplife")).dir, new Ui());
 * ```
 */
export async function checkKernel(dir: string, ui: Ui): Promise<void> {
  const { packageKernelReport } = await importLater<
    typeof import("./kernel_check.ts")
  >(new URL("./kernel_check.ts", import.meta.url));
  const kernel = await packageKernelReport(dir);
  if (kernel.problems.length) {
    throw new ClientError("EKERNEL", kernel.problems.join("; "));
  }
  for (const line of kernel.notes) ui.warn(line);
}

/**
 * Shows what a probe may do, in plain words, and asks on a TTY (unless `yes`); throws when
 * the answer is no.
 *
 * @param plan from {@linkcode planRun}
 * @param options `yes` skips the question; `ui` is where it goes
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { confirmGrants, planRun } from "./run.ts";
 * import { Ui } from "./ui.ts";
 * confirmGrants(await planRun(loadConfig(), "tcplife"), { yes: true, ui: new Ui() });
 * ```
 */
export function confirmGrants(
  plan: RunPlan,
  options: { yes?: boolean; ui: Ui },
): void {
  const { ui } = options;
  const lines = grantLines(plan.bpf);
  ui.info(
    `${plan.spec} runs with:${
      lines.length ? "" : " no BPF grants and no Deno permissions"
    }`,
  );
  for (const l of lines) ui.info(`  ${explainGrant(l)}`);
  if (
    !options.yes && ui.interactive && !ui.confirm("Run with these permissions?")
  ) {
    throw new ClientError(
      "EGRANTS",
      "Permissions not accepted; the probe was not started",
    );
  }
}

/** The flags by which a user hands a package a pinned map (BCC's container filters). */
const PIN_FLAGS = ["--cgroupmap", "--mntnsmap"] as const;

/**
 * The pinned maps the user named in a package's arguments (`--cgroupmap PATH`,
 * `--mntnsmap PATH`, or `--flag=PATH`): naming one is the user's consent to the package's
 * programs using it. Each must resolve to a bpffs pin of a hash map with 8-byte keys (a
 * cgroup id or a mount namespace's inode, as BCC's tools key them); anything else is a
 * ConfigError of one line.
 *
 * @param args the package's arguments
 * @returns the path as typed → the resolved pin (empty when none is named)
 *
 * @example
 * ```ts
 * import { namedPins } from "./run.ts";
 * const pins = await namedPins(["--cgroupmap", "/sys/fs/bpf/cgroupset", "-T"]);
 * console.log(pins.get("/sys/fs/bpf/cgroupset"));
 * ```
 */
export async function namedPins(
  args: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [i, arg] of args.entries()) {
    for (const flag of PIN_FLAGS) {
      const path = arg === flag
        ? args[i + 1]
        : arg.startsWith(`${flag}=`)
        ? arg.slice(flag.length + 1)
        : undefined;
      if (path === undefined || out.has(path)) continue;
      // The runtime's map code loads only for a run that names a pin.
      const [{ createCommand, openPinnedMap }, { MapType }, { mapCalls }] =
        await Promise.all([
          importLater<typeof import("../../runtime/_pinned_maps.ts")>(
            new URL("../../runtime/_pinned_maps.ts", import.meta.url),
          ),
          importLater<typeof import("../../runtime/spec/map_types.ts")>(
            new URL("../../runtime/spec/map_types.ts", import.meta.url),
          ),
          importLater<typeof import("../../runtime/maps/_native.ts")>(
            new URL("../../runtime/maps/_native.ts", import.meta.url),
          ),
        ]);
      const need = { type: MapType.hash, keySize: 8, what: flag };
      let real: string;
      try {
        real = Deno.realPathSync(resolve(path));
      } catch (e) {
        throw new ConfigError(
          `${flag} ${path}: no such pin (${
            (e as Error).message.split("\n")[0]
          }); create and pin the map first, e.g. ${createCommand(path, need)}`,
        );
      }
      try {
        const { fd } = openPinnedMap(real, need);
        mapCalls().bpfpm_map__close(fd);
      } catch (e) {
        throw new ConfigError(`${flag} ${path}: ${(e as Error).message}`);
      }
      out.set(path, real);
    }
  }
  return out;
}

/**
 * A package's arguments with each `--cgroup DIR` (or `--cgroup=DIR`) naming a cgroup v2
 * directory replaced by the cgroup's id (the directory's inode, what
 * `bpf_get_current_cgroup_id()` returns): the sandboxed package may not look under /sys,
 * so the trusted side resolves the path the user typed. A value that is neither an id nor
 * a cgroup v2 directory is a ConfigError of one line.
 *
 * @param args the package's arguments
 * @returns the arguments the package gets
 *
 * @example
 * ```ts
 * import { cgroupIds } from "./run.ts";
 * cgroupIds(["--cgroup", "/sys/fs/cgroup/system.slice", "-T"]); // ["--cgroup", "<its id>", "-T"]
 * ```
 */
export function cgroupIds(args: readonly string[]): string[] {
  const id = (dir: string): string => {
    if (/^\d+$/.test(dir)) return dir;
    try {
      if (Deno.statSync(`${dir}/cgroup.controllers`).isFile) {
        return String(Deno.statSync(dir).ino);
      }
    } catch { /* not there: said below */ }
    throw new ConfigError(
      `--cgroup ${dir} is not a cgroup v2 directory (no cgroup.controllers in it): name one under the cgroup2 mount, or pass its id (stat -c %i DIR)`,
    );
  };
  return args.map((arg, i) =>
    args[i - 1] === "--cgroup"
      ? id(arg)
      : arg.startsWith("--cgroup=")
      ? `--cgroup=${id(arg.slice("--cgroup=".length))}`
      : arg
  );
}

/**
 * What the sandbox runs for a plan: its verified files (or directory), entry, the locked
 * grants and Deno flags. `bpfpm run` and `bpfpm agent` both start probes from it.
 *
 * @param plan from {@linkcode planRun}
 * @param args the entry's arguments
 * @param extra hooks and stdio for the sandbox
 * @returns the argument of `runSandboxed`
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { planRun, sandboxRun } from "./run.ts";
 * import { runSandboxed } from "../../runtime/sandbox/host.ts";
 * const plan = await planRun(loadConfig(), "runqlat");
 * await runSandboxed(sandboxRun(plan, ["1", "1"], { stdio: "piped" }));
 * ```
 */
export function sandboxRun(
  plan: RunPlan,
  args: string[],
  extra: Pick<
    SandboxRun,
    "stdio" | "onStart" | "onObject" | "onSession" | "userPins"
  > = {},
): SandboxRun {
  return {
    spec: plan.spec,
    name: plan.name,
    // An installed package runs from a private copy of its verified tarball's files (given
    // here, or by runSandboxed's admit), never from the installed directory.
    packageDir: plan.integrity === undefined ? plan.dir : undefined,
    filesKey: plan.integrity,
    files: plan.files,
    entry: plan.entry,
    args: cgroupIds(args),
    grants: { attach: [], helpers: [], ...plan.bpf.grants },
    deno: plan.bpf.deno ?? [],
    ...extra,
  };
}
