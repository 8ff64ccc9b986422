/**
 * The container filters of the probes BCC has them for (execsnoop, opensnoop, tcpconnect,
 * profile): `--cgroup DIR|ID` (one cgroup v2), and BCC's `--cgroupmap PATH` and
 * `--mntnsmap PATH`: a hash map the user pinned in bpffs, keyed by u64 cgroup id or by u64
 * mount namespace inode, whose keys are the only cgroups or mount namespaces traced (BCC's
 * docs/special_filtering.md). The BPF side is the runtime's `<bpfpm/container.h>`
 * (`container_excluded()`); this module turns the flags into that header's constants and
 * the `reuseMaps` that hand the user's pins to the program. Under `bpfpm run` the trusted
 * side lets a package use exactly the pins the user named with these flags
 * (docs/security.md).
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * import { CONTAINER_FLAGS, containerFilter } from "./container.ts";
 * const flags = { ...CONTAINER_FLAGS };
 * const c = containerFilter({ cgroupmap: "/sys/fs/bpf/cgroupset" });
 * using b = await BPF.load({
 *   file: "./execsnoop.bpf.c",
 *   constants: { ...c.constants },
 *   reuseMaps: c.reuseMaps,
 * });
 * ```
 *
 * @module
 */
import { type Flag, UsageError } from "./cli.ts";

/** The flags, under their BCC names. */
export const CONTAINER_FLAGS = {
  cgroup: {
    type: "string",
    help:
      "trace only processes in this cgroup v2 (its directory, or its id: stat -c %i DIR)",
  },
  cgroupmap: {
    type: "string",
    help:
      "trace cgroups in this BPF map only (a hash pinned at this path, keyed by u64 cgroup id)",
  },
  mntnsmap: {
    type: "string",
    help:
      "trace mount namespaces in this BPF map only (a hash pinned at this path, keyed by u64 mount namespace inode)",
  },
} as const satisfies Record<string, Flag>;

/** What `<bpfpm/container.h>` is set with: its constants and the user's pins. */
export interface ContainerFilter {
  /** `targ_cgid`, `filter_cgroup_map`, `filter_mntns_map`. */
  constants: {
    targ_cgid: bigint;
    filter_cgroup_map: boolean;
    filter_mntns_map: boolean;
  };
  /** `cgroup_map` and `mntns_map` → the pins named by `--cgroupmap`/`--mntnsmap`. */
  reuseMaps: Record<string, string>;
}

/**
 * The id of `--cgroup`'s cgroup as `bpf_get_current_cgroup_id()` returns it: the inode of
 * its directory in the cgroup v2 hierarchy. The value is that directory or the id itself
 * (`stat -c %i DIR`): Deno lets a script stat under /sys only with --allow-all, so a probe
 * run by `bpfpm run` (sandboxed) takes the id.
 *
 * @param value the flag's value
 * @returns the id, 0n when the flag is absent
 *
 * @example
 * ```ts
 * import { cgroupId } from "./container.ts";
 * cgroupId("4242"); // 4242n
 * ```
 */
export function cgroupId(value: unknown): bigint {
  if (value === undefined) return 0n;
  const arg = String(value);
  if (/^\d+$/.test(arg)) return BigInt(arg);
  try {
    if (!Deno.statSync(`${arg}/cgroup.controllers`).isFile) throw new Error();
    return BigInt(Deno.statSync(arg).ino ?? 0);
  } catch (e) {
    throw new UsageError(
      e instanceof Deno.errors.NotCapable
        ? `--cgroup ${arg}: this process may not look under /sys; pass the cgroup's id instead: --cgroup $(stat -c %i ${arg})`
        : `--cgroup ${arg} is not a cgroup v2 directory (no cgroup.controllers in it); pass one under the cgroup2 mount (or its id: stat -c %i DIR)`,
    );
  }
}

/**
 * The load options of the container flags a probe was given (`--cgroup`, `--cgroupmap`,
 * `--mntnsmap`), to spread into `BPF.load`'s `constants` and pass as its `reuseMaps`.
 *
 * @param values the parsed flags
 * @returns the constants and pins
 *
 * @example
 * ```ts
 * import { containerFilter } from "./container.ts";
 * containerFilter({ mntnsmap: "/sys/fs/bpf/mnt_ns_set" }).reuseMaps;
 * // { mntns_map: "/sys/fs/bpf/mnt_ns_set" }
 * ```
 */
export function containerFilter(
  values: Record<string, unknown>,
): ContainerFilter {
  const reuseMaps: Record<string, string> = {};
  for (
    const [flag, map] of [["cgroupmap", "cgroup_map"], [
      "mntnsmap",
      "mntns_map",
    ]] as const
  ) {
    const path = values[flag];
    if (path === undefined) continue;
    if (typeof path !== "string" || !path) {
      throw new UsageError(
        `--${flag} needs the path of a pinned BPF hash map, e.g. --${flag} /sys/fs/bpf/${map}`,
      );
    }
    reuseMaps[map] = path;
  }
  return {
    constants: {
      targ_cgid: cgroupId(values.cgroup),
      filter_cgroup_map: "cgroup_map" in reuseMaps,
      filter_mntns_map: "mntns_map" in reuseMaps,
    },
    reuseMaps,
  };
}
