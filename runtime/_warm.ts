/**
 * Warm-start memos: on a start whose inputs have not changed since the last one, `BPF.load`
 * skips the two pure steps around the compile cache by reading their results from the cache
 * root, next to the objects (`obj/`, pruned with them):
 *
 * - `obj/<64-bit hash of the C, BPFPM_TRACEFS and BPFPM_BTF_PATH>.src`: the rewritten C
 *   (runtime/source), its prelude and its position map (for diagnostics).
 *   The rewrite reads the source text, the running kernel (tracepoint format files, whether
 *   the kprobe PMU exists, the release for `LINUX_VERSION_CODE`, its BTF's struct names), its
 *   own code and which header shims exist. A memo is used only when the source and the
 *   tracefs and BTF overrides are the same (the memo holds them and they are compared in
 *   full; the hash, sync and cheap, only names the file), the kernel release and the boot
 *   are the same (boot time from `Deno.osUptime()`, ±2 s: format files and the kprobe PMU
 *   are fixed for a booted kernel), and each module of the rewriter and each directory of
 *   runtime/include that holds (or would hold) a shim of a kernel header the C includes is
 *   unchanged (size, mtime and inode, as the compile cache checks headers). The rewritten C
 *   then goes through the compile cache as before, whose key and checks are untouched. Within
 *   one boot, a module's tracepoint can disappear (module unloaded) after its memo was made:
 *   auto-attach still refuses it before load (`requireTracepoint`), with the same
 *   TracepointNotFoundError; only `autoAttach: false` then loads where the rewrite would
 *   have thrown. A module reloaded from a different build with changed formats within one
 *   boot is the one case a memo does not see.
 * - `obj/<sha256 of the object>.spec`: the object's programs and maps as `inspectObject`
 *   reads them (runtime/spec), for the grants check. It is bound to the object bytes (the
 *   key is their hash, stored and compared again), to the possible-CPU count (per-CPU map
 *   memory) and to the inspector's modules (unchanged, as above), so the grants from
 *   `BPFPM_GRANTS` and `grants` are checked on every load exactly as on a cold one; a
 *   program's instructions are views into the object, as `inspectObject` gives them.
 *
 * A memo that is absent, damaged, or not valid for this start is ignored and written again;
 * where Deno may not read the runtime's modules (narrow flags without `--allow-read` of the
 * runtime folder, which `requiredDenoFlags()` includes) or the runtime is not loaded from
 * files, no memo is used or written. Any failure to read or write a memo only costs the work
 * it would have saved. The memos trust the cache root as the objects do (`checkRootOwnership`).
 *
 * The runtime is not bundled for a faster import: a bundle would be a second copy of every
 * module next to the files that scripts, probes and tests also import directly (`bpf` and
 * `runtime/maps/mod.ts`, say), so classes (`instanceof`) and process-wide state (the native
 * library, the trace_pipe reader, lifecycle hooks) would exist twice; and keeping it fresh
 * needs a rebuild step that narrow flags (no `--allow-run`) cannot run. A warm start instead
 * loads fewer modules: the rewriter and the object reader only on a miss.
 *
 * @module
 */
import {
  cacheRoot,
  checkRootOwnership,
  type Dep,
  depsUnchanged,
  fingerprint,
  sha256,
  writeAtomic,
} from "./compile/_cache.ts";
import { optionalEnv } from "./_env.ts";
import { BccRewriteError } from "./errors.ts";
import type { PositionMap } from "./compile/compile_error.ts";
import type { ObjectSpec, ProgramSpec } from "./spec/object.ts";
import { possibleCpus } from "./spec/_cpus.ts";
import { nameHash } from "./_name_hash.ts";

const VERSION = 2;

/** The modules whose code decides the rewrite's output (a test checks the module graph). */
export const REWRITE_MODULES: readonly string[] = [
  "_env.ts",
  "_ffi.ts",
  "_kernel_files.ts",
  "_location.ts",
  "_system.ts",
  "_warm.ts",
  "errors.ts",
  "compile/_include_dir.ts",
  "source/_positions.ts",
  "source/_scan.ts",
  "source/rewrite.ts",
  "source/tracepoint_format.ts",
  "source/tracepoint_probe.ts",
  "trace/tracefs.ts",
  "source/bcc/_lex.ts",
  "source/bcc/_state.ts",
  "source/bcc/keep_types.ts",
  "source/bcc/kernel_config.ts",
  "source/bcc/kernel_headers.ts",
  "source/bcc/kernel_reads.ts",
  "source/bcc/maps.ts",
  "source/bcc/methods.ts",
  "source/bcc/passes.ts",
  "source/bcc/printk.ts",
  "source/bcc/probes.ts",
  "source/bcc/regs_helpers.ts",
  "source/bcc/shadowed_types.ts",
  "spec/section_kinds.ts",
];

