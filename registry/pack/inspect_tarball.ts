/**
 * Safe inspection of an npm package tarball (gzip + tar), shared by the registry server
 * (at publish) and the client (before it extracts). Nothing is written to disk: the
 * tarball is gunzipped in small steps under a byte cap, so a gzip bomb stops early, and
 * every entry is checked before its bytes are kept.
 *
 * @module
 */
import tarStream from "tar-stream";
import { PathConflicts } from "./_path_conflicts.ts";
import { DEFAULT_TARBALL_LIMITS, type TarballLimits } from "../limits.ts";

export { DEFAULT_TARBALL_LIMITS, type TarballLimits };

/** Why a tarball was refused. */
export type TarballErrorReason =
  | "too-large-compressed"
  | "too-large-unpacked"
  | "too-many-files"
  | "not-gzip"
  | "corrupt-gzip"
  | "not-tar"
  | "link"
  | "device"
  | "unsupported-entry"
  | "absolute-path"
  | "dot-dot"
  | "bad-path"
  | "outside-package"
  | "duplicate"
  | "path-conflict"
  | "no-package-json"
  | "bad-package-json";

/** A tarball that is hostile or malformed; `reason` says which rule it broke. */
export class TarballError extends Error {
  /** A stable code for the broken rule. */
  readonly reason: TarballErrorReason;
  /** The entry path concerned, when there is one. */
  readonly path?: string;

  /**
   * @param reason The broken rule.
   * @param message A readable explanation.
   * @param options The entry path and the underlying error, if any.
   */
  constructor(
    reason: TarballErrorReason,
    message: string,
    options: { path?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "TarballError";
    this.reason = reason;
    this.path = options.path;
  }
}

/** One entry of an inspected tarball. */
export interface TarballEntry {
  /** The path as stored, always under `package/`. */
  path: string;
  /** Size in bytes (0 for directories). */
  size: number;
  /** Permission bits (setuid, setgid and sticky dropped). */
  mode: number;
  /** Only regular files and directories are ever returned. */
  type: "file" | "directory";
  /** The file's bytes. */
  data?: Uint8Array;
}

/** What {@linkcode inspectTarball} returns. */
export interface InspectedTarball {
  /** Every entry, in tarball order. */
  entries: TarballEntry[];
  /** The parsed `package/package.json`. */
  packageJson: Record<string, unknown>;
}

const GZIP_STEP = 8 * 1024;

/** The part of tar-stream's extractor the gunzip feed writes to. */
interface TarSink {
  write(chunk: Uint8Array): boolean;
  end(): void;
  destroy(error?: Error): void;
  once(event: "drain" | "close", fn: () => void): void;
  readonly destroyed: boolean;
}

/**
 * Gunzips `bytes` into `sink` as the tar parser asks for more, feeding the
 * decompressor small steps, so the tar is never held whole: memory stays at the
 * parser's buffer plus the entry being read, whatever the tarball expands to. The
 * running output count stops a gzip bomb at `cap`; a failure destroys `sink` with a
 * {@linkcode TarballError}, which its reader then throws.
 */
async function gunzipInto(
  bytes: Uint8Array,
  cap: number,
  sink: TarSink,
): Promise<void> {
  let offset = 0;
  const input = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + GZIP_STEP));
      offset += GZIP_STEP;
    },
  }, { highWaterMark: 0 });
  const reader = input.pipeThrough(
    new DecompressionStream("gzip") as unknown as TransformStream<
      Uint8Array,
      Uint8Array
    >,
  ).getReader();
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (sink.destroyed) return;
      total += value.length;
      if (total > cap) {
        throw new TarballError(
          "too-large-unpacked",
          `The tarball expands past ${cap} bytes (a gzip bomb, or too large)`,
        );
      }
      if (!sink.write(value)) {
        await new Promise<void>((resolve) => {
          sink.once("drain", resolve);
          sink.once("close", resolve);
        });
      }
    }
    if (!sink.destroyed) sink.end();
  } catch (e) {
    reader.cancel().catch(() => {});
    sink.destroy(
      e instanceof TarballError ? e : new TarballError(
        "corrupt-gzip",
        `The tarball's gzip stream is corrupt: ${(e as Error).message}`,
        { cause: e },
      ),
    );
  }
}

function checkPath(
  path: string,
  isFile: boolean,
  limits: TarballLimits,
): string {
  const where = { path };
  if (new TextEncoder().encode(path).length > limits.maxPathLength) {
    throw new TarballError(
      "bad-path",
      `Entry path is longer than ${limits.maxPathLength} bytes`,
      where,
    );
  }
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) {
    throw new TarballError(
      "absolute-path",
      `Entry ${JSON.stringify(path)} has an absolute path`,
      where,
    );
  }
  if (path.includes("\\")) {
    throw new TarballError(
      "bad-path",
      `Entry ${JSON.stringify(path)} contains a backslash`,
      where,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) {
    throw new TarballError(
      "bad-path",
      `Entry ${JSON.stringify(path)} contains a control character`,
      where,
    );
  }
  const parts = path.replace(/\/$/, "").split("/");
  if (parts.includes("..")) {
    throw new TarballError(
      "dot-dot",
      `Entry ${JSON.stringify(path)} contains a .. component`,
      where,
    );
  }
  if (parts.some((p) => p === "" || p === ".")) {
    throw new TarballError(
      "bad-path",
      `Entry ${JSON.stringify(path)} has an empty or . component`,
      where,
    );
  }
  if (parts[0] !== "package" || (isFile && parts.length < 2)) {
    throw new TarballError(
      "outside-package",
      `Entry ${JSON.stringify(path)} is not under package/`,
      where,
    );
  }
  return parts.join("/");
}

