/**
 * The flags several probes spell the same way (same letter, same usage line), so that a
 * probe's `spec.flags` names them instead of writing them again. A probe whose BCC original
 * words a flag differently keeps its own definition.
 *
 * @example
 * ```ts
 * import { DURATION, PID } from "./flags.ts";
 * const spec = {
 *   name: "mountsnoop",
 *   description: "Trace mount() and umount() syscalls",
 *   flags: { pid: PID, duration: DURATION },
 * };
 * ```
 *
 * @module
 */
import type { Flag } from "./cli.ts";

/** `-d DURATION`: how long an event probe runs. */
export const DURATION: Flag = {
  type: "string",
  short: "d",
  help: "total duration of trace in seconds",
};

/** `-p PID`: one process only. */
export const PID: Flag = {
  type: "string",
  short: "p",
  help: "trace this PID only",
};

/** `-u USER`: one user only, by UID or name. */
export const UID: Flag = {
  type: "string",
  short: "u",
  help: "trace this UID (or user name) only",
};

/** `-U`: a UID column. */
export const PRINT_UID: Flag = {
  type: "boolean",
  short: "U",
  help: "print the UID column",
};

/** `-4`: IPv4 sessions only. */
export const IPV4: Flag = {
  type: "boolean",
  short: "4",
  help: "trace IPv4 family only",
};

/** `-6`: IPv6 sessions only. */
export const IPV6: Flag = {
  type: "boolean",
  short: "6",
  help: "trace IPv6 family only",
};

/** `-t`: the TCP probes' seconds column. */
export const TCP_TIMESTAMP: Flag = {
  type: "boolean",
  short: "t",
  help: "include a timestamp on output (seconds)",
};

/** `-T`: the TCP probes' `HH:MM:SS` column. */
export const TCP_TIME: Flag = {
  type: "boolean",
  short: "T",
  help: "include a time column on output (HH:MM:SS)",
};

/** `-w`: address columns wide enough for IPv6. */
export const WIDE: Flag = {
  type: "boolean",
  short: "w",
  help: "wide column output (fits IPv6 addresses)",
};

/** `-s`: comma separated values. */
export const CSV: Flag = {
  type: "boolean",
  short: "s",
  help: "comma separated values output",
};

/** `-L PORTS`: local ports. */
export const LOCAL_PORTS: Flag = {
  type: "string",
  short: "L",
  help: "comma-separated list of local ports to trace",
};

/** `-D PORTS`: remote ports. */
export const REMOTE_PORTS: Flag = {
  type: "string",
  short: "D",
  help: "comma-separated list of remote ports to trace",
};

/** `-T`: the histogram probes' `HH:MM:SS` line before each summary. */
export const HIST_TIMESTAMP: Flag = {
  type: "boolean",
  short: "T",
  help: "include timestamp on output",
};

/** `-m`: histograms in milliseconds. */
export const MILLISECONDS: Flag = {
  type: "boolean",
  short: "m",
  help: "millisecond histogram",
};

/** `-P`: one histogram per process. */
export const PER_PROCESS: Flag = {
  type: "boolean",
  short: "P",
  help: "print a histogram per process ID",
};

/** `-L`: one histogram per thread. */
export const PER_THREAD: Flag = {
  type: "boolean",
  short: "L",
  help: "print a histogram per thread ID",
};

/** `-d DISK`: one block device only. */
export const DISK: Flag = {
  type: "string",
  short: "d",
  help:
    "trace this disk only: MAJ:MIN or a name (e.g. 254:0 or vda; bpfpm run takes MAJ:MIN)",
};

/** `-d`: a `--` between kernel and user frames. */
export const DELIMITED: Flag = {
  type: "boolean",
  short: "d",
  help: "insert delimiter between kernel/user stacks",
};

/** `-e`: BCC's extension summary (average, total, count) after each histogram. */
export const EXTENSION: Flag = {
  type: "boolean",
  short: "e",
  help: "show the average, total and count after each histogram",
};
