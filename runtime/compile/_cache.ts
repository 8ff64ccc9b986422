/**
 * The compile cache: where it lives, what a key is made of, and entries that are written
 * atomically and checked before they are used.
 *
 * Layout under the cache root (`$BPFPM_CACHE_DIR`, else `$XDG_CACHE_HOME/bpfpm`, else
 * `~/.cache/bpfpm`, else `/var/cache/bpfpm` for root: runtime/cache_dir.ts):
 *
 * - `btf/<kernel release>@<boot time>`: sha256 of /sys/kernel/btf/vmlinux, hashed once per
 *   boot (the running kernel's BTF cannot change without a reboot), so a warm start reads a
 *   small file instead of hashing 5+ MB (see kernelBtfHash).
 * - `kernel/<btf hash>/vmlinux.h` and `kernel/<btf hash>/pch-<pch key>/`: the generated
 *   header and its precompiled form (see _pch.ts).
 * - `obj/<key>.bpfo`: one compiled object per key.
 * - `.pruned`: when _prune.ts last removed unused entries (at most daily, after a miss).
 *
 * An object's key is sha256 over: the entry format version; the compiler's identity (size,
 * mtime and inode of libbpfpm_compiler.so, libbpfpm_clang.so and the libclang/libLLVM they
 * use: a rebuild or an LLVM upgrade changes them); the kernel BTF hash; the full compiler
 * argument list (cflags with relative -I made absolute, the PCH path); the C file name; and
 * the source text (prelude included). Headers are not in the key: each entry lists every
 * file clang read for it (libbpf headers, bpfpm.h, vmlinux.h, the PCH, user headers) with
 * size, mtime and inode, and a hit is only taken when all of them are unchanged (ccache's
 * "direct mode"), which is as strict as hashing the preprocessed source for any edit that
 * changes a file's size, mtime or inode. A hit therefore costs: 1 readdir, 1 small read, 5 stats,
 * two hashes of short strings, one read and hash of the entry, a stat per listed file.
 *
 * Entry format: magic "BPFPMOB1", u32 header length, u32 object length, 32-byte sha256 of
 * (header + object), the JSON header ({ key, deps }), the object bytes. A short, oversized or
 * mismatching entry is deleted and reported as a miss, never returned.
 *
 * @module
 */

import { KernelBtfError } from "../errors.ts";
import { compilerLib, cstr, lastCompilerError } from "./_ffi.ts";
import { optionalEnv } from "../_env.ts";
import { cacheDir } from "../cache_dir.ts";

const MAGIC = new TextEncoder().encode("BPFPMOB1");
const PREFIX = MAGIC.length + 4 + 4 + 32;
const FORMAT_VERSION = 1;
const BTF_PATH = "/sys/kernel/btf/vmlinux";

/** The BTF that vmlinux.h is generated from: `BPFPM_BTF_PATH` if set, else the kernel's. */
export function kernelBtfPath(): string {
  return optionalEnv("BPFPM_BTF_PATH") ?? BTF_PATH;
}

/** A file an object was built from, as it was then: [path, size, mtime ms, inode]. */
export type Dep = [string, number, number, number];

/** The cache root directory (the rule is runtime/cache_dir.ts's). */
export function cacheRoot(override?: string): string {
  return override || cacheDir();
}

/** Hex sha256 of some bytes or a string. */
export async function sha256(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return hex(new Uint8Array(digest));
}

function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** The stat fingerprint of a file, or undefined if it cannot be stat'ed. */
export function fingerprint(path: string): Dep | undefined {
  try {
    const st = Deno.statSync(path);
    return [path, st.size, st.mtime?.getTime() ?? 0, st.ino ?? 0];
  } catch (e) {
    // Not being allowed to look is not "changed": the caller names the flag instead.
    if (e instanceof Deno.errors.NotCapable) throw e;
    return undefined;
  }
}

/** Whether every file is still as recorded. */
export function depsUnchanged(deps: readonly Dep[]): boolean {
  for (const d of deps) {
    const now = fingerprint(d[0]);
    if (!now || now[1] !== d[1] || now[2] !== d[2] || now[3] !== d[3]) {
      return false;
    }
  }
  return true;
}

/**
 * The sha256 of the running kernel's BTF, hashed once per boot and remembered in
 * `btf/<kernel release>@<boot time>`: BTF cannot change without a reboot. The release and boot
 * time come from `Deno.osRelease()` and `Deno.osUptime()`, so a warm start reads nothing
 * under /proc or /sys, which Deno only lets a script read with `--allow-all`.
 */
