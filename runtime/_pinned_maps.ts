/**
 * Maps someone else pinned in bpffs, used by an object instead of the maps it would create:
 * `BPF.load`'s `reuseMaps` (BCC's `BPF_TABLE_PINNED` at a path of the user's choosing, the
 * probes' `--cgroupmap`/`--mntnsmap`). A pin is opened, checked against what its user needs
 * (map type and key size), handed to libbpf before load and its fd closed again (libbpf keeps
 * a duplicate): one place for the rule, whether the caller is a script, the sandbox's trusted
 * side or `bpfpm run` checking the pins a user named.
 *
 * @module
 */
import { BpfError, Errno } from "./errors.ts";
import { cstr, lastError, lib, type ObjectHandle } from "./_ffi.ts";
import { type FdInfo, fdInfo, mapCalls } from "./maps/_native.ts";
import { mapTypeName } from "./spec/map_types.ts";
import type { ObjectFacts } from "./_warm.ts";

/** "a hash map", "an array map". */
function aMap(type: string): string {
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type} map`;
}

/** A bpftool command that pins a map `need` accepts (at `path` when it is in bpffs). */
export function createCommand(path: string, need: PinnedMapNeed): string {
  const name = need.what.replace(/[^a-z_]/g, "") || "pinned";
  const at = path.startsWith("/sys/fs/bpf/") ? path : `/sys/fs/bpf/${name}`;
  return `bpftool map create ${at} type ${
    mapTypeName(need.type)
  } key ${need.keySize} value 8 entries 128 name ${name}`;
}

/** What a pinned map must be for its user. */
export interface PinnedMapNeed {
  /** The `enum bpf_map_type` number (e.g. `MapType.hash`). */
  type: number;
  /** The key size in bytes. */
  keySize: number;
  /** Who needs it, as a message names it (`"--cgroupmap"`, `"map cgroup_map"`). */
  what: string;
}

/**
 * Opens the map pinned at `path` and checks it is a map of `need`'s type and key size; the
 * caller closes the fd (`mapCalls().bpfpm_map__close`). Errors are one line naming the pin,
 * what it is, and what would do.
 *
 * @param path the pin in bpffs
 * @param need the map type and key size required
 * @returns the open fd and the map's description
 *
 * @example
 * ```ts
 * import { openPinnedMap } from "./_pinned_maps.ts";
 * import { MapType } from "./spec/map_types.ts";
 * const { fd, info } = openPinnedMap("/sys/fs/bpf/cgroupset", {
 *   type: MapType.hash, keySize: 8, what: "--cgroupmap",
 * });
 * console.log(info.maxEntries, fd);
 * ```
 */
export function openPinnedMap(
  path: string,
  need: PinnedMapNeed,
): { fd: number; info: FdInfo } {
  const wanted = `${need.what} needs ${
    aMap(mapTypeName(need.type))
  } with ${need.keySize}-byte keys pinned in bpffs`;
  const rc = mapCalls().bpfpm_obj__open_pinned(cstr(path));
  if (rc < 0) {
    const { message } = mapCalls().lastError();
    throw new BpfError(
      `${path} is not a pinned BPF map (${
        message || `errno ${-rc}`
      }): ${wanted}, e.g. ${createCommand(path, need)}`,
      { errno: -rc },
    );
  }
  const fd = rc;
  try {
    let info: FdInfo;
    try {
      info = fdInfo(fd);
    } catch (e) {
      throw new BpfError(
        `${path} is a pinned BPF object but not a map (a program or a link): ${wanted}`,
        { errno: (e as BpfError).errno ?? Errno.EINVAL },
      );
    }
    if (info.type !== need.type || info.keySize !== need.keySize) {
      throw new BpfError(
        `${path} is ${
          aMap(mapTypeName(info.type))
        } with ${info.keySize}-byte keys: ${wanted}`,
        { errno: Errno.EINVAL },
      );
    }
    return { fd, info };
  } catch (e) {
    mapCalls().bpfpm_map__close(fd);
    throw e;
  }
}

/**
 * Makes each map named in `reuse` the map pinned at its path, between open and load: the
 * pin must hold a map of the type and key size the object declares (its value size and
 * capacity are the pin's; the verifier checks the programs against them).
 *
 * @param handle the opened, not yet loaded object
 * @param facts the object's facts (its declared maps)
 * @param reuse map name → pin path
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({
 *   file: "./probe.bpf.c",
 *   reuseMaps: { cgroup_map: "/sys/fs/bpf/cgroupset" },
 * });
 * ```
 */
export function reusePinnedMaps(
  handle: ObjectHandle,
  facts: ObjectFacts,
  reuse: Readonly<Record<string, string>>,
): void {
  for (const [name, path] of Object.entries(reuse)) {
    const spec = facts.maps.find((m) => m.name === name);
    if (!spec) {
      throw new TypeError(
        `BPF.load's reuseMaps names the map ${name}, which the object does not declare (its maps: ${
          facts.maps.map((m) => m.name).join(", ") || "none"
        })`,
      );
    }
    const { fd } = openPinnedMap(path, {
      type: spec.typeNumber,
      keySize: spec.keySize,
      what: `map ${name}`,
    });
    try {
      if (lib().bpfpm_object__reuse_map(handle, cstr(name), fd) !== 0) {
        const { errno, message } = lastError();
        throw new BpfError(`Cannot use ${path} as map ${name} (${message})`, {
          errno: errno || Errno.EINVAL,
        });
      }
    } finally {
      mapCalls().bpfpm_map__close(fd);
    }
  }
}