/** The modules whose code decides `inspectObject`'s result (a test checks the module graph). */
export const INSPECT_MODULES: readonly string[] = [
  "_location.ts",
  "_warm.ts",
  "errors.ts",
  "btf/btf.ts",
  "spec/_cpus.ts",
  "spec/elf.ts",
  "spec/insn.ts",
  "spec/map_types.ts",
  "spec/object.ts",
  "spec/section_kinds.ts",
];

/** What the grants check reads of an object: its programs and maps. */
export type ObjectFacts = Pick<ObjectSpec, "programs" | "maps">;

const RUNTIME_DIR = new URL("./", import.meta.url);

/** Whether memos can be used here: the runtime is files this process may stat. */
function memosUsable(): boolean {
  if (RUNTIME_DIR.protocol !== "file:") return false;
  const path = decodeURIComponent(RUNTIME_DIR.pathname);
  return Deno.permissions.querySync({ name: "read", path }).state ===
    "granted";
}

function codeDeps(modules: readonly string[]): Dep[] | undefined {
  const deps: Dep[] = [];
  for (const m of modules) {
    const fp = fingerprint(
      decodeURIComponent(new URL(m, RUNTIME_DIR).pathname),
    );
    if (!fp) return undefined;
    deps.push(fp);
  }
  return deps;
}

/**
 * The cache root, if this process may find, read and write it (asked without a prompt: a
 * load of a compiled object never touched the cache before) and it can be trusted (else
 * compile() says why).
 */
function root(): string | undefined {
  try {
    for (const variable of ["BPFPM_CACHE_DIR", "XDG_CACHE_HOME", "HOME"]) {
      if (
        Deno.permissions.querySync({ name: "env", variable }).state !==
          "granted"
      ) {
        return undefined;
      }
    }
    const dir = cacheRoot();
    for (const name of ["read", "write"] as const) {
      if (Deno.permissions.querySync({ name, path: dir }).state !== "granted") {
        return undefined;
      }
    }
    checkRootOwnership(dir);
    return dir;
  } catch {
    return undefined;
  }
}

function readMemo(path: string): Record<string, unknown> | undefined {
  try {
    const memo = JSON.parse(Deno.readTextFileSync(path));
    return memo && typeof memo === "object" && memo.v === VERSION
      ? memo
      : undefined;
  } catch {
    return undefined;
  }
}

function writeMemo(path: string, memo: Record<string, unknown>): void {
  try {
    writeAtomic(path, new TextEncoder().encode(JSON.stringify(memo)));
  } catch {
    // A cache that cannot take it only costs the next start the work.
  }
}

function isDeps(x: unknown): x is Dep[] {
  return Array.isArray(x) && x.every((d) => Array.isArray(d) && d.length === 4);
}

/** Whether a memo's code files are all as recorded (a file Deno may not stat counts as changed). */
function unchanged(deps: unknown): boolean {
  try {
    return isDeps(deps) && depsUnchanged(deps);
  } catch {
    return false;
  }
}

function bootTime(): number {
  return Math.floor(Date.now() / 1000 - Deno.osUptime());
}

/** The rewritten C as `compile()` takes it (runtime/source's `Rewritten` without `bcc`). */
export interface RewrittenSource {
  /** The C as the user wrote it. */
  source: string;
  /** The whole libbpf C: `prelude`, a `#line 1` marker, then `body`. */
  text: string;
  /** The declarations the rewrite added ("" for none). */
  prelude: string;
  /** The user's code, rewritten, line for line. */
  body: string;
  /** Where `body`'s text came from on the lines the rewrite changed. */
  positions: PositionMap;
}

const MARKER = "\n#line 1\n";

/** The parts of a memo's text (all of it the body when it does not hold the prelude). */
function parts(
  source: string,
  text: string,
  prelude: unknown,
  positions: unknown,
): RewrittenSource {
  const p = typeof prelude === "string" ? prelude : "";
  const map =
    positions && typeof positions === "object" && !Array.isArray(positions)
      ? positions as PositionMap
      : {};
  return text.startsWith(`${p}${MARKER}`)
    ? {
      source,
      text,
      prelude: p,
      body: text.slice(p.length + MARKER.length),
      positions: map,
    }
    : { source, text, prelude: "", body: text, positions: map };
}

/**
 * The BCC-dialect C rewritten to libbpf C (runtime/source's `rewrite`), from the memo when
 * this boot's kernel and the rewriter's code are those it was made with.
 *
 * @param source The C as the user wrote it.
 * @param caller An error made in the user's call, whose stack places rewrite errors in the
 *   user's file.
 * @returns The rewritten C.
 */
export async function rewritten(
  source: string,
  caller?: Error,
): Promise<string> {
  return (await rewrittenSource(source, caller)).text;
}

