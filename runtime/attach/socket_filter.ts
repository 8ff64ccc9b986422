/**
 * Socket filters: a program sees every packet a socket receives. By default a new raw
 * AF_PACKET socket bound to one interface (or all) carries it, as BCC's `attach_raw_socket`
 * does; the link's `fd` is that socket. Kernel 3.19+.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { checkOptions, SOCKET_FILTER_OPTIONS } from "../_options.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";

/**
 * Which socket. Kernel: 3.19+ (SO_ATTACH_BPF).
 *
 * @example Every packet on loopback
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./filter.bpf.c", autoAttach: false });
 * b.attachSocketFilter("count", { ifname: "lo" });
 * ```
 */
export interface SocketFilterOptions {
  /**
   * The network namespace the interface lives in: a name from `ip netns list` or a path such
   * as `/proc/<pid>/ns/net` (default: this process's).
   */
  netns?: string;
  /** Bind the new raw socket to this interface (default: every interface). */
  ifname?: string;
  /** Attach to this existing socket fd instead of a new raw socket (it stays open on close). */
  fd?: number;
}

/**
 * Attaches a socket filter program to a raw socket.
 *
 * @param program a loaded `SEC("socket")` program
 * @param opts the interface or an existing socket
 * @returns a disposable link; closing it closes the raw socket it made
 *
 * @example Count packets on lo
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./sock.bpf.c", autoAttach: false });
 * using link = b.attachSocketFilter(b.programs.get("count")!, { ifname: "lo" });
 * ```
 */
export function attachSocketFilter(
  program: AttachableProgram,
  opts: SocketFilterOptions = {},
): Link {
  checkOptions("attachSocketFilter", opts, SOCKET_FILTER_OPTIONS);
  const target = opts.fd !== undefined
    ? `socket fd ${opts.fd}`
    : `raw socket on ${opts.ifname || "every interface"}`;
  return attachNative(
    program,
    "socket_filter",
    target,
    (fd) =>
      lib().bpfpm_program__attach_socket(
        fd,
        cstr(opts.ifname ?? ""),
        opts.fd ?? -1,
        cstr(opts.netns ?? ""),
      ),
  );
}
