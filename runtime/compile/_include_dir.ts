/**
 * Where bpfpm's own headers are (`bpfpm.h`, BCC's `helpers.h`, the kernel-header shims): a
 * module of its own so that the BCC rewriter, which asks which shims exist, does not load the
 * compiler's modules.
 *
 * @module
 */

/** bpfpm's own headers, added to every compile. */
export const INCLUDE_DIR = new URL("../include", import.meta.url).pathname;
