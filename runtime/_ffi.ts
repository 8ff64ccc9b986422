/**
 * The one place that declares the core native library's symbols (native/include/bpfpm.h) and
 * opens it. Nothing else calls `Deno.dlopen` for libbpfpm.so; the compiler library has its own
 * file in runtime/compile/, opened only on a cache miss.
 *
 * @module
 */
import { DenoPermissionError, NativeLibraryError } from "./errors.ts";
import { optionalEnv } from "./_env.ts";

/**
 * An opaque native handle of kind `K`: a `bpfpm_object` cannot be passed as a `bpf_link`.
 *
 * @example A branded handle type
 * ```ts
 * import type { Handle } from "bpf";
 * type MyHandle = Handle<"my_struct">; // cannot be passed where a Handle<"bpfpm_link"> is expected
 * declare const h: MyHandle;
 * console.log(h !== null);
 * ```
 */
export type Handle<K extends string> = Deno.PointerObject & {
  /** Type-level brand only: no such property exists at run time. */
  readonly __bpfpmHandle: K;
};
/** `struct bpfpm_object *` */
export type ObjectHandle = Handle<"bpfpm_object">;
/**
 * `struct bpf_program *`
 *
 * @example The libbpf program behind a Program
 * ```ts
 * import { BPF, type ProgramHandle } from "bpf";
 * using b = await BPF.load({ file: "./probe.bpf.c", autoAttach: false });
 * const handle: ProgramHandle = b.programs.get("on_clone")!.handle;
 * ```
 */
export type ProgramHandle = Handle<"bpf_program">;
/** `struct bpf_map *` */
export type MapHandle = Handle<"bpf_map">;
/**
 * `struct bpfpm_link *`: what every attach kind returns (native/include/bpfpm_link.h).
 *
 * @example A link handle is its own type
 * ```ts
 * import type { LinkHandle, ProgramHandle } from "bpf";
 * declare const handle: LinkHandle;
 * // @ts-expect-error a link is not a program
 * const program: ProgramHandle = handle;
 * ```
 */
export type LinkHandle = Handle<"bpfpm_link">;
/** `struct bpfpm_event_reader *` */
export type EventReaderHandle = Handle<"bpfpm_event_reader">;
/** `struct bpfpm_trace_pipe *` */
export type TracePipeHandle = Handle<"bpfpm_trace_pipe">;

/**
 * The core library's symbols as `Deno.dlopen` types them, grouped by the public header that
 * declares them (native/include: the one place their C signatures are written;
 * tests/attach/ffi_abi_test.ts checks every entry against its declaration).
 */
