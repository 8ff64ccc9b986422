/**
 * Test helpers for the attach tests: load a C source into live programs and maps, read a
 * u64 array map, build a C binary, run commands.
 *
 * @module
 */
import { BPF, type LoadOptions, type Program } from "../../mod.ts";
import { lastError, lib } from "../../runtime/_ffi.ts";

/** A loaded object (BPF.load without auto-attach): programs, raw map reads, close. */
export interface Loaded extends Disposable {
  programs: ReadonlyMap<string, Program>;
  /** Value at index `i` of the u64 array (or u32-keyed hash) map `name`. */
  u64(name: string, i?: number): bigint;
  /** The `size`-byte value at u32 key `i` of map `name`. */
  bytes(name: string, i: number, size: number): Uint8Array;
  /** The kernel ids of the loaded programs. */
  ids(): number[];
  close(): void;
}

/** Loads libbpf C with BPF.load, attaching nothing (the tests attach by hand). */
export async function load(
  source: string,
  grants?: LoadOptions["grants"],
): Promise<Loaded> {
  const b = await BPF.load({ text: source, autoAttach: false, grants });
  const bytes = (name: string, i: number, size: number) => {
    const map = b.maps.get(name);
    if (!map) throw new Error(`no map ${name}`);
    const key = new Uint8Array(4);
    new DataView(key.buffer).setUint32(0, i, true);
    const value = new Uint8Array(size);
    if (lib().bpfpm_map__lookup(map.fd, key, value, 0n) !== 0) {
      throw new Error(`lookup ${name}[${i}]: ${lastError().message}`);
    }
    return value;
  };
  return {
    programs: b.programs,
    u64: (name, i = 0) =>
      new DataView(bytes(name, i, 8).buffer).getBigUint64(0, true),
    bytes,
    ids: () => [...b.programs.values()].map((p) => p.id),
    close: () => b.close(),
    [Symbol.dispose]: () => b.close(),
  };
}

/** A one-slot-per-index u64 array map declaration named `name`. */
export function u64Array(name: string, entries = 1): string {
  return `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, ${entries}); __type(key, __u32); __type(value, __u64); } ${name} SEC(".maps");`;
}

/** Runs a command; throws with its stderr unless it exits 0. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}): ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return text;
}

/** Builds C source with gcc into a temp dir; returns the binary's path. */
export async function buildC(
  dir: string,
  name: string,
  source: string,
  flags: string[] = [],
) {
  const src = `${dir}/${name}.c`;
  await Deno.writeTextFile(src, source);
  const bin = `${dir}/${name}`;
  await run("gcc", ["-O1", "-g", "-o", bin, src, ...flags]);
  return bin;
}

/** Whether a program id is still loaded in the kernel. */
export async function progLoaded(id: number): Promise<boolean> {
  const out = await new Deno.Command("bpftool", {
    args: ["prog", "show", "id", String(id)],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

/** Runs `fn`, which must throw an instance of `cls`; returns the error. */
export function thrown<T extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  cls: new (...args: any[]) => T,
): T {
  try {
    fn();
  } catch (error) {
    if (error instanceof cls) return error;
    throw new Error(`expected ${cls.name}, got ${String(error)}`, {
      cause: error,
    });
  }
  throw new Error(`expected ${cls.name}, nothing was thrown`);
}

/** Runs `fn` in a new temp dir, removed after whatever happens. */
export async function inTempDir<T>(
  prefix: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with C `source` built as `<temp dir>/target`, the dir removed after. */
export function withBuilt(
  source: string,
  fn: (bin: string) => Promise<void>,
): Promise<void> {
  return inTempDir(
    "bpfpm_attach_",
    async (dir) => fn(await buildC(dir, "target", source)),
  );
}

/**
 * A C program opening file argv[1] argv[2] times with open() (the openat syscall) and closing
 * it: build it as `bpfpmopen`, the name {@linkcode opensCounter} counts.
 */
export const OPENER = `
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = atoi(argv[2]);
  for (int i = 0; i < n; i++) { int fd = open(argv[1], O_RDONLY); if (fd >= 0) close(fd); }
  return 0;
}`;

/** A program `count_opens` in `section` counting, in map `opens`, calls by processes named bpfpmopen. */
export function opensCounter(section: string): string {
  return `
${u64Array("opens")}
SEC("${section}") int count_opens(void *ctx) {
  char comm[16] = {};
  bpf_get_current_comm(comm, sizeof comm);
  const char want[] = "bpfpmopen";
  for (int i = 0; i < sizeof want; i++) if (comm[i] != want[i]) return 0;
  __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&opens, &k);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}
char LICENSE[] SEC("license") = "GPL";`;
}
