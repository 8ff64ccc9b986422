/**
 * cgroup programs (skb, sock, sock_addr, sockopt, sysctl, device): a program runs for the
 * processes of a cgroup v2 directory and its descendants, through a bpf link (5.7+).
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { CGROUP_OPTIONS, checkOptions } from "../_options.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import type { Link } from "./link.ts";

/** The cgroup attach points by the name libbpf's section uses (`cgroup_skb/ingress` → `skb/ingress`). */
export const CGROUP_ATTACH_TYPES: Record<string, number> = {
  "skb/ingress": 0,
  "skb/egress": 1,
  "sock_create": 2,
  "sock": 2,
  "sock_ops": 3,
  "dev": 6,
  "bind4": 8,
  "bind6": 9,
  "connect4": 10,
  "connect6": 11,
  "post_bind4": 12,
  "post_bind6": 13,
  "sendmsg4": 14,
  "sendmsg6": 15,
  "sysctl": 18,
  "recvmsg4": 19,
  "recvmsg6": 20,
  "getsockopt": 21,
  "setsockopt": 22,
  "sock_release": 34,
  "getpeername4": 29,
  "getpeername6": 30,
  "getsockname4": 31,
  "getsockname6": 32,
};

/**
 * Where a cgroup program goes. Kernel: 5.7+ (cgroup bpf links).
 *
 * @example Egress of one cgroup
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./cgroup.bpf.c", autoAttach: false });
 * b.attachCgroup("egress", { path: "/sys/fs/cgroup/unified/test" });
 * ```
 */
export interface CgroupOptions {
  /** A cgroup v2 directory, e.g. `/sys/fs/cgroup/my.slice`. */
  path: string;
  /**
   * The attach point: `skb/ingress`, `skb/egress`, `sock_create`, `connect4`, ... Default: the
   * one the program was loaded for (its section, e.g. `cgroup_skb/egress`).
   */
  attach?: string;
}

/**
 * Attaches a cgroup program to a cgroup v2 directory.
 *
 * @param program a loaded cgroup program (`SEC("cgroup_skb/ingress")`, `SEC("cgroup/connect4")`)
 * @param opts the cgroup path and the attach point
 * @returns a disposable link
 *
 * @example Count a cgroup's egress packets
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./cg.bpf.c", autoAttach: false });
 * using link = b.attachCgroup(b.programs.get("egress")!, { path: "/sys/fs/cgroup/test" });
 * ```
 */
export function attachCgroup(
  program: AttachableProgram & { readonly expectedAttachType?: number },
  opts: CgroupOptions,
): Link {
  checkOptions("attachCgroup", opts, CGROUP_OPTIONS);
  let type: number | undefined;
  if (opts.attach !== undefined) {
    type = CGROUP_ATTACH_TYPES[opts.attach];
    if (type === undefined) {
      throw new RangeError(
        `cgroup: unknown attach point ${opts.attach}; known: ${
          Object.keys(CGROUP_ATTACH_TYPES).join(", ")
        }`,
      );
    }
  } else {
    type = program.expectedAttachType;
  }
  if (type === undefined) {
    throw new TypeError(
      `cgroup: give { attach } for program '${program.name}'`,
    );
  }
  const name =
    Object.entries(CGROUP_ATTACH_TYPES).find(([, t]) => t === type)?.[0] ??
      `attach type ${type}`;
  return attachNative(
    program,
    "cgroup",
    `${opts.path} ${name}`,
    (fd) => lib().bpfpm_program__attach_cgroup(fd, cstr(opts.path), type!),
  );
}
