/**
 * The sandboxed child's `--preload` (host.ts): it loads the forwarding API the package will
 * import as `"bpf"` and opens the channel to the trusted side, whose open blocks until the
 * session opens it. Deno reads the package's entry only after this module has run, so the
 * child starts (its Deno start, this bundle) while the trusted side checks and approves
 * the package, and none of the package's code is read before then.
 *
 * @example
 * ```ts ignore
 * // deno run --preload=runtime/sandbox/child_gate.ts … <package>/main.ts
 * import "./child_gate.ts";
 * ```
 *
 * @module
 */
import "./child_mod.ts";
import { openChannel } from "./remote.ts";

openChannel();
