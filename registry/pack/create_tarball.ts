/**
 * Builds npm package tarballs: every file under `package/`, a fixed mtime (the one npm
 * uses) so that the same files always give the same bytes, gzip-compressed.
 *
 * @module
 */
import tarStream from "tar-stream";

/** One file to pack, its path relative to the package root. */
export interface PackFile {
  /** Path relative to the package root, with `/` separators (`package/` is added). */
  path: string;
  /** The contents. */
  data: Uint8Array | string;
  /** Permission bits; 0o644 unless given. */
  mode?: number;
}

const NPM_MTIME = new Date("1985-10-26T08:15:00.000Z");

/**
 * Packs files into a gzip-compressed npm tarball.
 *
 * @param files The files, or an object mapping relative paths to contents.
 * @returns The `.tgz` bytes.
 *
 * @example
 * ```ts
 * import { createTarball } from "./mod.ts";
 * const tgz = await createTarball({ "package.json": JSON.stringify({ name: "x", version: "1.0.0" }) });
 * ```
 */
export async function createTarball(
  files: PackFile[] | Record<string, Uint8Array | string>,
): Promise<Uint8Array> {
  const list: PackFile[] = Array.isArray(files)
    ? files
    : Object.entries(files).map(([path, data]) => ({ path, data }));
  const pack = tarStream.pack();
  const sorted = [...list].sort((
    a,
    b,
  ) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const done = (async () => {
    const chunks: Uint8Array[] = [];
    for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(c);
    return chunks;
  })();
  for (const f of sorted) {
    const data = typeof f.data === "string"
      ? new TextEncoder().encode(f.data)
      : f.data;
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: `package/${f.path.replace(/^\/+/, "")}`,
          mode: f.mode ?? 0o644,
          mtime: NPM_MTIME,
          size: data.length,
        },
        data,
        (err?: Error | null) => (err ? reject(err) : resolve()),
      )
    );
  }
  pack.finalize();
  const tar = new Blob(await done as BlobPart[]);
  return new Uint8Array(
    await new Response(
      tar.stream().pipeThrough(
        new CompressionStream("gzip") as unknown as TransformStream<
          Uint8Array,
          Uint8Array
        >,
      ),
    )
      .arrayBuffer(),
  );
}
