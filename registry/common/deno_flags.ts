/**
 * The rule for the Deno flags a probe manifest may declare (`bpf.deno`): read by the
 * manifest schema's messages, publish, install and run. A module of its own so that
 * `bpfpm run` checks the lockfile's flags without loading the schema validator.
 *
 * @module
 */

/**
 * Why a declared Deno flag is refused, naming it, or `undefined` when it is allowed. A
 * package runs sandboxed (docs/security.md): flags that hand it native code, subprocesses,
 * the whole disk or bpfpm's own variables would undo the sandbox.
 *
 * @param flag one item of `bpf.deno`
 * @returns the reason, or undefined
 *
 * @example
 * ```ts
 * import { denoFlagProblem } from "./deno_flags.ts";
 * denoFlagProblem("--allow-ffi"); // "--allow-ffi gives the package native code ..."
 * denoFlagProblem("--allow-read=/sys/class/block"); // undefined
 * ```
 */
export function denoFlagProblem(flag: string): string | undefined {
  if (typeof flag !== "string") return "a Deno flag must be a string";
  const shown = JSON.stringify(flag);
  if (/\s/.test(flag) || /=(,|$)|,,|,$/.test(flag)) {
    return `${shown} has a space or an empty list item: write one flag per item, comma-separated with no spaces`;
  }
  const name = flag.split("=")[0];
  if (/^(--allow-(ffi|run|all)|-A)$/.test(name)) {
    return `${shown} gives the package native code or subprocesses, which a sandboxed package may not have: drop it (bpfpm run does the privileged work)`;
  }
  if ((name === "--allow-read" || name === "--allow-write") && name === flag) {
    return `${shown} without a list opens the whole disk: name the paths, such as ${name}=/sys/class/block`;
  }
  if (name === "--allow-env") {
    const names = flag.slice(name.length + 1).split(",");
    if (flag === name || names.some((n) => n.startsWith("BPFPM_"))) {
      return `${shown} reaches bpfpm's own variables (BPFPM_*): name the variables the package reads, none of them BPFPM_*`;
    }
  }
  if (!/^--allow-(read|write|net|env|sys|import)$/.test(name)) {
    return `${shown} is not a flag a package may declare: use --allow-read=, --allow-write=, --allow-net, --allow-env=, --allow-sys or --allow-import`;
  }
  return undefined;
}
