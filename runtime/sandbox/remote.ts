/**
 * The public API inside a sandboxed package: the same names and behaviour as the in-process
 * runtime, every privileged step forwarded to the trusted side (`bpfpm run`), which checks it
 * against the package's locked grants. Decoding (BTF codecs), map views, event readers and
 * output formatting run here, on bytes the trusted side sends: the same classes as in process,
 * with their kernel calls replaced (runtime/maps/_native.ts `useMapCalls`,
 * runtime/events/_source.ts `useEventSources`).
 *
 * @module
 */
import * as api from "../_common_api.ts";
import type { LoadOptions } from "../bpf.ts";
import { checkLoadOptions } from "../_options.ts";
import type { ProgramDescription } from "../_describe.ts";
import { ObjectMap } from "../object_map.ts";
import { Program } from "../program.ts";
import type { ProgramHandle } from "../_ffi.ts";
import type { MapDescription } from "../_describe.ts";
import { type SourceSite, sourceSite } from "../_location.ts";
import { type MapCalls, useMapCalls } from "../maps/_native.ts";
import {
  type MapOwner,
  type ObjectEventOptions,
  openMapView,
  openObjectEvents,
  openQueue,
  openStackTraces,
} from "../maps/object_maps.ts";
import type { BpfMap as TypedMap } from "../maps/bpf_map.ts";
import {
  type QueueMap,
  type StackTraceMap,
  useStackSymbolizer,
} from "../maps/special_maps.ts";
import type { Codec } from "../btf/codec.ts";
import type { EventReader } from "../events/event_reader.ts";
import { type EventSource, useEventSources } from "../events/_source.ts";
import { parseTraceLine, type TraceFields } from "../trace/trace_pipe.ts";
import { track } from "../lifecycle.ts";
import { BpfError, ClosedError, Errno } from "../errors.ts";
import { PermissionDeniedError } from "../policy/check.ts";
import type { Features } from "../features.ts";
import type { SymOptions } from "../output/symbols.ts";
import type { UsdtProbe } from "../attach/usdt.ts";
import type { Clock } from "../output/time.ts";
import { Channel, type Reply } from "./_channel.ts";
import { ProtocolError, type WireError } from "./protocol.ts";
import { fromWire, toWire } from "./_values.ts";

/** The error classes a reply may name: every error class mod.ts exports (the public API). */
const ERROR_CLASSES = new Map<string, new (...args: never[]) => Error>();
for (
  const value of [
    ...Object.values(api),
    PermissionDeniedError,
    ProtocolError,
    TypeError,
    RangeError,
    Error,
  ]
) {
  if (typeof value === "function" && value.prototype instanceof Error) {
    ERROR_CLASSES.set(value.name, value as new (...args: never[]) => Error);
  }
}
ERROR_CLASSES.set("Error", Error);

/** The error the trusted side threw, as an instance of the same class with the same fields. */
function rebuild(w: WireError): Error {
  const Class = ERROR_CLASSES.get(w.name) ?? Error;
  const e = Object.create(Class.prototype) as Error;
  Object.defineProperty(e, "message", {
    value: w.message,
    writable: true,
    configurable: true,
  });
  Object.assign(e, w.fields);
  if (e.name !== w.name) {
    Object.defineProperty(e, "name", {
      value: w.name,
      writable: true,
      configurable: true,
    });
  }
  const here = (new Error().stack ?? "").split("\n").slice(2).join("\n");
  Object.defineProperty(e, "stack", {
    value: `${w.name}: ${w.message}\n${here}`,
    writable: true,
    configurable: true,
  });
  return e;
}

let channel: Channel | undefined;

/** The channel to the trusted side, opened on first use. */
function ch(): Channel {
  if (channel) return channel;
  let dir: string | undefined;
  try {
    dir = Deno.env.get("BPFPM_SANDBOX");
  } catch { /* no env access: not under bpfpm run */ }
  if (!dir) {
    throw new BpfError(
      "This module is the API of a package run by bpfpm run, and bpfpm run did not start this process: import mod.ts to load BPF programs in process",
      { errno: Errno.EPERM },
    );
  }
  channel = new Channel(dir, rebuild);
  return channel;
}

/**
 * Opens the channel now (child_gate.ts, before the package's entry loads): the open waits
 * until the trusted side's session opens it.
 *
 * @example
 * ```ts ignore
 * import { openChannel } from "./remote.ts";
 * openChannel();
 * ```
 */
export function openChannel(): void {
  ch();
}

