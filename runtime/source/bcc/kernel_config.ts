/**
 * The running kernel's `CONFIG_*` options, as BCC has them from the kernel's headers
 * (`#ifdef CONFIG_NET_NS`, `#if defined(CONFIG_ARCH_HAS_SYSCALL_WRAPPER)`): each option the
 * program names is defined as the kernel's configuration (`/proc/config.gz`) says, `=y` as 1,
 * `=m` as `CONFIG_X_MODULE 1`, values as they are. Options the program does not name are not
 * defined, so the prelude (and the compile cache key) stays small.
 *
 * @module
 */
import { gunzipSync } from "node:zlib";
import type { RewritePass } from "../rewrite.ts";
import { bccState } from "./_state.ts";

const CONFIG_PATH = "/proc/config.gz";

let config: Map<string, string> | undefined;

/** The kernel's configuration, read once per process (empty when it is not available). */
function kernelConfig(): Map<string, string> {
  if (config) return config;
  config = new Map();
  let text: string;
  try {
    text = new TextDecoder().decode(gunzipSync(Deno.readFileSync(CONFIG_PATH)));
  } catch {
    // Without it (CONFIG_IKCONFIG_PROC unset) the options stay undefined, as without headers.
    return config;
  }
  for (const line of text.split("\n")) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) config.set(m[1], m[2]);
  }
  return config;
}

/** The `#define`s of the options `names` as the kernel has them. */
export function configDefines(names: Iterable<string>): string[] {
  const cfg = kernelConfig();
  const out: string[] = [];
  for (const name of new Set(names)) {
    const base = name.endsWith("_MODULE") ? name.slice(0, -7) : name;
    const value = cfg.get(base);
    if (value === undefined) continue;
    if (value === "y" && base === name) out.push(`#define ${name} 1`);
    else if (value === "m" && base !== name) out.push(`#define ${name} 1`);
    else if (value !== "y" && value !== "m" && base === name) {
      out.push(`#define ${name} ${value}`);
    }
  }
  return out.sort();
}

/** The pass defining the kernel's `CONFIG_*` options a BCC program names. */
export const bccKernelConfig: RewritePass = {
  name: "BCC kernel configuration",
  run(ctx) {
    if (bccState(ctx).hasSec) return;
    const named = ctx.masked().match(/\bCONFIG_\w+/g);
    if (!named) return;
    const defines = configDefines(named);
    if (defines.length) ctx.declare("kernel config", () => defines.join("\n"));
  },
};
