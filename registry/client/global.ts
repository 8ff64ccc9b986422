/**
 * Global installs: `bpfpm install -g NAME` installs into one project kept under the prefix
 * (`<prefix>/lib/bpfpm/global`: package.json, bpfpm.lock, bpf_modules) and puts a launcher
 * named after the package in `<prefix>/bin`, which runs it with `bpfpm run`, exactly as a
 * project's install runs. The prefix is `--prefix`, else `BPFPM_PREFIX`, else `/usr/local`.
 *
 * @module
 */
import { dirname, fromFileUrl, join, resolve } from "../../runtime/_path.ts";
import { exists, removeIfThere } from "../../runtime/_fs.ts";
import { ClientError } from "./errors.ts";

/** The prefix used when neither `--prefix` nor `BPFPM_PREFIX` names one. */
export const DEFAULT_PREFIX = "/usr/local";

/** The line that marks a file in the bin directory as a bpfpm launcher. */
export const LAUNCHER_MARK = "# bpfpm global command";

/** Where a prefix keeps global packages and their launchers. */
export interface GlobalLayout {
  /** The prefix. */
  prefix: string;
  /** The project directory global packages are installed into. */
  projectDir: string;
  /** The directory launchers go to. */
  binDir: string;
  /**
   * The tarball cache of global installs, whoever installs or runs them: beside the
   * packages, so installed files and their cache share a file system and no user's home,
   * and a run checks the files against the cache the install filled.
   */
  cacheDir: string;
}

/**
 * The global layout of a prefix.
 *
 * @example
 * ```ts
 * import { globalLayout } from "./global.ts";
 * globalLayout("/opt/bpf").projectDir; // "/opt/bpf/lib/bpfpm/global"
 * ```
 */
export function globalLayout(
  prefix = Deno.env.get("BPFPM_PREFIX") || DEFAULT_PREFIX,
): GlobalLayout {
  const p = resolve(prefix);
  return {
    prefix: p,
    projectDir: join(p, "lib", "bpfpm", "global"),
    binDir: join(p, "bin"),
    cacheDir: join(p, "lib", "bpfpm", "cache"),
  };
}

/**
 * The command name a package gets on PATH: its name without the scope.
 *
 * @example
 * ```ts
 * import { commandName } from "./global.ts";
 * commandName("@acme/tcplife"); // "tcplife"
 * ```
 */
export function commandName(pkg: string): string {
  return pkg.slice(pkg.lastIndexOf("/") + 1);
}

const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * How a launcher starts bpfpm: the installed `bpfpm` wrapper that is running now
 * (`BPFPM_SELF`, set by scripts/install_bpfpm.sh's wrapper), else this deno with this
 * copy of the CLI.
 *
 * @example
 * ```ts
 * import { selfCommand } from "./global.ts";
 * console.log(selfCommand().join(" "));
 * ```
 */
export function selfCommand(): string[] {
  const self = Deno.env.get("BPFPM_SELF");
  if (self && exists(self)) return [self];
  const root = fromFileUrl(new URL("../../", import.meta.url));
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    "--config",
    join(root, "deno.json"),
    join(root, "scripts", "bpfpm.ts"),
  ];
}

function isLauncher(path: string): boolean {
  try {
    return Deno.readTextFileSync(path).split("\n")[1]?.startsWith(
      LAUNCHER_MARK,
    ) ?? false;
  } catch {
    return false;
  }
}

/**
 * Checks that the package's launcher may be written (no other file has its name), before
 * anything is installed.
 *
 * @returns the launcher's path
 *
 * @example
 * ```ts
 * import { checkLauncher, globalLayout } from "./global.ts";
 * checkLauncher(globalLayout("/tmp/prefix"), "tcplife"); // "/tmp/prefix/bin/tcplife"
 * ```
 */
export function checkLauncher(layout: GlobalLayout, pkg: string): string {
  const path = join(layout.binDir, commandName(pkg));
  if (exists(path) && !isLauncher(path)) {
    throw new ClientError(
      "EEXIST",
      `${path} exists and is not a bpfpm launcher; remove it, or install with --prefix DIR`,
    );
  }
  return path;
}

/**
 * Writes `<bin>/<command>`: a shell script running `bpfpm run -g` for the package. A file
 * of that name that is not a bpfpm launcher is never replaced.
 *
 * @returns the launcher's path
 *
 * @example
 * ```ts
 * import { globalLayout, writeLauncher } from "./global.ts";
 * writeLauncher(globalLayout("/tmp/prefix"), "tcplife");
 * ```
 */
export function writeLauncher(layout: GlobalLayout, pkg: string): string {
  const path = checkLauncher(layout, pkg);
  const text = [
    "#!/bin/sh",
    `${LAUNCHER_MARK} ${pkg}: runs it from ${layout.projectDir} as bpfpm run does`,
    `# (bpfpm install -g ${pkg}; bpfpm uninstall -g ${pkg} removes it)`,
    `exec ${selfCommand().map(q).join(" ")} run -g --prefix ${
      q(layout.prefix)
    } ${q(pkg)} -- "$@"`,
    "",
  ].join("\n");
  Deno.mkdirSync(layout.binDir, { recursive: true });
  const tmp = join(dirname(path), `.${commandName(pkg)}.${Deno.pid}.tmp`);
  Deno.writeTextFileSync(tmp, text, { mode: 0o755 });
  Deno.renameSync(tmp, path);
  return path;
}

/**
 * Removes the package's launcher, if it is one of ours.
 *
 * @returns whether a launcher was removed
 *
 * @example
 * ```ts
 * import { globalLayout, removeLauncher } from "./global.ts";
 * removeLauncher(globalLayout("/tmp/prefix"), "tcplife");
 * ```
 */
export function removeLauncher(layout: GlobalLayout, pkg: string): boolean {
  const path = join(layout.binDir, commandName(pkg));
  if (!isLauncher(path)) return false;
  removeIfThere(path);
  return true;
}