/**
 * Inspects a package tarball without touching the disk and refuses anything hostile:
 * links, devices, FIFOs, absolute paths, `..`, entries outside `package/`, duplicate
 * paths (compared case-insensitively), and tarballs over the compressed, unpacked or
 * file-count caps. It requires a valid `package/package.json`.
 *
 * @param bytes The `.tgz` bytes.
 * @param limits Caps that override {@linkcode DEFAULT_TARBALL_LIMITS}.
 * @returns The entries, each file with its bytes, and the parsed package.json.
 * @throws {TarballError} When a rule is broken; `reason` names it.
 *
 * @example
 * ```ts
 * import { inspectTarball, TarballError } from "./mod.ts";
 * try {
 *   const { packageJson } = await inspectTarball(await Deno.readFile("x-1.0.0.tgz"));
 *   console.log(packageJson.name);
 * } catch (e) {
 *   if (e instanceof TarballError) console.error(e.reason, e.message);
 * }
 * ```
 */
export async function inspectTarball(
  bytes: Uint8Array,
  limits: Partial<TarballLimits> = {},
): Promise<InspectedTarball> {
  const lim: TarballLimits = { ...DEFAULT_TARBALL_LIMITS, ...limits };
  if (bytes.length > lim.maxCompressedSize) {
    throw new TarballError(
      "too-large-compressed",
      `The tarball is ${bytes.length} bytes, over the ${lim.maxCompressedSize}-byte cap`,
    );
  }
  // Headers and padding cost up to ~1.5 KiB per entry beyond the file bytes themselves.
  const tarCap = lim.maxUnpackedSize + (lim.maxFiles + 16) * 1536 + 10240;
  if (
    bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b ||
    bytes[2] !== 8
  ) {
    throw new TarballError(
      "not-gzip",
      "The tarball is not gzip-compressed (bad magic bytes)",
    );
  }
  const extract = tarStream.extract();
  const fed = gunzipInto(bytes, tarCap, extract as unknown as TarSink);
  const entries: TarballEntry[] = [];
  const seen = new Map<string, string>();
  const conflicts = new PathConflicts();
  let unpacked = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const rawPath = h.name;
      if (h.type === "symlink" || h.type === "link") {
        throw new TarballError(
          "link",
          `Entry ${JSON.stringify(rawPath)} is a ${
            h.type === "link" ? "hard link" : "symbolic link"
          }`,
          { path: rawPath },
        );
      }
      if (
        h.type === "character-device" || h.type === "block-device" ||
        h.type === "fifo"
      ) {
        throw new TarballError(
          "device",
          `Entry ${JSON.stringify(rawPath)} is a ${h.type}`,
          {
            path: rawPath,
          },
        );
      }
      if (h.type !== "file" && h.type !== "directory") {
        throw new TarballError(
          "unsupported-entry",
          `Entry ${JSON.stringify(rawPath)} has unsupported type ${h.type}`,
          { path: rawPath },
        );
      }
      const path = checkPath(rawPath, h.type === "file", lim);
      if (entries.length + 1 > lim.maxFiles) {
        throw new TarballError(
          "too-many-files",
          `The tarball has more than ${lim.maxFiles} entries`,
        );
      }
      const key = path.toLowerCase().normalize("NFC");
      const prior = seen.get(key);
      if (prior !== undefined && !(h.type === "directory" && prior === path)) {
        throw new TarballError(
          "duplicate",
          prior === path
            ? `Entry ${JSON.stringify(path)} appears twice`
            : `Entries ${JSON.stringify(prior)} and ${
              JSON.stringify(path)
            } differ only in case`,
          { path },
        );
      }
      seen.set(key, path);
      const conflict = conflicts.add(path, h.type);
      if (conflict) {
        throw new TarballError(
          "path-conflict",
          `${conflict}: a tarball cannot hold both`,
          { path },
        );
      }
      const size = h.type === "file" ? (h.size ?? 0) : 0;
      unpacked += size;
      if (unpacked > lim.maxUnpackedSize) {
        throw new TarballError(
          "too-large-unpacked",
          `The files add up to more than the ${lim.maxUnpackedSize}-byte unpacked cap`,
        );
      }
      const mode = (h.mode ?? (h.type === "directory" ? 0o755 : 0o644)) &
        0o777;
      if (h.type === "directory") {
        entry.resume();
        entries.push({ path, size: 0, mode, type: "directory" });
        continue;
      }
      const data = new Uint8Array(size);
      let at = 0;
      for await (const chunk of entry as AsyncIterable<Uint8Array>) {
        data.set(chunk, at);
        at += chunk.length;
      }
      entries.push({ path, size, mode, type: "file", data });
    }
  } catch (e) {
    if (e instanceof TarballError) throw e;
    throw new TarballError(
      "not-tar",
      `The tarball's tar stream is invalid: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  } finally {
    extract.destroy();
    await fed;
  }

  const pj = entries.find((e) =>
    e.path === "package/package.json" && e.type === "file"
  );
  if (!pj) {
    throw new TarballError(
      "no-package-json",
      "The tarball has no package/package.json",
    );
  }
  let packageJson: unknown;
  try {
    packageJson = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(pj.data),
    );
  } catch (e) {
    throw new TarballError(
      "bad-package-json",
      `package/package.json is not valid JSON: ${(e as Error).message}`,
      {
        path: pj.path,
        cause: e,
      },
    );
  }
  if (
    typeof packageJson !== "object" || packageJson === null ||
    Array.isArray(packageJson)
  ) {
    throw new TarballError(
      "bad-package-json",
      "package/package.json is not a JSON object",
      {
        path: pj.path,
      },
    );
  }
  return { entries, packageJson: packageJson as Record<string, unknown> };
}
