/**
 * `bpfpm x NAME[@range] [args]`: runs a package without a project, as `npx` does. The
 * package is installed (resolved, integrity- and signature-checked, its grants shown and
 * accepted) into a project of its own under the cache, `<cache>/x/<hash of the spec>`, so a
 * second run reuses it, and is then started exactly as `bpfpm run` starts an installed one.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { ClientConfig } from "./config.ts";
import { ClientError } from "./errors.ts";
import { install } from "./install.ts";
import { packageKernelReport } from "./kernel_check.ts";
import { isApproved, MODULES_DIR, recordApprovals } from "./project.ts";
import { parseSpec } from "./resolve.ts";
import { runPackage } from "./run.ts";
import { Ui } from "./ui.ts";

/**
 * The project directory `bpfpm x` uses for a spec.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { execProjectDir } from "./exec.ts";
 * console.log(execProjectDir(loadConfig(), "tcplife@^1"));
 * ```
 */
export function execProjectDir(config: ClientConfig, spec: string): string {
  const key = createHash("sha256").update(`${config.registry}\n${spec}`)
    .digest("hex").slice(0, 16);
  return join(config.cacheDir, "x", key);
}

/**
 * Installs `spec` into its own project and runs it with `args`.
 *
 * @returns the package's exit code
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { execPackage } from "./exec.ts";
 * Deno.exitCode = await execPackage(loadConfig(), "tcplife", ["-p", "42"], { yes: true });
 * ```
 */
export async function execPackage(
  config: ClientConfig,
  spec: string,
  args: string[],
  options: { yes?: boolean; ui?: Ui } = {},
): Promise<number> {
  const ui = options.ui ?? new Ui();
  const { name } = parseSpec(spec);
  const projectDir = execProjectDir(config, spec);
  await Deno.mkdir(projectDir, { recursive: true });
  const own: ClientConfig = { ...config, projectDir };
  const r = await install(own, { add: [spec], yes: options.yes, ui });
  await recordApprovals(projectDir, r.lock, !!options.yes || ui.confirmed);
  const kernel = await packageKernelReport(join(projectDir, MODULES_DIR, name));
  if (kernel.problems.length) {
    throw new ClientError("EKERNEL", kernel.problems.join("; "));
  }
  for (const line of kernel.notes) ui.warn(line);
  return await runPackage(own, name, args, {
    yes: !!options.yes || await isApproved(projectDir, r.lock, name),
    ui,
  });
}
