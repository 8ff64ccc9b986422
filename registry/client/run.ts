/**
 * `bpfpm run <pkg|dir> [-- args]`: starts a probe's entry with exactly the Deno flags its
 * manifest declares (plus `--no-prompt`, so it cannot ask for more) and its BPF grants in
 * `BPFPM_GRANTS`, which the runtime enforces as a ceiling. The entry's `import "bpf"`
 * resolves through this repository's deno.json (`--config`), to its mod.ts.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { validateBpfManifest } from "../manifest.ts";
import type { ClientConfig } from "./config.ts";
import { ClientError } from "./errors.ts";
import { grantLines, runFlags } from "./grants.ts";
import type { LockedBpf } from "./lockfile.ts";
import { MODULES_DIR } from "./project.ts";
import { Ui } from "./ui.ts";

/** The repository's deno.json, whose import map gives probes `bpf`. */
export const RUNTIME_CONFIG: string = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "deno.json",
);

/**
 * The runtime module that reads `BPFPM_GRANTS`; preloaded so the ceiling is read before
 * any of the probe's code runs (a script cannot set the variable and then import `bpf`).
 */
export const GRANTS_PRELOAD: string = join(
  dirname(RUNTIME_CONFIG),
  "runtime",
  "policy",
  "effective.ts",
);

/** A probe ready to start. */
export interface RunPlan {
  /** The package directory. */
  dir: string;
  /** `name@version`. */
  spec: string;
  /** The absolute entry path. */
  entry: string;
  /** The declared manifest parts. */
  bpf: LockedBpf;
  /** The full `deno` command line (without the executable). */
  argv: string[];
  /** The environment additions. */
  env: Record<string, string>;
}

/**
 * Works out how a package (installed name or directory) would be started.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { planRun } from "./run.ts";
 * const plan = planRun(loadConfig(), "tcplife", ["-p", "1"]);
 * console.log(plan.argv.join(" "));
 * ```
 */
export function planRun(
  config: ClientConfig,
  target: string,
  args: string[] = [],
): RunPlan {
  if (typeof target !== "string" || !target) {
    throw new TypeError("run needs a package name or directory");
  }
  const asDir = isAbsolute(target) || target.startsWith(".")
    ? resolve(config.projectDir, target)
    : undefined;
  let dir: string;
  if (asDir && existsSync(join(asDir, "package.json"))) dir = asDir;
  else {
    dir = join(config.projectDir, MODULES_DIR, target);
    if (!existsSync(join(dir, "package.json"))) {
      throw new ClientError(
        "ENOTINSTALLED",
        `${target} is not installed in ${config.projectDir}; run bpfpm install ${target} first, or pass a package directory such as ./${target}`,
      );
    }
  }
  const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const spec = `${pj.name}@${pj.version}`;
  if (!pj.bpf) {
    throw new ClientError(
      "ENOTPROBE",
      `${spec} has no bpf manifest, so it is not a probe package bpfpm can run`,
    );
  }
  const v = validateBpfManifest(pj.bpf);
  if (!v.ok) {
    throw new ClientError(
      "EMANIFEST",
      `${spec} has an invalid bpf manifest: ${v.errors.join("; ")}`,
    );
  }
  const bpf: LockedBpf = {
    entry: pj.bpf.entry,
    grants: pj.bpf.grants,
    deno: pj.bpf.deno,
  };
  const entry = resolve(dir, pj.bpf.entry);
  if (
    !entry.startsWith(resolve(dir) + sep) || !existsSync(entry) ||
    !statSync(entry).isFile()
  ) {
    throw new ClientError(
      "EMANIFEST",
      `${spec}'s entry ${pj.bpf.entry} is missing from the package; reinstall it`,
    );
  }
  const argv = [
    "run",
    ...runFlags(bpf),
    "--config",
    RUNTIME_CONFIG,
    ...(existsSync(GRANTS_PRELOAD) ? ["--preload", GRANTS_PRELOAD] : []),
    entry,
    ...args,
  ];
  return {
    dir,
    spec,
    entry,
    bpf,
    argv,
    env: { BPFPM_GRANTS: JSON.stringify(bpf.grants ?? {}) },
  };
}

/**
 * Shows a probe's permissions, asks on a TTY (unless `yes`), and runs it to completion.
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
  const plan = planRun(config, target, args);
  const lines = grantLines(plan.bpf);
  ui.info(
    `${plan.spec} runs with:${
      lines.length ? "" : " no BPF grants and no Deno permissions"
    }`,
  );
  for (const l of lines) ui.info(`  ${l}`);
  if (
    !options.yes && ui.interactive && !ui.confirm("Run with these permissions?")
  ) {
    throw new ClientError(
      "EGRANTS",
      "Permissions not accepted; the probe was not started",
    );
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    env: plan.env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forward = (sig: Deno.Signal) => () => {
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  try {
    const status = await child.status;
    return status.signal
      ? 128 + (status.signal === "SIGINT" ? 2 : 15)
      : status.code;
  } finally {
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
}
