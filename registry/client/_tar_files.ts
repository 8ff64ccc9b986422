/**
 * The regular files of a package tarball that was inspected at install
 * (registry/pack/inspect_tarball.ts refused links, devices, bad paths and oversize content
 * then) and whose sha512 the caller has just checked against the lockfile: what `bpfpm run`
 * of an installed package compares with the installed files and hands to the sandbox.
 *
 * Read here rather than with the inspector's tar reader (tar-stream, an npm package):
 * loading that starts Deno's npm resolver and Node layer, ~40 ms of every `bpfpm run NAME`
 * on this machine. The format read is ustar with its `prefix`, pax `path`/`size` records
 * and GNU long names: what tar-stream, npm and node-tar write. Anything else fails closed
 * (an error, or a file the installed one cannot match), never a file that was not in the
 * tarball. tests/client/tar_files_test.ts compares it with the inspector on the same
 * tarballs.
 *
 * @module
 */

const BLOCK = 512;

/** A NUL-terminated header field as text. */
function field(h: Uint8Array, at: number, len: number): string {
  const raw = h.subarray(at, at + len);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

/** A numeric header field: octal text, or base-256 when its first byte's high bit is set. */
function number(h: Uint8Array, at: number, len: number): number {
  if (h[at] & 0x80) {
    let n = h[at] & 0x3f;
    for (let i = 1; i < len; i++) n = n * 256 + h[at + i];
    return n;
  }
  const text = field(h, at, len).trim();
  return text ? parseInt(text, 8) : 0;
}

/** The pax records of an extended header (`<len> <key>=<value>\n`...), up to a malformed one. */
function paxRecords(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = new TextDecoder();
  for (let at = 0; at < data.length;) {
    let space = at;
    while (space < data.length && data[space] !== 0x20) space++;
    const len = parseInt(text.decode(data.subarray(at, space)), 10);
    if (!len) break;
    const record = text.decode(data.subarray(space + 1, at + len - 1));
    const eq = record.indexOf("=");
    if (eq < 0) break;
    out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

/** The gunzipped bytes (a writer and reader on the stream: Response and Blob cost ms more). */
async function gunzip(gz: Uint8Array): Promise<Uint8Array> {
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const read = async () => {
    const chunks: Uint8Array[] = [];
    const reader = stream.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return chunks;
      chunks.push(value);
    }
  };
  const [, chunks] = await Promise.all([
    writer.write(gz as Uint8Array<ArrayBuffer>).then(() => writer.close()),
    read(),
  ]);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The regular files of a gzipped package tarball, by their path in the package (the
 * leading `package/` removed).
 *
 * @param tgz the tarball's bytes, already checked against their locked integrity
 * @returns each file's bytes by relative path
 * @throws {Error} when the tarball is not a gzipped tar of the kinds above
 *
 * @example
 * ```ts
 * import { tarballFiles } from "./_tar_files.ts";
 * const files = await tarballFiles(await Deno.readFile("probe-1.0.0.tgz"));
 * console.log(files.has("package.json"));
 * ```
 */
export async function tarballFiles(
  tgz: Uint8Array,
): Promise<Map<string, Uint8Array>> {
  const tar = await gunzip(tgz);
  const files = new Map<string, Uint8Array>();
  // As tar-stream: a global pax header's records apply through the entries' own.
  let global = new Map<string, string>();
  let pax = new Map<string, string>();
  let longName: string | undefined;
  for (let at = 0; at + BLOCK <= tar.length;) {
    const h = tar.subarray(at, at + BLOCK);
    let sum = 8 * 0x20;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0 : h[i];
    if (sum === 8 * 0x20) {
      // An empty block (the end marker is two): skipped, as tar-stream does.
      at += BLOCK;
      continue;
    }
    if (sum !== number(h, 148, 8)) {
      throw new Error(`a tar header at byte ${at} fails its checksum`);
    }
    const type = String.fromCharCode(h[156] || 0x30);
    const size = pax.get("size")
      ? parseInt(pax.get("size")!, 10)
      : number(h, 124, 12);
    const data = tar.subarray(at + BLOCK, at + BLOCK + size);
    if (data.length !== size) throw new Error("the tar stream is truncated");
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      pax = new Map([...global, ...paxRecords(data)]);
      continue;
    }
    if (type === "g") {
      global = paxRecords(data);
      continue;
    }
    if (type === "L") {
      longName = field(data, 0, data.length);
      continue;
    }
    const prefix = field(h, 257, 6) === "ustar" ? field(h, 345, 155) : "";
    const name = pax.get("path") || longName ||
      (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    pax = new Map();
    longName = undefined;
    // Old tars mark a directory by a trailing slash alone.
    if (type === "5" || name.endsWith("/")) continue;
    if (type !== "0") {
      throw new Error(`${JSON.stringify(name)} is a tar entry of type ${type}`);
    }
    if (!name.startsWith("package/")) {
      throw new Error(`${JSON.stringify(name)} is not under package/`);
    }
    files.set(name.slice("package/".length), data);
  }
  return files;
}