export async function kernelBtfHash(
  root: string,
): Promise<{ btf: string; boot: string }> {
  const override = optionalEnv("BPFPM_BTF_PATH");
  if (override) return await fileBtfHash(root, override);
  const prefix = `${encodeURIComponent(Deno.osRelease())}@`;
  // osUptime() is in whole seconds: the estimate may be a second or two off.
  const bootTime = Math.floor(Date.now() / 1000 - Deno.osUptime());
  let memos: Deno.DirEntry[] = [];
  try {
    memos = [...Deno.readDirSync(`${root}/btf`)];
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const m of memos) {
    if (!m.name.startsWith(prefix)) continue;
    if (Math.abs(Number(m.name.slice(prefix.length)) - bootTime) > 2) continue;
    try {
      const h = Deno.readTextFileSync(`${root}/btf/${m.name}`).trim();
      if (/^[0-9a-f]{64}$/.test(h)) return { btf: h, boot: m.name };
    } catch {
      // Removed meanwhile: hash again.
    }
  }
  const h = await sha256(readKernelBtf());
  const boot = `${prefix}${bootTime}`;
  writeAtomic(`${root}/btf/${boot}`, new TextEncoder().encode(h + "\n"));
  return { btf: h, boot };
}

/**
 * The hash of a BTF file named by `BPFPM_BTF_PATH`, remembered in `btf/file-<path hash>` with
 * the file's stat fingerprint, and hashed again when that changes.
 */
async function fileBtfHash(
  root: string,
  path: string,
): Promise<{ btf: string; boot: string }> {
  const fp = fingerprint(path);
  if (!fp) throw noBtf(new Error(`${path} does not exist`), path);
  const boot = `file-${(await sha256(path)).slice(0, 24)}`;
  const memo = `${root}/btf/${boot}`;
  try {
    const [saved, h] = JSON.parse(Deno.readTextFileSync(memo));
    if (JSON.stringify(saved) === JSON.stringify(fp)) return { btf: h, boot };
  } catch {
    // Not hashed yet, or damaged: hash again.
  }
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable) throw cause;
    throw noBtf(cause, path);
  }
  const h = await sha256(bytes);
  writeAtomic(memo, new TextEncoder().encode(JSON.stringify([fp, h])));
  return { btf: h, boot };
}

function noBtf(cause: unknown, path = BTF_PATH): KernelBtfError {
  return new KernelBtfError(
    path === BTF_PATH
      ? `The kernel has no BTF (${path} is unreadable), which CO-RE and vmlinux.h need: boot a kernel built with CONFIG_DEBUG_INFO_BTF=y`
      : `The BTF file ${path} (BPFPM_BTF_PATH) is unreadable: point BPFPM_BTF_PATH at a BTF file, or unset it to use the kernel's`,
    { path, cause },
  );
}

/** The kernel's BTF; through the compiler library when Deno may not read /sys. */
function readKernelBtf(): Uint8Array {
  try {
    return Deno.readFileSync(BTF_PATH);
  } catch (cause) {
    if (!(cause instanceof Deno.errors.NotCapable)) throw noBtf(cause);
  }
  const lib = compilerLib();
  const path = cstr(BTF_PATH);
  const size = Number(lib.bpfpm_compiler__read_file(path, null, 0n));
  if (size < 0) throw noBtf(new Error(lastCompilerError(lib)));
  const buf = new Uint8Array(size);
  const n = Number(lib.bpfpm_compiler__read_file(path, buf, BigInt(size)));
  if (n < 0) throw noBtf(new Error(lastCompilerError(lib)));
  return buf.subarray(0, n);
}

/** The compiler's identity, from stats only (no library load). */
export function compilerIdentity(libPath: string): string {
  const parts = [
    libPath,
    libPath.replace(/[^/]*$/, "libbpfpm_clang.so"),
    "/usr/lib/llvm-14/lib/libclang-cpp.so.14",
    "/usr/lib/llvm-14/lib/libLLVM-14.so",
  ].map((p) => JSON.stringify(fingerprint(p) ?? [p]));
  return parts.join(";");
}

/** The key of an object: see the module comment for what goes in. */
export function objectKey(parts: {
  compiler: string;
  btf: string;
  args: readonly string[];
  name: string;
  source: string;
}): Promise<string> {
  return sha256(JSON.stringify([
    FORMAT_VERSION,
    parts.compiler,
    parts.btf,
    parts.args,
    parts.name,
    parts.source,
  ]));
}

