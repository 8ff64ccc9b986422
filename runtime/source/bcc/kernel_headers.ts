/**
 * BCC programs include kernel headers (`<linux/fcntl.h>`, `<net/sock.h>`, ...) that do not
 * exist here: bpfpm builds on BTF, and its `runtime/include/` holds one shim per kernel header
 * (vmlinux.h plus the constants BTF lacks). A kernel header without a shim must not fall
 * through to the system's UAPI header of the same name, whose definitions clash with
 * vmlinux.h's (and which includes `<asm/...>` headers that do not exist): this pass turns such
 * an include into one of `<bcc/compat.h>`, on the same line.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { INCLUDE_DIR } from "../../compile/_include_dir.ts";
import { type Edit, tokenize } from "./_lex.ts";
import { bccState } from "./_state.ts";

/** The directories of kernel headers (`<linux/...>`), whose system copies are UAPI headers. */
const KERNEL_HEADER =
  /^#\s*include\s*<((?:linux|uapi|net|asm|asm-generic|rdma|trace\/events)\/[\w./-]+\.h)>/;

const shims = new Map<string, boolean>();

/** Whether bpfpm has a shim for the kernel header `path` (e.g. `linux/sched.h`). */
function hasShim(path: string): boolean {
  let found = shims.get(path);
  if (found === undefined) {
    try {
      found = Deno.statSync(`${INCLUDE_DIR}/${path}`).isFile;
    } catch {
      found = false;
    }
    shims.set(path, found);
  }
  return found;
}

/**
 * The directories whose entries decide this pass for `source`: for each kernel header it
 * includes, the deepest existing directory on the way to its shim (a shim added or removed
 * there changes that directory's mtime). The warm start's rewrite memo depends on them.
 *
 * @param source The C as the user wrote it.
 * @returns Absolute directory paths, each once.
 */
export function shimDirectories(source: string): string[] {
  const dirs = new Set<string>();
  for (const t of tokenize(source)) {
    if (t.k !== "pp") continue;
    const m = KERNEL_HEADER.exec(t.t);
    if (!m) continue;
    const parts = m[1].split("/").slice(0, -1);
    for (; parts.length; parts.pop()) {
      const dir = `${INCLUDE_DIR}/${parts.join("/")}`;
      try {
        if (Deno.statSync(dir).isDirectory) break;
      } catch { /* not there: its parent decides */ }
    }
    dirs.add(parts.length ? `${INCLUDE_DIR}/${parts.join("/")}` : INCLUDE_DIR);
  }
  return [...dirs];
}

/** The pass keeping kernel-header includes on bpfpm's shims. */
export const bccKernelHeaders: RewritePass = {
  name: "BCC kernel headers",
  run(ctx) {
    if (bccState(ctx).hasSec) return;
    const edits: Edit[] = [];
    for (const t of tokenize(ctx.text)) {
      if (t.k !== "pp") continue;
      const m = KERNEL_HEADER.exec(t.t);
      if (!m || hasShim(m[1])) continue;
      edits.push({
        start: t.s,
        end: t.s + m[0].length,
        text: `#include <bcc/compat.h> /* for <${m[1]}> */`,
      });
    }
    if (edits.length) ctx.edit(edits);
  },
};
