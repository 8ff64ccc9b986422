/**
 * mountsnoop: traces mount() and umount() system-wide (and the new mount API: fsopen,
 * fsconfig, fsmount, move_mount), one line each with the call as it was made and its result,
 * as BCC's tool: `COMM PID TID MNT_NS CALL`.
 *
 * @example
 * ```sh
 * bpfpm run mountsnoop
 * deno run -A probes/mountsnoop/mod.ts --json
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
  Table,
} from "../_shared/cli.ts";
import { DURATION, PID } from "../_shared/flags.ts";

const spec = {
  name: "mountsnoop",
  description: "Trace mount() and umount() syscalls",
  flags: {
    pid: PID,
    duration: DURATION,
  },
  examples: [
    "mountsnoop          # trace mount() and umount() system-wide",
    "mountsnoop -p 181   # only trace PID 181",
  ],
} as const;

const MS_FLAGS: [number, string][] = [
  "MS_RDONLY",
  "MS_NOSUID",
  "MS_NODEV",
  "MS_NOEXEC",
  "MS_SYNCHRONOUS",
  "MS_REMOUNT",
  "MS_MANDLOCK",
  "MS_DIRSYNC",
  "MS_NOSYMFOLLOW",
  "",
  "MS_NOATIME",
  "MS_NODIRATIME",
  "MS_BIND",
  "MS_MOVE",
  "MS_REC",
  "MS_SILENT",
  "MS_POSIXACL",
  "MS_UNBINDABLE",
  "MS_PRIVATE",
  "MS_SLAVE",
  "MS_SHARED",
  "MS_RELATIME",
  "MS_KERNMOUNT",
  "MS_I_VERSION",
  "MS_STRICTATIME",
  "MS_LAZYTIME",
].map((name, bit) => [1 << bit, name] as [number, string]).filter(([, n]) => n);
const UMOUNT_FLAGS: [number, string][] = [
  [1, "MNT_FORCE"],
  [2, "MNT_DETACH"],
  [4, "MNT_EXPIRE"],
  [8, "UMOUNT_NOFOLLOW"],
];
const OPS = ["mount", "umount", "fsopen", "fsconfig", "fsmount", "move_mount"];
const FSCONFIG_CMDS = [
  "FSCONFIG_SET_FLAG",
  "FSCONFIG_SET_STRING",
  "FSCONFIG_SET_BINARY",
  "FSCONFIG_SET_PATH",
  "FSCONFIG_SET_PATH_EMPTY",
  "FSCONFIG_SET_FD",
  "FSCONFIG_CMD_CREATE",
  "FSCONFIG_CMD_RECONFIGURE",
  "FSCONFIG_CMD_CREATE_EXCL",
];
const AT_FDCWD = -100;
const ERRNOS: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  20: "ENOTDIR",
  22: "EINVAL",
};

function flagText(flags: number, table: [number, string][]): string {
  // The upper 16 bits of mount flags may hold the obsolete magic 0xC0ED.
  let rest = (flags & 0xffff0000) === 0xc0ed0000 ? flags & 0xffff : flags;
  const names: string[] = [];
  for (const [bit, name] of table) {
    if (rest & bit) {
      names.push(name);
      rest &= ~bit;
    }
  }
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join("|") : "0x0";
}

interface Event {
  ts: bigint;
  flags: bigint;
  pid: number;
  tid: number;
  mnt_ns: number;
  ret: number;
  op: number;
  fd1: number;
  fd2: number;
  cmd: number;
  flags2: bigint;
  comm: string;
  fs: string;
  src: string;
  dest: string;
  data: string;
}

/** One output row. */
interface Row {
  comm: string;
  pid: number;
  tid: number;
  mnt_ns: number;
  op: string;
  source: string;
  target: string;
  fstype: string;
  flags: string;
  data: string;
  ret: number;
  call: string;
}

await runMain(spec, async ({ values: v, json }) => {
  // The flags are the program's const volatile values, set before load.
  using b = await BPF.load({
    file: new URL("./mountsnoop.bpf.c", import.meta.url),
    constants: { targ_pid: intArg(v.pid, "-p PID") ?? 0 },
  });
  const columns: Column<Row>[] = [
    { header: "COMM", key: "comm", width: 16 },
    { header: "PID", key: "pid", width: 7 },
    { header: "TID", key: "tid", width: 7 },
    { header: "MNT_NS", key: "mnt_ns", width: 11 },
    { header: "CALL", key: "call" },
  ];
  const table = new Table<Row>(columns, json);
  const events = eventStream<Event>(b, v.duration);
  table.header();
  announce();
  for await (const e of events) {
    const flags = Number(e.flags & 0xffffffffn);
    const result = e.ret < 0
      ? `${e.ret} (${ERRNOS[-e.ret] ?? `errno ${-e.ret}`})`
      : String(e.ret);
    const flagStr = e.op === 1
      ? flagText(flags, UMOUNT_FLAGS)
      : e.op === 0
      ? flagText(flags, MS_FLAGS)
      : `0x${flags.toString(16)}`;
    const q = (s: string) => JSON.stringify(s);
    const fd = (n: number) => (n === AT_FDCWD ? "AT_FDCWD" : String(n));
    const args = [
      [q(e.src), q(e.dest), q(e.fs), flagStr, q(e.data)],
      [q(e.dest), flagStr],
      [q(e.fs), flagStr],
      [
        String(e.fd1),
        FSCONFIG_CMDS[e.cmd] ?? String(e.cmd),
        q(e.src),
        e.cmd === 1 ? q(e.data) : "NULL",
        String(e.fd2),
      ],
      [String(e.fd1), flagStr, `0x${e.flags2.toString(16)}`],
      [fd(e.fd1), q(e.src), fd(e.fd2), q(e.dest), flagStr],
    ][e.op] ?? [];
    table.row({
      comm: e.comm,
      pid: e.pid,
      tid: e.tid,
      mnt_ns: e.mnt_ns,
      op: OPS[e.op] ?? String(e.op),
      source: e.src,
      target: e.dest,
      fstype: e.fs,
      flags: flagStr,
      data: e.data,
      ret: e.ret,
      call: `${OPS[e.op] ?? e.op}(${args.join(", ")}) = ${result}`,
    }, e.ts);
  }
});