export const SYMBOLS = {
  // --- errors and objects (bpfpm.h) ---
  bpfpm_last_error: { parameters: [], result: "pointer" },
  bpfpm_last_errno: { parameters: [], result: "i32" },

  bpfpm_object__open_mem: {
    parameters: ["buffer", "usize", "buffer", "buffer"],
    result: "pointer",
  },
  bpfpm_object__load: { parameters: ["pointer"], result: "i32" },
  bpfpm_object__prepare_late: {
    parameters: ["pointer", "pointer", "buffer", "i32", "i32"],
    result: "i32",
  },
  bpfpm_object__reuse_map: {
    parameters: ["pointer", "buffer", "i32"],
    result: "i32",
  },
  bpfpm_object__set_initial_bytes: {
    parameters: ["pointer", "buffer", "u64", "buffer", "u64"],
    result: "i32",
  },
  bpfpm_object__verifier_log: { parameters: ["pointer"], result: "pointer" },
  bpfpm_object__failed_program: { parameters: ["pointer"], result: "pointer" },
  bpfpm_object__describe: {
    parameters: ["pointer", "buffer", "u64"],
    result: "i64",
  },
  bpfpm_object__program: { parameters: ["pointer", "i32"], result: "pointer" },
  bpfpm_object__close: { parameters: ["pointer"], result: "void" },

  // --- links (bpfpm_link.h) ---
  bpfpm_program__attach_tracepoint: {
    parameters: ["i32", "buffer", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_raw_tracepoint: {
    parameters: ["i32", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_tracing: {
    parameters: ["i32", "buffer", "u32"],
    result: "pointer",
  },
  bpfpm_program__attach_uprobe: {
    parameters: ["i32", "buffer", "u64", "i32", "u32", "u64", "u64"],
    result: "pointer",
  },
  bpfpm_program__attach_kprobe: {
    parameters: ["i32", "buffer", "u64", "u32", "i32", "u64"],
    result: "pointer",
  },
  bpfpm_program__attach_multi: {
    parameters: [
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "u32",
      "i32",
      "u32",
    ],
    result: "pointer",
  },
  bpfpm_program__attach_syscall_twin: {
    parameters: ["pointer", "buffer", "u32", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_perf_event: {
    parameters: ["i32", "u32", "u64", "u64", "u32", "i32", "i32"],
    result: "pointer",
  },
  bpfpm_program__attach_xdp: {
    parameters: ["i32", "buffer", "u32", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_tc: {
    parameters: ["i32", "buffer", "u32", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_socket: {
    parameters: ["i32", "buffer", "i32", "buffer"],
    result: "pointer",
  },
  bpfpm_program__attach_cgroup: {
    parameters: ["i32", "buffer", "u32"],
    result: "pointer",
  },
  bpfpm_program__attach_iter: { parameters: ["i32"], result: "pointer" },
  bpfpm_program__attach_usdt: {
    parameters: ["pointer", "i32", "buffer", "buffer", "buffer", "u64"],
    result: "pointer",
  },
  bpfpm_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpfpm_link__fd: { parameters: ["pointer"], result: "i32" },
  bpfpm_link__count: { parameters: ["pointer"], result: "i32" },
  bpfpm_link__id: { parameters: ["pointer"], result: "i64" },
  bpfpm_link__own_program_id: { parameters: ["pointer"], result: "i64" },
  bpfpm_link__pin: { parameters: ["pointer", "buffer"], result: "i32" },
  bpfpm_link__unpin: { parameters: ["pointer"], result: "i32" },
  bpfpm_link__open_pinned: { parameters: ["buffer"], result: "pointer" },
  bpfpm_link__iter_open: { parameters: ["pointer"], result: "i32" },
  bpfpm_iter__read: { parameters: ["i32", "buffer", "u64"], result: "i64" },
  bpfpm_fd__close: { parameters: ["i32"], result: "i32" },

  // --- trace pipe, files, processes (bpfpm.h) ---
  bpfpm_tracefs__mount: { parameters: ["buffer"], result: "i32" },
  bpfpm_trace_pipe__open: { parameters: ["buffer"], result: "pointer" },
  bpfpm_trace_pipe__read: {
    parameters: ["pointer", "buffer", "u64"],
    result: "i64",
    nonblocking: true,
  },
  bpfpm_trace_pipe__cancel: { parameters: ["pointer"], result: "void" },
  bpfpm_trace_pipe__close: { parameters: ["pointer"], result: "void" },

  bpfpm_file__read: { parameters: ["buffer", "buffer", "u64"], result: "i64" },
  bpfpm_memory__tune: { parameters: ["i32", "i32"], result: "i32" },
  bpfpm_memory__trim: { parameters: [], result: "i32" },
  bpfpm_file__exists: { parameters: ["buffer"], result: "i32" },
  bpfpm_process__effective_caps: { parameters: ["buffer"], result: "i32" },
  bpfpm_string__copy: {
    parameters: ["pointer", "buffer", "u64"],
    result: "u64",
  },
  bpfpm_clock__boot_ns: { parameters: [], result: "i64" },

  // --- maps (bpfpm_maps.h) ---
  bpfpm_map__create: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "u32", "i32", "u64"],
    result: "i32",
  },
  bpfpm_map__fd_info: { parameters: ["i32", "buffer"], result: "i32" },
  bpfpm_map__lookup: {
    parameters: ["i32", "buffer", "buffer", "u64"],
    result: "i32",
  },
  bpfpm_map__update: {
    parameters: ["i32", "buffer", "buffer", "u64"],
    result: "i32",
  },
  bpfpm_map__delete: { parameters: ["i32", "buffer"], result: "i32" },
  bpfpm_map__lookup_and_delete: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  bpfpm_map__count: { parameters: ["i32", "u32"], result: "i64" },
  bpfpm_map__close: { parameters: ["i32"], result: "i32" },
  bpfpm_num_possible_cpus: { parameters: [], result: "i32" },
  bpfpm_map__update_many: {
    parameters: ["i32", "buffer", "buffer", "u32", "u32", "u32", "u64"],
    result: "i32",
  },
  bpfpm_map__delete_many: {
    parameters: ["i32", "buffer", "u32", "u32"],
    result: "i32",
  },
  bpfpm_map__iter_new: {
    parameters: ["i32", "u32", "u32", "u32"],
    result: "pointer",
  },
  bpfpm_map__iter_next: {
    parameters: ["pointer", "buffer", "buffer", "u32"],
    result: "i64",
  },
  bpfpm_map__iter_batched: { parameters: ["pointer"], result: "i32" },
  bpfpm_map__iter_free: { parameters: ["pointer"], result: "void" },
  bpfpm_obj__pin: { parameters: ["i32", "buffer"], result: "i32" },
  bpfpm_obj__unpin: { parameters: ["buffer"], result: "i32" },
  bpfpm_obj__open_pinned: { parameters: ["buffer"], result: "i32" },
  // --- events (bpfpm_events.h) ---
  bpfpm_event_reader__new: {
    parameters: ["u32", "i32", "u32", "u32", "u64", "u32"],
    result: "pointer",
  },
  bpfpm_event_reader__consume: {
    parameters: ["pointer", "buffer", "u64", "buffer"],
    result: "i64",
  },
  bpfpm_event_reader__wait_drain: {
    parameters: ["pointer", "buffer", "u64", "i32", "buffer"],
    result: "i64",
    nonblocking: true,
  },
  bpfpm_event_reader__wake: { parameters: ["pointer"], result: "i32" },
  bpfpm_event_reader__drainers: {
    parameters: ["pointer", "buffer"],
    result: "i32",
  },
  bpfpm_event_reader__free: { parameters: ["pointer"], result: "void" },
  // --- feature probes (bpfpm_features.h) ---
  bpfpm_probe__prog_type: { parameters: ["u32"], result: "i32" },
  bpfpm_probe__map_type: { parameters: ["u32"], result: "i32" },
  bpfpm_probe__tracing: {
    parameters: ["u32", "buffer", "i32"],
    result: "i32",
  },
  bpfpm_probe__tcx: { parameters: [], result: "i32" },
  bpfpm_probe__kprobes: { parameters: [], result: "i32" },
} as const;

/**
 * The test hooks of libbpfpm.so (native/include/bpfpm_test.h): not part of its ABI, so not in
 * `SYMBOLS`; only tests reach them, through {@link testLib}.
 */
const testSymbols = {
  // --- test hooks (bpfpm_test.h) ---
  bpfpm_test__drainer_stall: { parameters: ["pointer", "i32"], result: "void" },
} as const;

/** The core library's symbols, as `Deno.dlopen` types them. */
export type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

type SymbolName = keyof typeof SYMBOLS;

let bound: Symbols | undefined;
/** The libraries opened so far: one per bound symbol, kept so none is ever collected. */
const opened: Deno.DynamicLibrary<Record<string, Deno.ForeignFunction>>[] = [];

/** The path of libbpfpm.so: `BPFPM_LIB` if set, else `<repo>/native/build/libbpfpm.so`. */
export function libraryPath(): string {
  return optionalEnv("BPFPM_LIB") ??
    decodeURIComponent(
      new URL("../native/build/libbpfpm.so", import.meta.url).pathname,
    );
}

function open(
  path: string,
  names: readonly SymbolName[],
): Partial<Symbols> {
  let library;
  try {
    library = Deno.dlopen(
      path,
      Object.fromEntries(names.map((n) => [n, SYMBOLS[n]])) as Partial<
        typeof SYMBOLS
      >,
    );
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) {
      throw new DenoPermissionError(
        `Deno may not load the native library ${path}: run deno with --allow-ffi=${path} (or -A)`,
        { flag: `--allow-ffi=${path}`, cause: error },
      );
    }
    throw new NativeLibraryError(
      `Cannot open the native library ${path} (${
        error instanceof Error ? error.message : String(error)
      }): build it with \`make -C native\` (or run ./scripts/setup.sh), or point BPFPM_LIB at a build`,
      { path, cause: error },
    );
  }
  opened.push(library as unknown as (typeof opened)[number]);
  return library.symbols as Partial<Symbols>;
}

/**
 * What every load and tracepoint attach calls before the first trace line is read: bound
 * together in the first dlopen. Error and exit paths bind theirs when they run (cancelling a
 * trace read too: it comes after the first line), and so does a cache miss (reading
 * tracepoint format files for the BCC rewrite, which a warm start takes from its memo).
 */
const WARM_PATH: readonly SymbolName[] = [
  "bpfpm_process__effective_caps",
  "bpfpm_file__exists",
  "bpfpm_object__open_mem",
  "bpfpm_object__load",
  "bpfpm_object__describe",
  "bpfpm_object__program",
  "bpfpm_program__attach_tracepoint",
  "bpfpm_trace_pipe__open",
  "bpfpm_trace_pipe__read",
];

/**
 * The core library's symbols. Those of the warm path are bound at once; every other one on
 * first use: Deno compiles a call stub per declared symbol (≈ 0.2 ms each), so binding all of
 * them up front would cost a warm start more than loading and attaching a program.
 */
export function lib(): Symbols {
  if (bound) return bound;
  const path = libraryPath();
  const table: Record<string, unknown> = { ...open(path, WARM_PATH) };
  for (const name of Object.keys(SYMBOLS) as SymbolName[]) {
    if (name in table) continue;
    Object.defineProperty(table, name, {
      configurable: true,
      enumerable: true,
      get() {
        const fn = open(path, [name])[name];
        Object.defineProperty(table, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  bound = table as Symbols;
  return bound;
}

let testBound: Deno.DynamicLibrary<typeof testSymbols>["symbols"] | undefined;

/** Tests only: the library's test hooks (bpfpm_test.h), opened on first use. */
export function testLib(): Deno.DynamicLibrary<typeof testSymbols>["symbols"] {
  if (!testBound) {
    const library = Deno.dlopen(libraryPath(), testSymbols);
    opened.push(library as unknown as (typeof opened)[number]);
    testBound = library.symbols;
  }
  return testBound;
}

/** A NUL-terminated UTF-8 copy of `s`, for `const char *` parameters. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

const stringBuffer = new Uint8Array(4096);
const decoder = new TextDecoder();

/**
 * The C string at `p` ("" for NULL), copied natively: `Deno.UnsafePointerView` would need an
 * unscoped `--allow-ffi`.
 */
export function readCString(p: Deno.PointerValue): string {
  if (p === null) return "";
  const copy = lib().bpfpm_string__copy;
  let buf = stringBuffer;
  const n = Number(copy(p, buf, BigInt(buf.length)));
  if (n >= buf.length) {
    buf = new Uint8Array(n + 1);
    copy(p, buf, BigInt(buf.length));
  }
  return decoder.decode(buf.subarray(0, n));
}

/** The last native error on this thread: its errno (positive) and message. */
export function lastError(): { errno: number; message: string } {
  const s = lib();
  return {
    errno: s.bpfpm_last_errno(),
    message: readCString(s.bpfpm_last_error()),
  };
}
