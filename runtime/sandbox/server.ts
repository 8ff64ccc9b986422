/**
 * The trusted side of the sandbox: serves one package's requests (load, attach, map calls,
 * event batches, trace lines, symbols) with the real runtime, checking each against the
 * package's locked grants and its own objects. Nothing the package sends is trusted: every
 * fd must be one of its objects' maps, every buffer is sized here from the map's own
 * description, every path must lie in its package directory or pin directory.
 *
 * @module
 */
import { dirname, normalize, resolve as resolvePath, sep } from "../_path.ts";
import { BPF, loadLocated, type LoadOptions, warmLoad } from "../bpf.ts";
import { Errno } from "../errors.ts";
import { type ObjectFacts, objectFacts } from "../_warm.ts";
import { cstr, lastError, lib } from "../_ffi.ts";
import type { SourceSite } from "../_location.ts";
import type { Link } from "../attach/link.ts";
import type { Detachable } from "../attach/auto.ts";
import { type Grants, validateGrants } from "../policy/grants.ts";
import { narrowGrants } from "../policy/effective.ts";
import { PermissionDeniedError } from "../policy/check.ts";
import { holdsFds, isPerCpu, isQueueLike } from "../maps/map_types.ts";
import { MapType } from "../spec/map_types.ts";
import { possibleCpus } from "../maps/_native.ts";
import type { ObjectMap } from "../object_map.ts";
import {
  type EventKind,
  type EventSource,
  openSource,
} from "../events/_source.ts";
import { readTracePipe } from "../trace/trace_pipe.ts";
import { ksym, ksymAddress, sym } from "../output/symbols.ts";
import { symbolizeStack } from "../maps/special_maps.ts";
import { features } from "../features.ts";
import { usdtProbes } from "../attach/usdt.ts";
import { findLibrary } from "../attach/find_library.ts";
import { readIter } from "../attach/iter.ts";
import { systemClock } from "../output/time.ts";
import { syscallTable } from "../trace/syscalls.ts";
import {
  ATTACH_METHODS,
  encodeFrame,
  type Frame,
  FrameReader,
  ProtocolError,
  toWireError,
} from "./protocol.ts";
import { fromWire, toWire } from "./_values.ts";
import { checkSandboxSource } from "./source_policy.ts";
import { widenPipes } from "./_pipe.ts";

/** What a frame that breaks the protocol rejects `serve()` with (host.ts names it). */
export { ProtocolError };

/** What the trusted side enforces for one package. */
export interface SessionPolicy {
  /** The package's name (for messages and its pin directory). */
  name: string;
  /** The grants recorded in bpfpm.lock at install (or the directory's manifest). */
  grants: Grants;
  /** The package's directory: the only place its C and headers may come from. */
  packageDir: string;
  /** bpffs directory under which the package may pin (default /sys/fs/bpf/bpfpm/<name>). */
  pinRoot?: string;
  /**
   * Maps pinned outside the pin directory that the user named on the package's command line
   * (`--cgroupmap PATH`, `--mntnsmap PATH`): the path as typed → its resolved path. A load's
   * `reuseMaps` may name these and no other pin.
   */
  userPins?: ReadonlyMap<string, string>;
  /**
   * Called with each object the package loads, before its reply: the trusted side's own
   * view (an agent reads the maps a manifest declares as metrics from here).
   */
  onObject?: (object: BPF) => void;
}

interface Reply {
  value?: unknown;
  parts?: Uint8Array[];
}

type Handler = (h: Record<string, unknown>, parts: Uint8Array[]) => Reply;
type AsyncHandler = (
  h: Record<string, unknown>,
  parts: Uint8Array[],
) => Promise<Reply>;

/** A map the package may reach: its description and the object holding it. */
interface OwnedMap {
  obj: number;
  info: ObjectMap;
}

interface OwnedSource {
  fd: number;
  source: EventSource;
  buf: Uint8Array<ArrayBuffer>;
  stats: Uint8Array<ArrayBuffer>;
  waiting: Promise<number> | null;
  freeAfterWait: boolean;
  /** Records handed to the package (counted here: the native counters lag the batches). */
  records: number;
}

/** The most bytes one map page or event batch may be. */
const MAX_TRANSFER = 64 << 20;
/** The most staging memory a package's event reader may ask for. */
const MAX_STAGING = 256 << 20;
/** The most reply bytes a package may leave unread. */
const MAX_QUEUED = 256 << 20;
/** The most asynchronous requests a package may have outstanding. */
const MAX_PENDING = 256;
/** fd-valued map types whose values may be the package's own programs and maps. */
const OWN_FD_VALUED = new Set<number>([
  MapType.prog_array,
  MapType.array_of_maps,
  MapType.hash_of_maps,
]);

function fail(errno: number, message: string): Reply {
  return { value: { rc: -errno, errno, message } };
}

