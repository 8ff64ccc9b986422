/**
 * TC: a classifier program on an interface's ingress or egress. Attached as a tcx link where
 * the kernel has one (6.6+; detaches when the process exits, even on SIGKILL), else as a
 * clsact filter through netlink (4.5+; `clsact: true` forces this path, which a SIGKILL leaves
 * attached, and which leaves the clsact qdisc in place on detach, as `tc` does).
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import {
  checkArgument,
  checkOptions,
  INTERFACE,
  TC_OPTIONS,
} from "../_options.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";

/**
 * Where a TC program goes. Kernel: 6.6+ (tcx) or 4.5+ (clsact).
 *
 * @example Egress of an interface
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./tc.bpf.c", autoAttach: false });
 * b.attachTc("count", "eth0", { direction: "egress" });
 * ```
 */
export interface TcOptions {
  /**
   * The network namespace the interface lives in: a name from `ip netns list` or a path such
   * as `/proc/<pid>/ns/net` (default: this process's).
   */
  netns?: string;
  /** `ingress` (default) or `egress`. */
  direction?: "ingress" | "egress";
  /** Use a clsact filter through netlink even where tcx links exist. */
  clsact?: boolean;
}

/**
 * Attaches a TC classifier to an interface.
 *
 * @param program a loaded `SEC("tc")` program
 * @param ifname the interface, e.g. `eth0`
 * @param opts direction and clsact
 * @returns a disposable link
 *
 * @example Count egress packets
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./tc_count.bpf.c", autoAttach: false });
 * using link = b.attachTc(b.programs.get("count")!, "eth0", { direction: "egress" });
 * ```
 */
export function attachTc(
  program: AttachableProgram,
  ifname: string,
  opts: TcOptions = {},
): Link {
  checkArgument("attachTc", "interface", ifname, INTERFACE);
  checkOptions("attachTc", opts, TC_OPTIONS);
  const direction = opts.direction ?? "ingress";
  const flags = (direction === "egress" ? 1 : 0) | (opts.clsact ? 2 : 0);
  return attachNative(
    program,
    "tc",
    `${ifname}${opts.netns ? ` in netns ${opts.netns}` : ""} ${direction}`,
    (fd) =>
      lib().bpfpm_program__attach_tc(
        fd,
        cstr(ifname),
        flags,
        cstr(opts.netns ?? ""),
      ),
  );
}