/** Writes a file atomically (temp file in the same directory, then rename). */
export function writeAtomic(path: string, data: Uint8Array): void {
  const dir = path.slice(0, path.lastIndexOf("/"));
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.writeFileSync(tmp, data);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // Nothing to clean.
    }
    throw e;
  }
}

/**
 * Refuses a cache root that another user could write to: its objects are loaded into the
 * kernel, so whoever can write them can choose what runs there.
 */
export function checkRootOwnership(root: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(root);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const uid = Deno.uid();
  const unsafe = (st.mode ?? 0) & 0o022;
  if ((uid !== null && st.uid !== uid) || unsafe) {
    throw new Error(
      `The BPF compile cache ${root} is ${
        unsafe
          ? "writable by other users"
          : `owned by uid ${st.uid}, not ${uid}`
      }, so its objects cannot be trusted: run chmod go-w ${root} (and chown it), or set BPFPM_CACHE_DIR to a private directory`,
    );
  }
}

/** The path of an object entry. */
export function entryPath(root: string, key: string): string {
  return `${root}/obj/${key}.bpfo`;
}

/** Why an entry was not used, for tests and diagnostics. */
export type Miss = "absent" | "corrupt" | "stale";

/**
 * Reads an entry; returns the object if it is intact, for this key, and built from files
 * that are all unchanged. A corrupt entry is deleted.
 */
export async function readEntry(
  root: string,
  key: string,
): Promise<{ object: Uint8Array; diagnostics: string } | { miss: Miss }> {
  const path = entryPath(root, key);
  let buf: Uint8Array;
  try {
    buf = Deno.readFileSync(path);
  } catch {
    return { miss: "absent" };
  }
  const parsed = await parseEntry(buf, key);
  if (!parsed) {
    try {
      Deno.removeSync(path);
    } catch {
      // Already gone (another process).
    }
    return { miss: "corrupt" };
  }
  if (!depsUnchanged(parsed.deps)) return { miss: "stale" };
  return { object: parsed.object, diagnostics: parsed.diagnostics };
}

async function parseEntry(
  buf: Uint8Array,
  key: string,
): Promise<
  { object: Uint8Array; deps: Dep[]; diagnostics: string } | undefined
> {
  if (buf.length < PREFIX) return undefined;
  for (let i = 0; i < MAGIC.length; i++) {
    if (buf[i] !== MAGIC[i]) return undefined;
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = view.getUint32(MAGIC.length, true);
  const objectLen = view.getUint32(MAGIC.length + 4, true);
  if (PREFIX + headerLen + objectLen !== buf.length) return undefined;
  const sum = hex(buf.subarray(MAGIC.length + 8, PREFIX));
  const body = buf.subarray(PREFIX);
  if (sum !== await sha256(body)) return undefined;
  let header: { key?: unknown; deps?: unknown; diagnostics?: unknown };
  try {
    header = JSON.parse(new TextDecoder().decode(body.subarray(0, headerLen)));
  } catch {
    return undefined;
  }
  if (header.key !== key || !Array.isArray(header.deps)) return undefined;
  return {
    object: body.slice(headerLen),
    deps: header.deps as Dep[],
    diagnostics: typeof header.diagnostics === "string"
      ? header.diagnostics
      : "",
  };
}

/**
 * Stores an object under its key with the files it was built from and clang's (warning)
 * diagnostics.
 */
export async function writeEntry(
  root: string,
  key: string,
  entry: { object: Uint8Array; deps: readonly Dep[]; diagnostics: string },
): Promise<void> {
  const { object, deps, diagnostics } = entry;
  const header = new TextEncoder().encode(
    JSON.stringify({ key, deps, diagnostics }),
  );
  const body = new Uint8Array(header.length + object.length);
  body.set(header, 0);
  body.set(object, header.length);
  const sum = await crypto.subtle.digest("SHA-256", body);
  const buf = new Uint8Array(PREFIX + body.length);
  buf.set(MAGIC, 0);
  const view = new DataView(buf.buffer);
  view.setUint32(MAGIC.length, header.length, true);
  view.setUint32(MAGIC.length + 4, object.length, true);
  buf.set(new Uint8Array(sum), MAGIC.length + 8);
  buf.set(body, PREFIX);
  writeAtomic(entryPath(root, key), buf);
}