function int(h: Record<string, unknown>, key: string, max = 2 ** 31): number {
  const v = h[key];
  if (!Number.isSafeInteger(v) || (v as number) < -1 || (v as number) > max) {
    throw new TypeError(`${key} must be an integer from -1 to ${max}`);
  }
  return v as number;
}

function str(h: Record<string, unknown>, key: string, max = 4096): string {
  const v = h[key];
  if (typeof v !== "string" || v.length > max) {
    throw new TypeError(`${key} must be a string of at most ${max} characters`);
  }
  return v;
}

/** Counters of a package's event readers. */
export interface EventStats {
  /** Records read. */
  records: number;
  /** Records the kernel lost (perf buffers). */
  lost: number;
  /** Times a ring buffer was found (nearly) full: the program's records may be refused. */
  full: number;
}

/** Adds a source's counters to `sum`: its records, and the kernel's lost and full counts. */
function addStats(sum: EventStats, s: OwnedSource): void {
  const v = new DataView(
    s.stats.buffer,
    s.stats.byteOffset,
    s.stats.byteLength,
  );
  sum.lost += Number(v.getBigUint64(0, true));
  sum.records += s.records;
  sum.full += Number(v.getBigUint64(32, true));
}

/**
 * Does the once-per-process part of a first load while the package's process starts
 * (tens of ms, which its first request would otherwise wait for): opens the native library,
 * loads the map views' module, and compiles the package's C files (`*.c` at its top, as its
 * loads will name them) without loading them, which runs the compile path once and warms
 * the compile cache's files. The C is checked as a load's is first (source_policy.ts). A
 * failure is left for the request that needs it.
 *
 * @param packageDir the package's directory (its real path), when known
 *
 * @example
 * ```ts
 * import { warmUp } from "./server.ts";
 * await warmUp();
 * ```
 */
export async function warmUp(packageDir?: string): Promise<void> {
  try {
    lib();
    await import("../maps/object_maps.ts");
  } catch { /* the load that needs them reports why */ }
  if (!packageDir) return;
  let found = 0;
  try {
    for (const e of Deno.readDirSync(packageDir)) {
      if (!e.isFile || !e.name.endsWith(".c") || ++found > WARM_FILES) continue;
      const name = `${packageDir}/${e.name}`;
      if (Deno.statSync(name).size > WARM_BYTES) continue;
      const text = Deno.readTextFileSync(name);
      try {
        checkSandboxSource(text, undefined, packageDir);
      } catch {
        continue;
      }
      await warmLoad(text, name);
    }
  } catch { /* unreadable: nothing to warm */ }
}

/** At most this many of a package's C files are compiled ahead, each at most this big. */
const WARM_FILES = 4;
const WARM_BYTES = 256 * 1024;

/** The serving side of one package's channel. */
export class SandboxSession {
  #policy: SessionPolicy;
  #packageDir: string;
  #pinRoot: string;
  #dir: string;
  #files: Deno.FsFile[] = [];
  #objects = new Map<number, BPF>();
  #maps = new Map<number, OwnedMap>();
  #links = new Map<number, { obj: number; link: Detachable }>();
  #sources = new Map<number, OwnedSource>();
  #iters = new Map<
    number,
    { fd: number; it: Deno.PointerObject; ks: number; vs: number }
  >();
  #traces = new Map<number, AsyncGenerator<string, void, undefined>>();
  #next = 1;
  #pending = 0;
  #queued = 0;
  #failure: ProtocolError | undefined;
  #closed = false;
  #writes = new Map<string, Promise<void>>();
  #sync: Map<string, Handler>;
  #async: Map<string, AsyncHandler>;

