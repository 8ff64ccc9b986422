/**
 * Thin checked wrappers over the native map calls: errors become BpfError with the native
 * message, and ENOENT is reported as a value where a missing element is normal.
 *
 * @module
 */
import { cstr, lastError, lib, type Symbols } from "../_ffi.ts";
import { BpfError } from "../errors.ts";

/**
 * The native calls a map view makes. In process they are the library's own symbols; in a
 * sandboxed package (runtime/sandbox/) they are forwarded to the trusted side, which checks
 * each one. Views call only these, so the same view classes serve both.
 */
export type MapCalls =
  & Pick<
    Symbols,
    | "bpfpm_map__lookup"
    | "bpfpm_map__update"
    | "bpfpm_map__delete"
    | "bpfpm_map__lookup_and_delete"
    | "bpfpm_map__update_many"
    | "bpfpm_map__delete_many"
    | "bpfpm_map__count"
    | "bpfpm_map__iter_new"
    | "bpfpm_map__iter_next"
    | "bpfpm_map__iter_batched"
    | "bpfpm_map__iter_free"
    | "bpfpm_map__close"
    | "bpfpm_map__create"
    | "bpfpm_map__fd_info"
    | "bpfpm_obj__pin"
    | "bpfpm_obj__unpin"
    | "bpfpm_obj__open_pinned"
    | "bpfpm_num_possible_cpus"
  >
  & {
    /** The last error of the calls above: errno (positive) and message. */
    lastError(): { errno: number; message: string };
  };

let calls: MapCalls | undefined;

/** The map calls in force: the native library unless {@link useMapCalls} replaced them. */
export function mapCalls(): MapCalls {
  return calls ??= Object.assign(Object.create(lib()), { lastError });
}

/** Replaces the map calls (the sandboxed side installs its forwarder once, at start). */
export function useMapCalls(replacement: MapCalls): void {
  calls = replacement;
}

/** Throws a BpfError for a negative return code; returns non-negative ones. */
export function check(rc: number | bigint, what: string): number {
  const n = Number(rc);
  if (n >= 0) return n;
  const { message } = mapCalls().lastError();
  throw new BpfError(`${what}: ${message || `errno ${-n}`}`, { errno: -n });
}

/** The possible CPUs, as per-CPU maps size their values (cached). */
let cpus = 0;
export function possibleCpus(): number {
  if (cpus === 0) {
    cpus = check(
      mapCalls().bpfpm_num_possible_cpus(),
      "cannot count the CPUs",
    );
  }
  return cpus;
}

/** A map's kernel-side description, read from its fd. */
export interface FdInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  name: string;
}

export function fdInfo(fd: number): FdInfo {
  const out = new Uint8Array(64);
  check(
    mapCalls().bpfpm_map__fd_info(fd, out),
    `cannot read the map behind fd ${fd}`,
  );
  const u = new Uint32Array(out.buffer, 0, 10);
  const nameBytes = out.subarray(48, 64);
  const nul = nameBytes.indexOf(0);
  return {
    type: u[0],
    id: u[1],
    keySize: u[2],
    valueSize: u[3],
    maxEntries: u[4],
    flags: u[5],
    btfId: u[6],
    btfKeyTypeId: u[7],
    btfValueTypeId: u[8],
    name: new TextDecoder().decode(
      nul < 0 ? nameBytes : nameBytes.subarray(0, nul),
    ),
  };
}

/** A safety net only: views that own their fd close it in close() or at dispose. */
export const leakedFds = new FinalizationRegistry<number>((fd) => {
  mapCalls().bpfpm_map__close(fd);
});

export { cstr, lib };