/** The last error of a forwarded map or event call, as `lastError()` reports it. */
let last = { errno: 0, message: "" };

function rc(reply: { value: unknown }): number {
  const v = reply.value as { rc: number; errno?: number; message?: string };
  if (v.rc < 0) last = { errno: v.errno ?? -v.rc, message: v.message ?? "" };
  return v.rc;
}

function copyInto(target: Uint8Array | null, part: Uint8Array | undefined) {
  if (target && part) target.set(part.subarray(0, target.length));
}

/** An iterator handle as map views hold it: only its id crosses the channel. */
type RemoteIter = Deno.PointerObject & { iter: number };

const bytes = (b: AllowSharedBufferSource | null): Uint8Array =>
  b === null
    ? new Uint8Array(0)
    : b instanceof Uint8Array
    ? b
    : ArrayBuffer.isView(b)
    ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    : new Uint8Array(b);

function mapCall(
  fn: string,
  args: Record<string, unknown>,
  parts: Uint8Array[],
): { rc: number; parts: Uint8Array[] } {
  const reply = ch().call("map", { fn, ...args }, parts);
  return { rc: rc(reply), parts: reply.parts };
}

const denied = (what: string) => {
  last = {
    errno: Errno.EPERM,
    message:
      `${what} is not available to a sandboxed package (it could reach maps that are not its own)`,
  };
  return -1;
};

/** Map calls forwarded to the trusted side, which checks each fd and size. */
const remoteMapCalls: MapCalls = {
  lastError: () => last,
  bpfpm_num_possible_cpus: () => rc(ch().call("cpus")),
  bpfpm_map__fd_info(fd, out) {
    const r = mapCall("fd_info", { fd }, []);
    copyInto(bytes(out), r.parts[0]);
    return r.rc;
  },
  bpfpm_map__lookup(fd, key, value, flags) {
    const r = mapCall("lookup", {
      fd,
      flags: String(flags),
      null: key === null,
    }, [
      bytes(key),
    ]);
    copyInto(bytes(value), r.parts[0]);
    return r.rc;
  },
  bpfpm_map__update(fd, key, value, flags) {
    return mapCall("update", {
      fd,
      flags: String(flags),
      null: key === null,
    }, [bytes(key), bytes(value)]).rc;
  },
  bpfpm_map__delete(fd, key) {
    return mapCall("delete", { fd }, [bytes(key)]).rc;
  },
  bpfpm_map__lookup_and_delete(fd, key, value) {
    const r = mapCall("lookup_and_delete", { fd, null: key === null }, [
      bytes(key),
    ]);
    copyInto(bytes(value), r.parts[0]);
    return r.rc;
  },
  bpfpm_map__update_many(fd, keys, values, count, keySize, valueSize, flags) {
    return mapCall("update_many", {
      fd,
      count,
      keySize,
      valueSize,
      flags: String(flags),
    }, [bytes(keys), bytes(values)]).rc;
  },
  bpfpm_map__delete_many(fd, keys, count, keySize) {
    return mapCall("delete_many", { fd, count, keySize }, [bytes(keys)]).rc;
  },
  bpfpm_map__count(fd, keySize) {
    return BigInt(mapCall("count", { fd, keySize }, []).rc);
  },
  bpfpm_map__iter_new(fd, keySize, valueSize, options) {
    const r = mapCall("iter_new", { fd, keySize, valueSize, options }, []);
    if (r.rc < 0) return null;
    return { iter: r.rc } as unknown as RemoteIter;
  },
  bpfpm_map__iter_next(it, keys, values, cap) {
    const r = mapCall("iter_next", { iter: (it as RemoteIter).iter, cap }, []);
    copyInto(bytes(keys), r.parts[0]);
    copyInto(bytes(values), r.parts[1]);
    return BigInt(r.rc);
  },
  bpfpm_map__iter_batched(it) {
    return mapCall("iter_batched", { iter: (it as RemoteIter).iter }, []).rc;
  },
  bpfpm_map__iter_free(it) {
    mapCall("iter_free", { iter: (it as RemoteIter).iter }, []);
  },
  // Object maps belong to their object: closing a view leaves the map to the object.
  bpfpm_map__close: () => 0,
  bpfpm_map__create: () => denied("Creating a map"),
  bpfpm_obj__open_pinned: () => denied("Opening a pinned object"),
  bpfpm_obj__pin(fd, path) {
    return mapCall("pin", { fd, path: cString(path) }, []).rc;
  },
  bpfpm_obj__unpin(path) {
    return mapCall("unpin", { path: cString(path) }, []).rc;
  },
} as MapCalls;