/**
 * {@linkcode rewritten}, with the parts `compile()` takes: the prelude apart, and where the
 * rewrite moved the user's text.
 *
 * @param source The C as the user wrote it.
 * @param caller An error made in the user's call, whose stack places rewrite errors in the
 *   user's file.
 * @returns The rewritten C and its parts.
 */
export async function rewrittenSource(
  source: string,
  caller?: Error,
): Promise<RewrittenSource> {
  const dir = memosUsable() ? root() : undefined;
  // A tracefs other than the kernel's (tests) may hold other format files, and a BTF file
  // other than the kernel's other structs (the program's own copies of kernel structs).
  const tracefs = optionalEnv("BPFPM_TRACEFS") ?? "";
  const btf = optionalEnv("BPFPM_BTF_PATH") ?? "";
  const key = dir ? nameHash(`${tracefs}\0${btf}\0${source}`) : "";
  const path = `${dir}/obj/${key}.src`;
  const release = dir ? Deno.osRelease() : "";
  const boot = dir ? bootTime() : 0;
  if (dir) {
    const memo = readMemo(path);
    if (
      memo && memo.tracefs === tracefs && memo.btf === btf &&
      memo.source === source &&
      memo.release === release &&
      typeof memo.boot === "number" && Math.abs(memo.boot - boot) <= 2 &&
      typeof memo.text === "string" && unchanged(memo.deps)
    ) {
      return parts(source, memo.text, memo.prelude, memo.positions);
    }
  }
  const { rewrite } = await import("./source/rewrite.ts");
  let result: RewrittenSource;
  try {
    const { text, prelude, body, positions } = rewrite(source);
    result = { source, text, prelude, body, positions };
  } catch (error) {
    // The rewrite places its errors in the user's file by the stack, which the awaits above
    // have cut: place them again by the caller's.
    if (error instanceof BccRewriteError && !error.file && caller?.stack) {
      throw error.locate(source, caller.stack);
    }
    throw error;
  }
  const { shimDirectories } = await import("./source/bcc/kernel_headers.ts");
  const deps = dir
    ? codeDeps([...REWRITE_MODULES, ...shimDirectories(source)])
    : undefined;
  if (deps) {
    writeMemo(path, {
      v: VERSION,
      tracefs,
      btf,
      source,
      release,
      boot,
      deps,
      text: result.text,
      prelude: result.prelude,
      positions: result.positions,
    });
  }
  return result;
}

/** A program as the memo stores it: its instructions as [offset, length] in the object. */
type StoredProgram = Omit<ProgramSpec, "instructions"> & {
  instructions: [number, number];
};

function restorePrograms(
  object: Uint8Array,
  stored: unknown,
): ProgramSpec[] | undefined {
  if (!Array.isArray(stored)) return undefined;
  const out: ProgramSpec[] = [];
  for (const p of stored as StoredProgram[]) {
    const [at, length] = Array.isArray(p?.instructions)
      ? p.instructions
      : [-1, -1];
    if (
      !Number.isInteger(at) || !Number.isInteger(length) || at < 0 ||
      length < 0 || at + length > object.length
    ) return undefined;
    out.push({ ...p, instructions: object.subarray(at, at + length) });
  }
  return out;
}

/**
 * The programs and maps of a compiled object as `inspectObject` reads them, from the memo
 * bound to these exact bytes when there is one.
 *
 * @param object The BPF ELF object.
 * @returns Its programs and maps, for `checkGrants`.
 * @throws {ObjectFormatError} When the bytes are not a BPF object.
 */
export async function objectFacts(object: Uint8Array): Promise<ObjectFacts> {
  const dir = memosUsable() ? root() : undefined;
  const cpus = possibleCpus();
  const hash = dir ? await sha256(object) : "";
  const path = `${dir}/obj/${hash}.spec`;
  if (dir) {
    const memo = readMemo(path);
    const programs = memo?.object === hash && memo.cpus === cpus &&
        Array.isArray(memo.maps) && unchanged(memo.deps)
      ? restorePrograms(object, memo.programs)
      : undefined;
    if (programs) return { programs, maps: memo!.maps as ObjectSpec["maps"] };
  }
  const { inspectObject } = await import("./spec/object.ts");
  const spec = inspectObject(object, { cpus });
  const deps = dir ? codeDeps(INSPECT_MODULES) : undefined;
  const programs = spec.programs.map((p) => ({
    ...p,
    instructions: p.instructions.buffer === object.buffer
      ? [p.instructions.byteOffset - object.byteOffset, p.instructions.length]
      : undefined,
  }));
  if (deps && programs.every((p) => p.instructions !== undefined)) {
    writeMemo(path, {
      v: VERSION,
      object: hash,
      cpus,
      deps,
      programs,
      maps: spec.maps,
    });
  }
  return spec;
}
