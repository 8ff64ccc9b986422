/**
 * syscount: summarizes syscall counts (and latencies) by syscall or by process, every
 * interval or at Ctrl-C, as BCC's tool: `SYSCALL COUNT [TIME (us)]`.
 *
 * @example
 * ```sh
 * bpfpm run syscount -- -L -i 1
 * deno run -A probes/syscount/mod.ts -P --json
 * ```
 *
 * @module
 */
import { BPF, syscallTable } from "bpf";
import {
  announce,
  clock,
  type Column,
  intArg,
  runMain,
  summaryLoop,
  Table,
  UsageError,
} from "../_shared/cli.ts";

/**
 * `--syscall`'s number: a number as is, else a name of the running kernel's syscalls
 * (`stat` finds the kernel's `newstat` too).
 */
async function syscallArg(value: unknown): Promise<number> {
  if (value === undefined) return 0;
  const v = String(value);
  if (/^\d+$/.test(v)) return Number(v);
  for (const [nr, name] of await syscallTable()) {
    if (name === v || name === `new${v}`) return nr;
  }
  throw new UsageError(
    `--syscall ${v}: this kernel has no syscall of that name; pass its number, or see syscount -l`,
  );
}

const spec = {
  name: "syscount",
  description: "Summarize syscall counts and latencies",
  flags: {
    pid: { type: "string", short: "p", help: "trace only this pid" },
    tid: { type: "string", short: "t", help: "trace only this tid" },
    ppid: {
      type: "string",
      short: "c",
      help: "trace only children of this pid",
    },
    syscall: {
      type: "string",
      help: "trace this syscall only (a name, or its number)",
    },
    interval: {
      type: "string",
      short: "i",
      help: "print summary at this interval (seconds)",
    },
    duration: {
      type: "string",
      short: "d",
      help: "total duration of trace, in seconds",
    },
    top: {
      type: "string",
      short: "T",
      help: "print only the top syscalls by count or latency (default 10)",
    },
    failures: {
      type: "boolean",
      short: "x",
      help: "trace only failed syscalls (return < 0)",
    },
    errno: {
      type: "string",
      short: "e",
      help:
        "trace only syscalls that return this error (numeric or EPERM, etc.)",
    },
    latency: { type: "boolean", short: "L", help: "collect syscall latency" },
    milliseconds: {
      type: "boolean",
      short: "m",
      help: "display latency in milliseconds (default: microseconds)",
    },
    process: {
      type: "boolean",
      short: "P",
      help: "count by process and not by syscall",
    },
    list: {
      type: "boolean",
      short: "l",
      help: "print list of recognized syscalls and exit",
    },
  },
  examples: [
    "syscount                 # count syscalls until Ctrl-C",
    "syscount -p 181          # only this process",
    "syscount -i 1 -d 5       # a summary every second, for five seconds",
    "syscount -L -m           # with total latency in milliseconds",
    "syscount -P              # count by process",
    "syscount --syscall openat # count openat only",
    "syscount -x -e ENOENT    # only calls failing with ENOENT",
  ],
} as const;

const ERRNOS: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ESPIPE: 29,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ENODATA: 61,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EINPROGRESS: 115,
};

interface Data {
  count: bigint;
  total_ns: bigint;
  comm: string;
}

/** One output row (per syscall, or per process with `-P`), per interval. */
interface Row {
  syscall?: string;
  pid?: number;
  comm?: string;
  count: number;
  latency?: number;
}

await runMain(spec, async ({ values: v, json }) => {
  if (v.list) {
    const names = await syscallTable();
    for (const nr of [...names.keys()].sort((a, b) => a - b)) {
      console.log(names.get(nr));
    }
    return;
  }
  // The running kernel's names, read while the program loads.
  const names = v.process ? undefined : syscallTable().catch((e) => {
    console.error(
      `syscount: syscall names are unavailable, numbers are shown (${
        (e as Error).message
      })`,
    );
    return new Map<number, string>();
  });
  let errno = 0;
  if (v.errno !== undefined) {
    const e = String(v.errno).toUpperCase();
    errno = /^\d+$/.test(e) ? Number(e) : ERRNOS[e] ?? 0;
    if (!errno) {
      throw new UsageError(
        `-e takes an errno number or one of ${Object.keys(ERRNOS).join(", ")}`,
      );
    }
  }
  const top = intArg(v.top, "-T TOP", { min: 1 }) ?? 10;
  const interval = intArg(v.interval, "-i INTERVAL", { min: 1 });
  const duration = intArg(v.duration, "-d DURATION", { min: 1 });
  const ms = v.milliseconds === true;
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./syscount.bpf.c", import.meta.url),
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      targ_tid: intArg(v.tid, "-t TID") ?? 0,
      targ_ppid: intArg(v.ppid, "-c PPID", { min: 1 }) ?? 0,
      filter_sys: v.syscall !== undefined,
      targ_sys: await syscallArg(v.syscall),
      failed_only: v.failures === true,
      filter_errno: errno,
      by_process: v.process === true,
      latency: v.latency === true,
    },
  });
  const data = b.map<number, Data>("data");
  const columns: Column<Row>[] = v.process
    ? [
      { header: "PID", key: "pid", width: 6 },
      { header: "COMM", key: "comm", width: 15 },
    ]
    : [{ header: "SYSCALL", key: "syscall", width: 22 }];
  columns.push({ header: "COUNT", key: "count", width: 8, right: true });
  if (v.latency) {
    columns.push({
      header: ms ? "TIME (ms)" : "TIME (us)",
      key: "latency",
      unit: ms ? "milliseconds" : "microseconds",
      width: 16,
      right: true,
      format: (t) => (t as number).toFixed(3),
    });
  }
  const table = new Table<Row>(columns, json);
  const byNumber = await names;
  announce(
    `Tracing ${v.failures ? "failed " : ""}syscalls, printing top ${top}`,
  );
  await summaryLoop({ interval, duration }, () => {
    const entries = data.dump();
    data.clear();
    const rows: Row[] = entries.map(([key, d]) => ({
      ...(v.process
        ? { pid: key, comm: d.comm }
        : { syscall: byNumber?.get(key) ?? `[unknown: ${key}]` }),
      count: Number(d.count),
      ...(v.latency ? { latency: Number(d.total_ns) / (ms ? 1e6 : 1e3) } : {}),
    }));
    rows.sort((a, b) =>
      v.latency ? b.latency! - a.latency! : b.count - a.count
    );
    if (!json) console.log(`[${clock()}]`);
    table.header();
    for (const r of rows.slice(0, top)) table.row(r);
    if (!json) console.log();
  });
});