function cString(b: AllowSharedBufferSource | null): string {
  const u = bytes(b);
  const nul = u.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? u : u.subarray(0, nul));
}

/** A drain asked for ahead of the reader. */
interface Ahead {
  /** Whether its reply (or failure) came. */
  settled: boolean;
  /** Its reply. */
  reply?: Reply;
  /** Settles with it. */
  done: Promise<void>;
}

/**
 * An event source whose batches the trusted side drains and sends. While the package
 * decodes a batch, the next one is already being drained and sent (a wait of 0 ms asked
 * for as each non-empty batch arrives), so the two processes work side by side instead of
 * in turn; that early drain never waits for records, so it holds nothing up.
 */
class RemoteSource implements EventSource {
  #id: number;
  #ahead: Ahead | null = null;
  /**
   * A wake came while no wait of the trusted side was pending (the reader was still
   * collecting its drain-ahead): the trusted side ignores such a wake, so the wait that
   * follows ends here instead, as a woken one would.
   */
  #woken = false;

  constructor(id: number) {
    this.#id = id;
  }

  #fill(r: Reply, buf: Uint8Array, stats: Uint8Array): number {
    const n = rc(r);
    if (r.parts[0]?.length) buf.set(r.parts[0]);
    if (r.parts[1]) stats.set(r.parts[1].subarray(0, stats.length));
    if (n > 0) this.#askAhead(buf.length);
    return n;
  }

  #askAhead(cap: number): void {
    const ahead: Ahead = {
      settled: false,
      done: ch().callAsync("ev.wait", { src: this.#id, cap, timeoutMs: 0 })
        .then((r) => {
          ahead.reply = r;
        }, () => {/* the next request reports what went wrong */})
        .finally(() => ahead.settled = true),
    };
    this.#ahead = ahead;
  }

  consume(buf: Uint8Array<ArrayBuffer>, stats: Uint8Array<ArrayBuffer>) {
    const ahead = this.#ahead;
    if (ahead) {
      // Records drained ahead are the next ones: nothing else is ready before them.
      if (!ahead.settled) return 0;
      this.#ahead = null;
      if (ahead.reply) return this.#fill(ahead.reply, buf, stats);
    }
    return this.#fill(
      ch().call("ev.consume", { src: this.#id, cap: buf.length }),
      buf,
      stats,
    );
  }

  async wait(
    buf: Uint8Array<ArrayBuffer>,
    timeoutMs: number,
    stats: Uint8Array<ArrayBuffer>,
  ): Promise<number> {
    const ahead = this.#ahead;
    if (ahead) {
      await ahead.done;
      this.#ahead = null;
      const n = ahead.reply ? this.#fill(ahead.reply, buf, stats) : 0;
      if (n !== 0) return n;
    }
    if (this.#woken) {
      this.#woken = false;
      return -Errno.ECANCELED;
    }
    const r = await ch().callAsync("ev.wait", {
      src: this.#id,
      cap: buf.length,
      timeoutMs,
    });
    return this.#fill(r, buf, stats);
  }

  wake(): void {
    // Requests are served in order: a wait already sent is pending there and this wakes it.
    if (this.#ahead) this.#woken = true;
    ch().call("ev.wake", { src: this.#id });
  }

  free(): void {
    try {
      ch().call("ev.free", { src: this.#id });
    } catch { /* the trusted side is gone: it freed everything */ }
  }

  info(out: Int32Array): boolean {
    const v = ch().call("ev.info", { src: this.#id }).value as number[] | null;
    if (!v) return false;
    out.set(v);
    return true;
  }

  testStall(_ms: number): void {
    // A test hook of the in-process drain: the trusted side serves no request that slows it.
    throw new TypeError(
      "A sandboxed package cannot stall the trusted side's drain threads (a test hook of in-process readers)",
    );
  }
}

let installed = false;

/** Points map views and event readers at the trusted side (once). */
function install(): void {
  if (installed) return;
  installed = true;
  useMapCalls(remoteMapCalls);
  useStackSymbolizer((addrs, options = {}) =>
    ch().call("symbolize", {
      addrs: addrs.map(String),
      options: toWire(options),
    }).value as string[]
  );
  useEventSources((kind, fd, options) => {
    const reply = ch().call("ev.open", { kind, fd, ...options });
    if (rc(reply) < 0) {
      throw new BpfError(last.message, { errno: last.errno });
    }
    return new RemoteSource((reply.value as { rc: number }).rc);
  });
}

/** What the trusted side says of a link. */
interface LinkInfo {
  link: number;
  kind: string;
  target: string;
  program: string;
  fd: number;
  id: number;
  programId: number;
  pinned?: string;
}

const linkRef = new WeakMap<RemoteLink, number>();

/** A link the trusted side holds for a sandboxed package. */
export class RemoteLink implements Disposable {
  #info: LinkInfo;
  #open = true;
  #pinned: string | undefined;
  /** The attach kind. */
  readonly kind: string;
  /** What the program is attached to. */
  readonly target: string;
  /** The attached program's name. */
  readonly program: string;

  /**
   * Wraps the trusted side's link.
   *
   * @param info what the trusted side said of it
   */
  constructor(info: LinkInfo) {
    this.#info = info;
    linkRef.set(this, info.link);
    this.kind = info.kind;
    this.target = info.target;
    this.program = info.program;
    this.#pinned = info.pinned;
  }

  /** Not available in a sandbox. */
  static openPinned(): never {
    throw new PermissionDeniedError(
      "Permission denied: a sandboxed package cannot open pinned links (they may belong to other programs)",
      { missingGrant: "none (run the script with deno directly)" },
    );
  }

  /** True until `close()`. */
  get attached(): boolean {
    return this.#open;
  }

  /** The link's fd in the trusted process (-1 for links without one). */
  get fd(): number {
    return this.#info.fd;
  }

  /** The kernel's link id (0 for links without one). */
  get id(): number {
    return this.#info.id;
  }

  /** The attached program's kernel id. */
  get programId(): number {
    return this.#info.programId;
  }

  /** Where the link is pinned, if it is. */
  get pinnedPath(): string | undefined {
    return this.#pinned;
  }

  /**
   * Pins the link under the package's own bpffs directory.
   *
   * @param path a path under the package's pin directory
   */
  pin(path: string): void {
    ch().call("link.pin", { link: this.#info.link, path });
    this.#pinned = path;
  }

  /** Removes the pin. */
  unpin(): void {
    ch().call("link.unpin", { link: this.#info.link });
    this.#pinned = undefined;
  }

  /** Detaches the program; idempotent. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    try {
      ch().call("link.close", { link: this.#info.link });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** What a load reply says of the object. */
interface Loaded {
  obj: number;
  cached: boolean;
  programs: ProgramDescription[];
  maps: MapDescription[];
  links: LinkInfo[];
}

/** A reader the object cancels when it closes. */
interface Cancellable {
  cancel(): void;
}

/**
 * `BPF` inside a sandboxed package: the object lives in the trusted process; this side
 * holds its description, its ELF bytes (for BTF-typed views) and forwards every call.
 */
export class BPF implements Disposable {
  #obj: number;
  #open = true;
  #links = new Set<RemoteLink>();
  #readers = new Set<Cancellable>();
  #untrack: () => void;
  /** The programs, by name. */
  readonly programs: ReadonlyMap<string, Program>;
  /** The maps, by name. */
  readonly maps: ReadonlyMap<string, ObjectMap>;
  /** The loaded ELF object's bytes. */
  readonly object: Uint8Array;
  /** Whether the object came from the compile cache. */
  readonly cached: boolean;

  private constructor(loaded: Loaded, object: Uint8Array) {
    this.#obj = loaded.obj;
    this.object = object;
    this.cached = loaded.cached;
    // The native program lives in the trusted process: the handle is null here.
    const isOpen = () => this.#open;
    this.programs = new Map(
      loaded.programs.map((p) => [
        p.name,
        new Program(null as unknown as ProgramHandle, isOpen, p),
      ]),
    );
    this.maps = new Map(loaded.maps.map((m) => [m.name, new ObjectMap(m)]));
    for (const l of loaded.links) this.#links.add(new RemoteLink(l));
    this.#untrack = track(this);
  }

  /**
   * Compiles, checks grants, loads and auto-attaches, on the trusted side.
   *
   * @param options as the in-process `BPF.load`
   * @returns the loaded object
   */
  static async load(options: LoadOptions): Promise<BPF> {
    const caller = new Error();
    install();
    checkLoadOptions(options);
    let text: string | undefined;
    let name: string | undefined;
    let site: SourceSite | undefined;
    if (options.file !== undefined) {
      const f = options.file;
      const path = f instanceof URL ? decodeURIComponent(f.pathname) : f;
      name = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
      text = Deno.readTextFileSync(name);
      site = { file: name, lineOffset: 1, columnOffset: 1 };
    } else if (options.text !== undefined) {
      text = options.text;
      try {
        site = sourceSite(text, caller.stack);
      } catch {
        /* the caller's file is not readable: positions stay clang's */
      }
    }
    const reply = await ch().callAsync(
      "load",
      {
        text,
        name,
        site,
        cflags: options.cflags,
        grants: options.grants,
        autoAttach: options.autoAttach,
        constants: options.constants && toWire(options.constants),
        reuseMaps: options.reuseMaps && toWire(options.reuseMaps),
      },
      options.object ? [options.object] : [],
    );
    return new BPF(reply.value as Loaded, reply.parts[0]);
  }

  /** Whether the object is still loaded. */
  get loaded(): boolean {
    return this.#open;
  }

  /** The links attached so far. */
  get links(): readonly RemoteLink[] {
    return [...this.#links];
  }

  #attach(method: string, program: unknown, args: unknown[]): RemoteLink {
    this.#live();
    const name = typeof program === "string"
      ? program
      : (program as { name?: unknown })?.name;
    const reply = ch().call("attach", {
      obj: this.#obj,
      method,
      program: name,
      args: toWire(args),
    });
    const link = new RemoteLink(reply.value as LinkInfo);
    this.#links.add(link);
    return link;
  }

  /** See the in-process `attachTracepoint`. */
  attachTracepoint(program: Program | string, tp: string): RemoteLink {
    return this.#attach("attachTracepoint", program, [tp]);
  }
  /** See the in-process `attachRawTracepoint`. */
  attachRawTracepoint(program: Program | string, n: string): RemoteLink {
    return this.#attach("attachRawTracepoint", program, [n]);
  }
  /** See the in-process `attachKprobe`. */
  attachKprobe(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachKprobe", p, a);
  }
  /** See the in-process `attachKretprobe`. */
  attachKretprobe(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachKretprobe", p, a);
  }
  /** See the in-process `attachFentry`. */
  attachFentry(p: Program | string): RemoteLink {
    return this.#attach("attachFentry", p, []);
  }
  /** See the in-process `attachFexit`. */
  attachFexit(p: Program | string): RemoteLink {
    return this.#attach("attachFexit", p, []);
  }
  /** See the in-process `attachUprobe`. */
  attachUprobe(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachUprobe", p, a);
  }
  /** See the in-process `attachUretprobe`. */
  attachUretprobe(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachUretprobe", p, a);
  }
  /** See the in-process `attachUprobeMulti`. */
  attachUprobeMulti(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachUprobeMulti", p, a);
  }
  /** See the in-process `attachKprobeMulti`. */
  attachKprobeMulti(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachKprobeMulti", p, a);
  }
  /** See the in-process `attachUsdt`. */
  attachUsdt(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachUsdt", p, a);
  }
  /** See the in-process `attachPerfEvent`. */
  attachPerfEvent(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachPerfEvent", p, a);
  }
  /** See the in-process `attachXdp`. */
  attachXdp(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachXdp", p, a);
  }
  /** See the in-process `attachTc`. */
  attachTc(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachTc", p, a);
  }
  /** See the in-process `attachSocketFilter`. */
  attachSocketFilter(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachSocketFilter", p, a);
  }
  /** See the in-process `attachCgroup`. */
  attachCgroup(p: Program | string, ...a: unknown[]): RemoteLink {
    return this.#attach("attachCgroup", p, a);
  }
  /** See the in-process `attachLsm`. */
  attachLsm(p: Program | string): RemoteLink {
    return this.#attach("attachLsm", p, []);
  }
  /** See the in-process `attachIter`. */
  attachIter(p: Program | string): RemoteLink {
    return this.#attach("attachIter", p, []);
  }

  /** Not available in a sandbox: links are made by the attach methods. */
  adopt(): never {
    throw new TypeError(
      "adopt() takes native links, which a sandboxed package cannot make: use the attach methods",
    );
  }

  #owner(): MapOwner {
    return {
      maps: this.maps,
      object: this.object,
      isOpen: () => this.#open,
      register: (r) => {
        this.#readers.add(r);
        return () => this.#readers.delete(r);
      },
    };
  }

  /** See the in-process `map()`. */
  map<K = unknown, V = unknown, VIn = V>(
    name: string,
    codecs: { key?: Codec<K>; value?: Codec<V> } = {},
  ): TypedMap<K, V, VIn> {
    this.#live();
    return openMapView(
      this.#owner(),
      name,
      codecs as { key?: Codec<unknown>; value?: Codec<unknown> },
    ) as unknown as TypedMap<K, V, VIn>;
  }

  /** See the in-process `stackTraces()`. */
  stackTraces(name: string): StackTraceMap {
    this.#live();
    return openStackTraces(this.#owner(), name);
  }

  /** See the in-process `queue()`. */
  queue<V = unknown>(name: string): QueueMap<V> {
    this.#live();
    return openQueue(this.#owner(), name) as QueueMap<V>;
  }

  /** See the in-process `ringbuf()`. */
  ringbuf<T = Uint8Array>(
    name: string,
    options: ObjectEventOptions<T> = {},
  ): EventReader<T> {
    return openObjectEvents<T>(this.#owner(), name, "ringbuf", options);
  }

  /** See the in-process `perfBuffer()`. */
  perfBuffer<T = Uint8Array>(
    name: string,
    options: ObjectEventOptions<T> = {},
  ): EventReader<T> {
    return openObjectEvents<T>(this.#owner(), name, "perf", options);
  }

  /** trace_pipe's lines, read by the trusted side. */
  async *tracePrint(): AsyncGenerator<string, void, undefined> {
    this.#live();
    const tr = ch().call("trace.open", { obj: this.#obj }).value as number;
    let stopped = false;
    const reader = {
      cancel: () => {
        stopped = true;
        try {
          ch().call("trace.cancel", { tr });
        } catch { /* gone */ }
      },
    };
    this.#readers.add(reader);
    try {
      while (!stopped && this.#open) {
        const r = await ch().callAsync("trace.next", { tr });
        const lines = r.value as string[] | null;
        if (lines === null) return;
        for (const line of lines) yield line;
      }
    } finally {
      this.#readers.delete(reader);
      if (!stopped) reader.cancel();
    }
  }

  /** trace_pipe's events as fields. */
  async *traceFields(): AsyncGenerator<TraceFields, void, undefined> {
    for await (const line of this.tracePrint()) {
      const fields = parseTraceLine(line);
      if (fields) yield fields;
    }
  }

  #live(): void {
    if (!this.#open) {
      throw new ClosedError(
        "This BPF object is closed: load it again to use it",
        { resource: "BPF object" },
      );
    }
  }

  /** Detaches every link and unloads the object (on the trusted side); idempotent. */
  close(): void {
    if (!this.#open) return;
    for (const r of [...this.#readers]) r.cancel();
    this.#readers.clear();
    this.#open = false;
    this.#untrack();
    for (const l of this.#links) l.close();
    try {
      ch().call("close", { obj: this.#obj });
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Kernel symbol of an address, resolved by the trusted side (which may read kallsyms). */
export function ksym(addr: number | bigint, options: SymOptions = {}): string {
  return fromWire(
    ch().call("ksym", { addr: String(addr), options: toWire(options) }).value,
  ) as string;
}

/** Address of a kernel symbol, resolved by the trusted side. */
export function ksymAddress(name: string): bigint | undefined {
  return fromWire(ch().call("ksymAddress", { name }).value) as
    | bigint
    | undefined;
}

/** User symbol of an address in process `pid`, resolved by the trusted side. */
export function sym(
  addr: number | bigint,
  pid: number,
  options: SymOptions = {},
): string {
  return fromWire(
    ch().call("sym", {
      addr: String(addr),
      pid,
      options: toWire(options),
    }).value,
  ) as string;
}

/** The wall clock at boot, read by the trusted side (the package may not read /proc). */
export function systemClock(): Clock {
  return fromWire(ch().call("systemClock").value) as Clock;
}

/** The running kernel's syscall names by number, read by the trusted side. */
export async function syscallTable(): Promise<ReadonlyMap<number, string>> {
  const r = await ch().callAsync("syscallTable");
  return new Map(fromWire(r.value) as [number, string][]);
}

/** What this kernel supports, as the trusted side found it. */
export function features(): Features {
  return ch().call("features").value as Features;
}

/** USDT probes of a binary, read by the trusted side. */
export function usdtProbes(binary: string): UsdtProbe[] {
  return fromWire(ch().call("usdtProbes", { binary }).value) as UsdtProbe[];
}

/** A library's path, found by the trusted side. */
export function findLibrary(name: string): string | undefined {
  return ch().call("findLibrary", { name }).value as string | undefined;
}

/** Runs an iterator link's program once; its text, read by the trusted side. */
export function readIter(link: RemoteLink): string {
  return ch().call("readIter", { link: linkRef.get(link) }).value as string;
}
