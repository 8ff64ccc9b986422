/**
 * XDP: a program runs on every packet a network interface receives, before the kernel's
 * stack. Attached through a bpf link (5.9+; detaches when the process exits, even on SIGKILL),
 * or with `replace: true` through netlink (4.8+; stays attached after a SIGKILL).
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import {
  checkArgument,
  checkOptions,
  INTERFACE,
  XDP_OPTIONS,
} from "../_options.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";

/**
 * How to attach XDP. Kernel: 5.9+ for the default link; native mode needs driver support.
 *
 * @example Generic XDP on a veth inside a namespace
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./xdp.bpf.c", autoAttach: false });
 * b.attachXdp("count", "veth0", { mode: "generic", netns: "test" });
 * ```
 */
export interface XdpOptions {
  /**
   * The network namespace the interface lives in: a name from `ip netns list` or a path such
   * as `/proc/<pid>/ns/net` (default: this process's).
   */
  netns?: string;
  /** `generic` (skb mode, every device), `native` (driver mode) or the kernel's choice. */
  mode?: "generic" | "native";
  /**
   * Replace whatever XDP program the interface has, through netlink. Such an attachment is
   * not a bpf link: it survives this process being killed with SIGKILL.
   */
  replace?: boolean;
}

/**
 * Attaches an XDP program to an interface.
 *
 * @param program a loaded `SEC("xdp")` program
 * @param ifname the interface, e.g. `eth0`
 * @param opts mode and replace
 * @returns a disposable link
 *
 * @example Count packets on eth0
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./xdp_count.bpf.c", autoAttach: false });
 * using link = b.attachXdp(b.programs.get("count")!, "eth0", { mode: "generic" });
 * ```
 */
export function attachXdp(
  program: AttachableProgram,
  ifname: string,
  opts: XdpOptions = {},
): Link {
  checkArgument("attachXdp", "interface", ifname, INTERFACE);
  checkOptions("attachXdp", opts, XDP_OPTIONS);
  const flags = (opts.mode === "generic" ? 1 : 0) |
    (opts.mode === "native" ? 2 : 0) |
    (opts.replace ? 4 : 0);
  const target = `${ifname}${opts.netns ? ` in netns ${opts.netns}` : ""}${
    opts.mode ? ` (${opts.mode})` : ""
  }`;
  return attachNative(
    program,
    "xdp",
    target,
    (fd) =>
      lib().bpfpm_program__attach_xdp(
        fd,
        cstr(ifname),
        flags,
        cstr(opts.netns ?? ""),
      ),
  );
}