  /**
   * Serves the FIFOs in `dir` for the package `policy` describes.
   *
   * @param dir the private directory holding `req`, `sync` and `async`
   * @param policy what the package may do
   */
  constructor(dir: string, policy: SessionPolicy) {
    this.#dir = dir;
    this.#policy = policy;
    this.#packageDir = Deno.realPathSync(policy.packageDir);
    this.#pinRoot = normalize(
      policy.pinRoot ??
        `/sys/fs/bpf/bpfpm/${policy.name.replace(/[^A-Za-z0-9._-]/g, "_")}`,
    );
    this.#sync = new Map<string, Handler>([
      ["attach", (h) => this.#attach(h)],
      ["close", (h) => this.#close(h)],
      ["map", (h, p) => this.#map(h, p)],
      ["cpus", () => ({ value: { rc: possibleCpus() } })],
      ["ev.open", (h) => this.#evOpen(h)],
      ["ev.consume", (h) => this.#evConsume(h)],
      ["ev.wake", (h) => this.#evWake(h)],
      ["ev.free", (h) => this.#evFree(h)],
      ["ev.info", (h) => this.#evInfo(h)],
      ["trace.open", () => this.#traceOpen()],
      ["trace.cancel", (h) => this.#traceCancel(h)],
      ["link.close", (h) => this.#linkClose(h)],
      ["link.pin", (h) => this.#linkPin(h)],
      ["link.unpin", (h) => this.#linkUnpin(h)],
      ["ksym", (h) => ({
        value: ksym(BigInt(str(h, "addr", 24)), this.#symOptions(h)),
      })],
      ["ksymAddress", (h) => ({ value: toWire(ksymAddress(str(h, "name"))) })],
      ["sym", (h) => ({
        value: sym(
          BigInt(str(h, "addr", 24)),
          int(h, "pid"),
          this.#symOptions(h),
        ),
      })],
      ["symbolize", (h) => {
        const addrs = fromWire(h.addrs);
        if (!Array.isArray(addrs) || addrs.length > 1024) {
          throw new TypeError(
            "addrs must be an array of at most 1024 addresses",
          );
        }
        const o = fromWire(h.options ?? {}) as Record<string, unknown>;
        return {
          value: symbolizeStack(addrs.map((a) => BigInt(String(a))), {
            ...this.#symOptions(h),
            pid: Number.isSafeInteger(o.pid) ? o.pid as number : undefined,
          }),
        };
      }],
      ["features", () => ({ value: features() })],
      ["systemClock", () => ({ value: toWire(systemClock()) })],
      ["usdtProbes", (h) => ({ value: toWire(usdtProbes(str(h, "binary"))) })],
      ["findLibrary", (h) => ({ value: findLibrary(str(h, "name")) })],
      ["readIter", (h) => ({ value: readIter(this.#link(h).link as Link) })],
    ]);
    this.#async = new Map<string, AsyncHandler>([
      ["load", (h, p) => this.#load(h, p)],
      ["ev.wait", (h) => this.#evWait(h)],
      ["trace.next", (h) => this.#traceNext(h)],
      ["syscallTable", async () => ({
        value: toWire([...await syscallTable()]),
      })],
    ]);
  }

  /**
   * Opens the FIFOs (read-write, so neither side's open waits for the other) and serves
   * requests until the package's side closes or `close()`; a frame that breaks the
   * protocol rejects with a ProtocolError (the caller stops the package).
   */
  async serve(): Promise<void> {
    const open = (name: string) =>
      Deno.open(`${this.#dir}/${name}`, { read: true, write: true });
    const [req, sync, async] = await Promise.all([
      open("req"),
      open("sync"),
      open("async"),
    ]);
    this.#files = [req, sync, async];
    widenPipes(["req", "sync", "async"].map((n) => `${this.#dir}/${n}`));
    const reader = new FrameReader();
    const buf = new Uint8Array(1 << 20);
    while (!this.#closed) {
      let n: number | null;
      try {
        n = await req.read(buf);
      } catch (error) {
        if (this.#failure) throw this.#failure;
        if (this.#closed) return;
        throw error;
      }
      if (this.#failure) throw this.#failure;
      if (n === null || this.#closed) return;
      for (const frame of reader.push(buf.subarray(0, n))) {
        this.#dispatch(frame);
      }
    }
  }

  #dispatch({ head, parts }: Frame): void {
    const id = head.id;
    const op = head.op;
    if (!Number.isSafeInteger(id) || typeof op !== "string") {
      throw new ProtocolError("a request without a numeric id and an op");
    }
    if (head.sync === true) {
      const handler = this.#sync.get(op);
      let reply: Record<string, unknown>;
      let out: Uint8Array[] = [];
      try {
        if (!handler) {
          throw new TypeError(`Unknown request ${JSON.stringify(op)}`);
        }
        const r = handler(head, parts);
        reply = { id, value: r.value ?? null };
        out = r.parts ?? [];
      } catch (error) {
        reply = { id, error: toWireError(error) };
      }
      this.#write("sync", reply, out);
      return;
    }
    const handler = this.#async.get(op);
    if (++this.#pending > MAX_PENDING) {
      this.#pending--;
      throw new ProtocolError(
        `more than ${MAX_PENDING} asynchronous requests outstanding`,
      );
    }
    (async () => {
      if (!handler) {
        throw new TypeError(`Unknown request ${JSON.stringify(op)}`);
      }
      return await handler(head, parts);
    })().then(
      (r) =>
        this.#write("async", { id, value: r.value ?? null }, r.parts ?? []),
      (error) => this.#write("async", { id, error: toWireError(error) }, []),
    ).finally(() => this.#pending--);
  }

  #write(
    which: "sync" | "async",
    head: Record<string, unknown>,
    parts: Uint8Array[],
  ): Promise<void> {
    const file = which === "sync" ? this.#files[1] : this.#files[2];
    const bytes = encodeFrame(head, parts);
    // A package that asks without reading the replies must not grow this process.
    this.#queued += bytes.length;
    if (this.#queued > MAX_QUEUED) {
      this.#fail(
        new ProtocolError(
          `more than ${MAX_QUEUED} bytes of replies left unread`,
        ),
      );
      return Promise.resolve();
    }
    const prev = this.#writes.get(which) ?? Promise.resolve();
    const next = prev.then(async () => {
      if (this.#closed) return;
      let at = 0;
      while (at < bytes.length) at += await file.write(bytes.subarray(at));
    }).catch(() => {}).finally(() => this.#queued -= bytes.length);
    this.#writes.set(which, next);
    return next;
  }

  /** Ends the session for a violation found outside the request loop. */
  #fail(error: ProtocolError): void {
    this.#failure ??= error;
    try {
      this.#files[0]?.close();
    } catch { /* already closed */ }
  }

  // --- objects ---

  #inPackage(path: string): string | undefined {
    let real: string;
    try {
      real = Deno.realPathSync(path);
    } catch {
      real = resolvePath(path);
    }
    return real === this.#packageDir || real.startsWith(this.#packageDir + sep)
      ? real
      : undefined;
  }

  async #load(h: Record<string, unknown>, parts: Uint8Array[]): Promise<Reply> {
    const cflags = h.cflags === undefined || h.cflags === null
      ? undefined
      : fromWire(h.cflags) as string[];
    const scriptGrants = h.grants === undefined || h.grants === null
      ? undefined
      : validateGrants(fromWire(h.grants), "grants");
    const grants = scriptGrants
      ? narrowGrants(this.#policy.grants, scriptGrants)
      : this.#policy.grants;
    const autoAttach = h.autoAttach === undefined || h.autoAttach === null
      ? undefined
      : h.autoAttach;
    // Checked by BPF.load's rules (runtime/_options.ts) and against the object's BTF.
    const constants = h.constants === undefined || h.constants === null
      ? undefined
      : fromWire(h.constants) as LoadOptions["constants"];
    const reuseMaps = this.#userPins(h.reuseMaps);
    let b: BPF;
    if (typeof h.text === "string") {
      const name = typeof h.name === "string"
        ? this.#inPackage(h.name)
        : undefined;
      if (typeof h.name === "string" && !name) {
        throw new PermissionDeniedError(
          `Permission denied: the BPF source ${h.name} is outside the package's directory ${this.#packageDir}; a package loads only its own files`,
          { missingGrant: "none (keep the C inside the package)" },
        );
      }
      checkSandboxSource(h.text, cflags, this.#packageDir);
      const site = this.#site(h.site);
      b = await loadLocated(
        {
          text: h.text,
          cflags,
          grants,
          autoAttach: autoAttach as boolean,
          constants,
          reuseMaps,
        },
        {
          name: name ?? `${this.#packageDir}/script.bpf.c`,
          site,
          check: (facts) => this.#refusePinned(facts),
        },
      );
    } else if (parts[0]?.length) {
      checkSandboxSource(undefined, cflags, this.#packageDir);
      this.#refusePinned(await objectFacts(parts[0].slice()));
      b = await BPF.load({
        object: parts[0].slice(),
        grants,
        autoAttach: autoAttach as boolean,
        constants,
        reuseMaps,
      });
    } else {
      throw new TypeError("BPF.load needs exactly one of text, file or object");
    }
    const obj = this.#next++;
    this.#objects.set(obj, b);
    this.#policy.onObject?.(b);
    // A user's pinned map serves the package's programs only: its code gets no map calls on it.
    for (const m of b.maps.values()) {
      if (!reuseMaps?.[m.name]) this.#maps.set(m.fd, { obj, info: m });
    }
    const links = b.links.map((l) => this.#addLink(obj, l));
    return {
      value: {
        obj,
        cached: b.cached,
        programs: [...b.programs.values()].map((p) => ({
          name: p.name,
          section: p.section,
          type: p.type,
          expectedAttachType: p.expectedAttachType,
          fd: p.fd,
          id: p.id,
        })),
        maps: [...b.maps.values()],
        links,
      },
      parts: [b.object],
    };
  }

  /**
   * A load's `reuseMaps`, each pin one the user named on the command line (by the path as
   * typed or as resolved), with the resolved path; any other pin is refused.
   */
  #userPins(raw: unknown): Record<string, string> | undefined {
    if (raw === undefined || raw === null) return undefined;
    const asked = fromWire(raw);
    if (typeof asked !== "object" || asked === null || Array.isArray(asked)) {
      throw new TypeError(
        "reuseMaps must be an object of pin paths by map name",
      );
    }
    const named = this.#policy.userPins ?? new Map<string, string>();
    const resolved = new Set(named.values());
    const out: Record<string, string> = {};
    for (const [map, path] of Object.entries(asked)) {
      const pin = typeof path === "string"
        ? named.get(path) ?? (resolved.has(path) ? path : undefined)
        : undefined;
      if (pin === undefined) {
        throw new PermissionDeniedError(
          `Permission denied: map ${map} would use the pinned map ${
            String(path)
          }, which the user did not name on the command line; a package uses only the pins given to it with --cgroupmap PATH or --mntnsmap PATH`,
          { missingGrant: `--cgroupmap ${String(path)} on the command line` },
        );
      }
      out[map] = pin;
    }
    return out;
  }

  /**
   * Maps pinned by name (`BPF_TABLE_PINNED`, `LIBBPF_PIN_BY_NAME`) are shared through
   * /sys/fs/bpf with whatever pinned that name first: another tool's map.
   */
  #refusePinned(facts: ObjectFacts): void {
    const pinned = facts.maps.filter((m) => m.pinning !== 0).map((m) => m.name);
    if (pinned.length) {
      throw new PermissionDeniedError(
        `Permission denied: map ${
          pinned.join(", ")
        } is pinned by name, which would share it with any program that pinned that name; a sandboxed package pins its maps with map.pin() under ${this.#pinRoot}`,
        { missingGrant: "none (drop the pinning attribute)" },
      );
    }
  }

  /** A site in the package's own file (positions only; nothing is read from it). */
  #site(raw: unknown): SourceSite | undefined {
    if (!raw || typeof raw !== "object") return undefined;
    const s = raw as Record<string, unknown>;
    if (
      typeof s.file !== "string" || !Number.isSafeInteger(s.lineOffset) ||
      !Number.isSafeInteger(s.columnOffset)
    ) return undefined;
    const file = this.#inPackage(s.file);
    return file
      ? {
        file,
        lineOffset: s.lineOffset as number,
        columnOffset: s.columnOffset as number,
      }
      : undefined;
  }

  #object(h: Record<string, unknown>): BPF {
    const b = this.#objects.get(int(h, "obj"));
    if (!b) {
      throw new RangeError(`No object ${h.obj} was loaded by this package`);
    }
    return b;
  }

  #addLink(obj: number, link: Detachable) {
    const id = this.#next++;
    this.#links.set(id, { obj, link });
    const l = link as Partial<Link>;
    const safe = (get: () => number | undefined) => {
      try {
        return get() ?? -1;
      } catch {
        return -1;
      }
    };
    return {
      link: id,
      kind: link.kind,
      target: link.target,
      program: link.program,
      fd: safe(() => l.fd),
      id: safe(() => l.id),
      programId: safe(() => l.programId),
      pinned: l.pinnedPath,
    };
  }

  #attach(h: Record<string, unknown>): Reply {
    const b = this.#object(h);
    const method = str(h, "method", 64);
    if (!ATTACH_METHODS.includes(method)) {
      throw new TypeError(`Unknown attach method ${JSON.stringify(method)}`);
    }
    const program = str(h, "program", 256);
    const args = fromWire(h.args ?? []);
    if (!Array.isArray(args) || args.length > 3) {
      throw new TypeError("attach arguments must be an array of at most 3");
    }
    const options = args.find((a) => a && typeof a === "object") as
      | Record<string, unknown>
      | undefined;
    if (method === "attachSocketFilter" && options?.fd !== undefined) {
      throw new PermissionDeniedError(
        "Permission denied: a sandboxed package attaches socket filters to an interface (ifname), not to an fd of the trusted process",
        { missingGrant: "none (pass ifname)" },
      );
    }
    const attach = (b as unknown as Record<
      string,
      (p: string, ...a: unknown[]) => Detachable
    >)[method];
    const link = attach.call(b, program, ...args);
    return { value: this.#addLink(int(h, "obj"), link) };
  }

  #link(h: Record<string, unknown>) {
    const l = this.#links.get(int(h, "link"));
    if (!l) throw new RangeError(`No link ${h.link} belongs to this package`);
    return l;
  }

  #linkClose(h: Record<string, unknown>): Reply {
    const id = int(h, "link");
    const l = this.#links.get(id);
    if (l) {
      this.#links.delete(id);
      l.link.close();
    }
    return {};
  }

  #pinPath(raw: unknown): string {
    if (typeof raw !== "string") {
      throw new TypeError("a pin path must be a string");
    }
    const path = normalize(raw);
    if (!path.startsWith(this.#pinRoot + "/")) {
      throw new PermissionDeniedError(
        `Permission denied: ${raw} is outside this package's pin directory ${this.#pinRoot}; pin under it`,
        { missingGrant: `a path under ${this.#pinRoot}` },
      );
    }
    Deno.mkdirSync(dirname(path), { recursive: true });
    return path;
  }

  #linkPin(h: Record<string, unknown>): Reply {
    (this.#link(h).link as Link).pin(this.#pinPath(h.path));
    return {};
  }

  #linkUnpin(h: Record<string, unknown>): Reply {
    (this.#link(h).link as Link).unpin();
    return {};
  }

  #close(h: Record<string, unknown>): Reply {
    const obj = int(h, "obj");
    this.#closeObject(obj);
    return {};
  }

  #closeObject(obj: number): void {
    const b = this.#objects.get(obj);
    if (!b) return;
    for (const [id, s] of this.#sources) {
      if (this.#maps.get(s.fd)?.obj === obj) this.#freeSource(id);
    }
    for (const [id, it] of this.#iters) {
      if (this.#maps.get(it.fd)?.obj === obj) {
        lib().bpfpm_map__iter_free(it.it);
        this.#iters.delete(id);
      }
    }
    for (const [fd, m] of this.#maps) if (m.obj === obj) this.#maps.delete(fd);
    for (const [id, l] of this.#links) {
      if (l.obj === obj) this.#links.delete(id);
    }
    this.#objects.delete(obj);
    b.close();
  }

  // --- maps ---

  #owned(fd: number): OwnedMap {
    const m = this.#maps.get(fd);
    if (!m) {
      throw Object.assign(
        new RangeError(`fd ${fd} is not one of this package's maps`),
        { errno: Errno.EBADF },
      );
    }
    return m;
  }

  #stride(info: ObjectMap): number {
    return isPerCpu(info.type)
      ? ((info.valueSize + 7) & ~7) * possibleCpus()
      : info.valueSize;
  }

  #map(h: Record<string, unknown>, parts: Uint8Array[]): Reply {
    const iter = this.#iterCall(h);
    if (iter) return iter;
    const fn = str(h, "fn", 32);
    const s = lib();
    const done = (rc: number | bigint, out: Uint8Array[] = []): Reply => {
      const n = Number(rc);
      if (n >= 0) return { value: { rc: n }, parts: out };
      const { errno, message } = lastError();
      return { value: { rc: n, errno: errno || -n, message }, parts: out };
    };
    if (fn === "unpin") {
      const path = this.#pinPath(h.path);
      return done(s.bpfpm_obj__unpin(cstr(path)));
    }
    let owned: OwnedMap;
    try {
      owned = this.#owned(int(h, "fd"));
    } catch (error) {
      return fail(Errno.EBADF, (error as Error).message);
    }
    const { info } = owned;
    const fd = info.fd;
    const ks = isQueueLike(info.type) ? 0 : info.keySize;
    const vs = this.#stride(info);
    const key = (i: number) => {
      const k = parts[i] ?? new Uint8Array(0);
      if (h.null === true && ks === 0) return null;
      if (k.length !== ks) {
        throw new RangeError(
          `a key of ${k.length} bytes for map "${info.name}", whose keys are ${ks}`,
        );
      }
      return k.slice();
    };
    const flags = () => {
      const f = BigInt(str(h, "flags", 24));
      if (f < 0n || f > 7n) throw new RangeError(`map flags ${f}`);
      return f;
    };
    const checkValues = (values: Uint8Array, count: number) => {
      if (values.length !== vs * count) {
        throw new RangeError(
          `${values.length} value bytes for ${count} values of map "${info.name}" (${vs} each)`,
        );
      }
      if (holdsFds(info.type) && !OWN_FD_VALUED.has(info.type)) {
        throw new PermissionDeniedError(
          `Permission denied: map "${info.name}" holds sockets or devices of the trusted process; a sandboxed package cannot update it`,
          { missingGrant: "none" },
        );
      }
      if (OWN_FD_VALUED.has(info.type)) {
        const own = new Set<number>();
        for (const b of this.#objects.values()) {
          for (const p of b.programs.values()) own.add(p.fd);
          for (const m of b.maps.values()) own.add(m.fd);
        }
        const v = new DataView(values.buffer, values.byteOffset, values.length);
        for (let i = 0; i < count; i++) {
          const held = v.getUint32(i * vs, true);
          if (!own.has(held)) {
            throw new PermissionDeniedError(
              `Permission denied: fd ${held} is not a program or map of this package, so it cannot go in map "${info.name}"`,
              { missingGrant: "none" },
            );
          }
        }
      }
    };
    switch (fn) {
      case "fd_info": {
        const out = new Uint8Array(64);
        return done(s.bpfpm_map__fd_info(fd, out), [out]);
      }
      case "lookup": {
        const value = new Uint8Array(vs);
        return done(s.bpfpm_map__lookup(fd, key(0), value, flags()), [value]);
      }
      case "update": {
        const value = (parts[1] ?? new Uint8Array(0)).slice();
        checkValues(value, 1);
        return done(s.bpfpm_map__update(fd, key(0), value, flags()));
      }
      case "delete":
        return done(s.bpfpm_map__delete(fd, key(0)));
      case "lookup_and_delete": {
        const value = new Uint8Array(vs);
        return done(s.bpfpm_map__lookup_and_delete(fd, key(0), value), [value]);
      }
      case "update_many": {
        const count = int(h, "count", 1 << 24);
        if (int(h, "keySize") !== ks || int(h, "valueSize") !== vs) {
          return fail(
            Errno.EINVAL,
            `wrong key or value size for map "${info.name}"`,
          );
        }
        const keys = (parts[0] ?? new Uint8Array(0)).slice();
        const values = (parts[1] ?? new Uint8Array(0)).slice();
        if (keys.length !== ks * count) {
          return fail(
            Errno.EINVAL,
            `${keys.length} key bytes for ${count} keys`,
          );
        }
        checkValues(values, count);
        return done(
          s.bpfpm_map__update_many(fd, keys, values, count, ks, vs, flags()),
        );
      }
      case "delete_many": {
        const count = int(h, "count", 1 << 24);
        const keys = (parts[0] ?? new Uint8Array(0)).slice();
        if (int(h, "keySize") !== ks || keys.length !== ks * count) {
          return fail(Errno.EINVAL, `wrong keys for map "${info.name}"`);
        }
        return done(s.bpfpm_map__delete_many(fd, keys, count, ks));
      }
      case "count":
        if (int(h, "keySize") !== ks) {
          return fail(Errno.EINVAL, `wrong key size for map "${info.name}"`);
        }
        return done(s.bpfpm_map__count(fd, ks));
      case "iter_new": {
        if (int(h, "keySize") !== ks || int(h, "valueSize") !== vs) {
          return fail(
            Errno.EINVAL,
            `wrong key or value size for map "${info.name}"`,
          );
        }
        const it = s.bpfpm_map__iter_new(fd, ks, vs, int(h, "options", 255));
        if (it === null) return done(-(lastError().errno || Errno.EINVAL));
        const id = this.#next++;
        this.#iters.set(id, { fd, it, ks, vs });
        return done(id);
      }
      case "pin":
        return done(s.bpfpm_obj__pin(fd, cstr(this.#pinPath(h.path))));
      default:
        return fail(Errno.EINVAL, `unknown map call ${JSON.stringify(fn)}`);
    }
  }

  // Iterator calls name an iterator, not an fd.
  #iterCall(h: Record<string, unknown>): Reply | undefined {
    const fn = h.fn;
    if (fn !== "iter_next" && fn !== "iter_batched" && fn !== "iter_free") {
      return undefined;
    }
    const id = int(h, "iter");
    const it = this.#iters.get(id);
    if (!it) {
      return fail(Errno.EBADF, `no iterator ${id} belongs to this package`);
    }
    const s = lib();
    if (fn === "iter_free") {
      this.#iters.delete(id);
      s.bpfpm_map__iter_free(it.it);
      return { value: { rc: 0 } };
    }
    if (fn === "iter_batched") {
      return { value: { rc: s.bpfpm_map__iter_batched(it.it) } };
    }
    const per = Math.max(1, it.ks + it.vs);
    const cap = Math.min(
      int(h, "cap", 1 << 30),
      Math.floor(MAX_TRANSFER / per),
    );
    const keys = new Uint8Array(cap * it.ks);
    const values = new Uint8Array(cap * it.vs);
    const n = Number(s.bpfpm_map__iter_next(it.it, keys, values, cap));
    if (n < 0) {
      const { errno, message } = lastError();
      return { value: { rc: n, errno: errno || -n, message } };
    }
    return {
      value: { rc: n },
      parts: [keys.subarray(0, n * it.ks), values.subarray(0, n * it.vs)],
    };
  }

  // --- events ---

  #evOpen(h: Record<string, unknown>): Reply {
    const kind = h.kind as EventKind;
    if (kind !== "ringbuf" && kind !== "perf") {
      throw new TypeError("kind must be ringbuf or perf");
    }
    const { info } = this.#owned(int(h, "fd"));
    const want = kind === "ringbuf"
      ? MapType.ringbuf
      : MapType.perf_event_array;
    if (info.type !== want) {
      return fail(Errno.EINVAL, `map "${info.name}" is not a ${kind} map`);
    }
    const pageCount = int(h, "pageCount", 4096);
    const stagingBytes = int(h, "stagingBytes", MAX_STAGING);
    const source = openSource(kind, info.fd, {
      pageCount,
      wakeupEvents: int(h, "wakeupEvents", 1 << 20),
      stagingBytes,
      realtime: h.realtime === true,
    }, `${kind === "ringbuf" ? "ring buffer" : "perf buffer"} "${info.name}"`);
    const id = this.#next++;
    this.#sources.set(id, {
      fd: info.fd,
      source,
      buf: new Uint8Array(0),
      stats: new Uint8Array(64),
      waiting: null,
      freeAfterWait: false,
      records: 0,
    });
    return { value: { rc: id } };
  }

  #source(h: Record<string, unknown>): OwnedSource {
    const s = this.#sources.get(int(h, "src"));
    if (!s) {
      throw new RangeError(`No event source ${h.src} belongs to this package`);
    }
    return s;
  }

  #batch(s: OwnedSource, cap: number): Uint8Array<ArrayBuffer> {
    if (cap < 64 || cap > MAX_TRANSFER) {
      throw new RangeError(`a batch of ${cap} bytes (64 to ${MAX_TRANSFER})`);
    }
    if (s.buf.length < cap) s.buf = new Uint8Array(cap);
    return s.buf.subarray(0, cap);
  }

  #batchReply(s: OwnedSource, buf: Uint8Array, n: number): Reply {
    if (n < 0) {
      return {
        value: { rc: n, errno: -n, message: lastError().message },
        parts: [new Uint8Array(0), s.stats],
      };
    }
    const v = new DataView(buf.buffer, buf.byteOffset, n);
    for (let off = 0; off < n; off += 8 + ((v.getUint32(off, true) + 7) & ~7)) {
      s.records++;
    }
    return { value: { rc: n }, parts: [buf.subarray(0, n), s.stats] };
  }

  #evConsume(h: Record<string, unknown>): Reply {
    const s = this.#source(h);
    if (s.waiting) {
      return fail(Errno.EINVAL, "the event source is being waited on");
    }
    const buf = this.#batch(s, int(h, "cap", MAX_TRANSFER));
    return this.#batchReply(s, buf, s.source.consume(buf, s.stats));
  }

  async #evWait(h: Record<string, unknown>): Promise<Reply> {
    const s = this.#source(h);
    if (s.waiting) {
      return fail(Errno.EINVAL, "the event source is being waited on");
    }
    const buf = this.#batch(s, int(h, "cap", MAX_TRANSFER));
    const timeout = int(h, "timeoutMs", 86_400_000);
    // A wait of 0 ms (the package's reader asking for its next batch early) is a drain now,
    // without the native wait's thread hop.
    if (timeout === 0) {
      return this.#batchReply(s, buf, s.source.consume(buf, s.stats));
    }
    s.waiting = s.source.wait(buf, timeout, s.stats);
    try {
      return this.#batchReply(s, buf, await s.waiting);
    } finally {
      s.waiting = null;
      if (s.freeAfterWait) s.source.free();
    }
  }

  #evWake(h: Record<string, unknown>): Reply {
    const s = this.#source(h);
    if (s.waiting) s.source.wake();
    return {};
  }

  /** Event counters of the sources freed so far. */
  #retired: EventStats = { records: 0, lost: 0, full: 0 };

  /**
   * What the package's event readers got and what the kernel could not deliver, over every
   * ring and perf buffer it read: the trusted side's own counters (an agent reports them).
   *
   * @returns records read, records lost (perf buffers), times a ring buffer was full
   */
  eventStats(): EventStats {
    const sum = { ...this.#retired };
    for (const s of this.#sources.values()) addStats(sum, s);
    return sum;
  }

  #freeSource(id: number): void {
    const s = this.#sources.get(id);
    if (!s) return;
    this.#sources.delete(id);
    addStats(this.#retired, s);
    if (s.waiting) {
      s.freeAfterWait = true;
      s.source.wake();
    } else s.source.free();
  }

  #evFree(h: Record<string, unknown>): Reply {
    this.#freeSource(int(h, "src"));
    return {};
  }

  #evInfo(h: Record<string, unknown>): Reply {
    const out = new Int32Array(4);
    return { value: this.#source(h).source.info(out) ? [...out] : null };
  }

  // --- trace_pipe ---

  #traceOpen(): Reply {
    const id = this.#next++;
    this.#traces.set(id, readTracePipe());
    return { value: id };
  }

  async #traceNext(h: Record<string, unknown>): Promise<Reply> {
    const gen = this.#traces.get(int(h, "tr"));
    if (!gen) return { value: null };
    const r = await gen.next();
    return { value: r.done ? null : [r.value] };
  }

  #traceCancel(h: Record<string, unknown>): Reply {
    const id = int(h, "tr");
    const gen = this.#traces.get(id);
    this.#traces.delete(id);
    gen?.return();
    return {};
  }

  #symOptions(h: Record<string, unknown>) {
    const o = fromWire(h.options ?? {}) as Record<string, unknown>;
    return { offset: o.offset === true, module: o.module === true };
  }

  /** Unloads everything the package loaded and stops serving; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const gen of this.#traces.values()) gen.return();
    this.#traces.clear();
    for (const id of [...this.#sources.keys()]) this.#freeSource(id);
    for (const it of this.#iters.values()) lib().bpfpm_map__iter_free(it.it);
    this.#iters.clear();
    for (const obj of [...this.#objects.keys()]) {
      try {
        this.#closeObject(obj);
      } catch { /* keep closing the others */ }
    }
    for (const f of this.#files) {
      try {
        f.close();
      } catch { /* already closed */ }
    }
  }
}
