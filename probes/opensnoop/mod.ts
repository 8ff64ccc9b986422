/**
 * opensnoop: traces open(), openat() and openat2(), one line each, as BCC's tool:
 * `PID COMM FD ERR PATH`.
 *
 * @example
 * ```sh
 * bpfpm run opensnoop -- -p 181 -x
 * deno run -A probes/opensnoop/mod.ts --json
 * ```
 *
 * @module
 */
import { BPF } from "bpf";
import {
  announce,
  type Column,
  eventStream,
  intArg,
  runMain,
  sinceFirst,
  Table,
  timestampColumn,
  uidFilter,
  UsageError,
} from "../_shared/cli.ts";
import { DURATION, PID, PRINT_UID, UID } from "../_shared/flags.ts";
import { CONTAINER_FLAGS, containerFilter } from "../_shared/container.ts";

const spec = {
  name: "opensnoop",
  description: "Trace open() syscalls",
  flags: {
    timestamp: {
      type: "boolean",
      short: "T",
      help: "include a timestamp column (seconds)",
    },
    "print-uid": PRINT_UID,
    failed: { type: "boolean", short: "x", help: "only show failed opens" },
    pid: PID,
    tid: { type: "string", short: "t", help: "trace this TID only" },
    uid: UID,
    ...CONTAINER_FLAGS,
    duration: DURATION,
    name: {
      type: "string",
      short: "n",
      help: "only print process names containing this name",
    },
    extended: {
      type: "boolean",
      short: "e",
      help: "show extended fields (flags)",
    },
    flag: {
      type: "string",
      short: "f",
      help: "filter on the flags argument (e.g. O_WRONLY)",
      multiple: true,
    },
    "full-path": {
      type: "boolean",
      short: "F",
      help: "show full path for an open file with relative path",
    },
    "buffer-pages": {
      type: "string",
      short: "b",
      help:
        "size of the ring buffer in pages (a power of two, default 256; one ring for all CPUs)",
    },
  },
  examples: [
    "opensnoop           # trace all open() syscalls",
    "opensnoop -T        # include timestamps",
    "opensnoop -x        # only show failed opens",
    "opensnoop -p 181    # only trace PID 181",
    "opensnoop -e -f O_WRONLY -f O_RDWR  # show flags, only opens for writing",
    "opensnoop -b 512    # a 2 MiB ring buffer, for bursts of opens",
    "opensnoop --cgroupmap /sys/fs/bpf/test01  # only trace cgroups in this BPF map",
    "opensnoop --mntnsmap /sys/fs/bpf/mnt_ns_set  # only trace mount namespaces in this map",
  ],
} as const;

const O_FLAGS: Record<string, number> = {
  O_RDONLY: 0,
  O_WRONLY: 0o1,
  O_RDWR: 0o2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DSYNC: 0o10000,
  O_DIRECT: 0o40000,
  O_LARGEFILE: 0o100000,
  O_DIRECTORY: 0o200000,
  O_NOFOLLOW: 0o400000,
  O_NOATIME: 0o1000000,
  O_CLOEXEC: 0o2000000,
  O_SYNC: 0o4010000,
  O_PATH: 0o10000000,
  O_TMPFILE: 0o20200000,
};

interface Event {
  ts: bigint;
  pid: number;
  tid: number;
  uid: number;
  ret: number;
  flags: number;
  comm: string;
  fname: string;
  /** -F: the working directory's names, innermost first; "" where a mount was crossed. */
  dirs: string[];
}

/** The path an open named: relative ones joined to the working directory (-F). */
function fullPath(e: Event): string {
  if (e.fname.startsWith("/") || !e.dirs.some(Boolean)) return e.fname;
  const dirs = e.dirs.filter((d) => d && d !== "/").reverse();
  return `/${[...dirs, e.fname].join("/")}`;
}

/** One output row. */
interface Row {
  /** -t: seconds since the first event (`ts_s` in JSON). */
  ts?: number;
  uid: number;
  pid: number;
  tid: number;
  comm: string;
  fd: number;
  err: number;
  flags: string;
  path: string;
}

await runMain(spec, async ({ values: v, json }) => {
  const wanted = ((v.flag ?? []) as string[]).map((f) => {
    const name = f.toUpperCase().startsWith("O_")
      ? f.toUpperCase()
      : `O_${f.toUpperCase()}`;
    if (!(name in O_FLAGS)) {
      throw new RangeError(
        `Unknown flag ${f}: use one of ${Object.keys(O_FLAGS).join(", ")}`,
      );
    }
    return O_FLAGS[name];
  });
  const uid = uidFilter(v.uid);
  const pages = intArg(v["buffer-pages"], "-b BUFFER_PAGES", { min: 1 });
  if (pages !== undefined && pages > 1 << 18) {
    throw new UsageError(
      `-b BUFFER_PAGES must be at most ${1 << 18} (1 GiB), got ${pages}`,
    );
  }
  if (pages !== undefined && (pages & (pages - 1)) !== 0) {
    throw new UsageError(
      `-b BUFFER_PAGES must be a power of two, got ${pages}: try ${
        2 ** Math.ceil(Math.log2(pages))
      }`,
    );
  }
  const container = containerFilter(v);
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./opensnoop.bpf.c", import.meta.url),
    cflags: pages === undefined ? undefined : [`-DRING_PAGES=${pages}`],
    constants: {
      targ_pid: intArg(v.pid, "-p PID") ?? 0,
      targ_tid: intArg(v.tid, "-t TID") ?? 0,
      ...uid,
      failed_only: v.failed === true,
      full_path: v["full-path"] === true,
      ...container.constants,
    },
    reuseMaps: container.reuseMaps,
  });
  const columns: Column<Row>[] = [];
  if (v.timestamp) columns.push(timestampColumn(14, 6));
  if (v["print-uid"]) columns.push({ header: "UID", key: "uid", width: 6 });
  columns.push(
    { header: v.tid ? "TID" : "PID", key: v.tid ? "tid" : "pid", width: 6 },
    { header: "COMM", key: "comm", width: 16 },
    { header: "FD", key: "fd", width: 4, right: true },
    { header: "ERR", key: "err", width: 3, right: true },
  );
  if (v.extended) columns.push({ header: "FLAGS", key: "flags", width: 8 });
  columns.push({ header: "PATH", key: "path" });
  const table = new Table<Row>(columns, json);
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  const elapsed = sinceFirst();
  for await (const e of events) {
    if (v.name && !e.comm.includes(v.name as string)) continue;
    if (
      wanted.length &&
      !wanted.some((f) => f === 0 ? (e.flags & 3) === 0 : (e.flags & f) === f)
    ) {
      continue;
    }
    table.row({
      ...(v.timestamp ? { ts: elapsed(e.ts) } : {}),
      uid: e.uid,
      pid: e.pid,
      tid: e.tid,
      comm: e.comm,
      fd: e.ret >= 0 ? e.ret : -1,
      err: e.ret >= 0 ? 0 : -e.ret,
      flags: e.flags.toString(8).padStart(8, "0"),
      path: v["full-path"] ? fullPath(e) : e.fname,
    }, e.ts);
  }
});
