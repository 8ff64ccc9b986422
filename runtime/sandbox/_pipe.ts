/**
 * The sandbox channel's FIFOs, through libc where this process may use FFI (the trusted side
 * does; Linux only): made with mkfifo(3) rather than a `mkfifo` process on the start-up path,
 * and widened from the kernel's default 64 KiB to the largest size an unprivileged pipe may
 * have (`/proc/sys/fs/pipe-max-size`, 1 MiB by default), so that an event batch or a map page
 * crosses in a few writes instead of one per 64 KiB, each a hand-off between the two
 * processes (on a busy machine, a wait for the CPU). Where libc cannot be called, the caller
 * makes the FIFOs another way and the pipes keep their size: only speed depends on these.
 *
 * @module
 */

const F_SETPIPE_SZ = 1031;
const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const MAX = 16 << 20;

const SYMBOLS = {
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

let libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null | undefined;

function symbols() {
  if (libc !== undefined) return libc;
  libc = null;
  try {
    if (
      Deno.build.os === "linux" &&
      Deno.permissions.querySync({ name: "ffi" }).state === "granted"
    ) {
      libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    }
  } catch { /* no libc to call: the pipes keep their size */ }
  return libc;
}

const cPath = (path: string) => new TextEncoder().encode(`${path}\0`);

/**
 * Makes FIFOs of mode 0600 at `paths` with mkfifo(3).
 *
 * @param paths where (none may exist)
 * @returns false, having made none, where libc cannot be called or a mkfifo failed
 *
 * @example
 * ```ts
 * import { makeFifos } from "./_pipe.ts";
 * if (!makeFifos(["/tmp/bpfpm-sandbox-1-x/req"])) console.log("use mkfifo(1)");
 * ```
 */
export function makeFifos(paths: readonly string[]): boolean {
  const s = symbols();
  if (!s) return false;
  const made: string[] = [];
  for (const path of paths) {
    if (s.mkfifo(cPath(path), 0o600) !== 0) {
      for (const p of made) Deno.removeSync(p);
      return false;
    }
    made.push(path);
    Deno.chmodSync(path, 0o600); // exactly, whatever the umask
  }
  return true;
}

function maxPipeSize(): number {
  try {
    const n = Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size"));
    return Number.isSafeInteger(n) && n > 0 ? Math.min(n, MAX) : 0;
  } catch {
    return 0;
  }
}

/**
 * Sets the buffer size of the FIFOs at `paths` (each must be open in this process already, so
 * the pipe and its size outlive the short-lived descriptor used here).
 *
 * @param paths FIFOs this process holds open
 * @returns how many were widened
 *
 * @example
 * ```ts
 * import { widenPipes } from "./_pipe.ts";
 * widenPipes(["/tmp/bpfpm-sandbox-1-x/req"]);
 * ```
 */
export function widenPipes(paths: readonly string[]): number {
  const s = symbols();
  const size = maxPipeSize();
  if (!s || size <= 65536) return 0;
  let done = 0;
  for (const path of paths) {
    const fd = s.open(cPath(path), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    if (s.fcntl(fd, F_SETPIPE_SZ, size) >= size) done++;
    s.close(fd);
  }
  return done;
}
