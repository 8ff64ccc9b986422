/**
 * Hostile package tarballs, generated with tar-stream so that every header field is
 * under the test's control. Each case names the refusal reason it must produce.
 *
 * @module
 */
import tarStream from "tar-stream";
import type { TarballErrorReason } from "../../registry/pack/mod.ts";

/** One raw tar entry. */
export interface RawEntry {
  name: string;
  type?:
    | "file"
    | "directory"
    | "symlink"
    | "link"
    | "character-device"
    | "block-device"
    | "fifo";
  data?: string | Uint8Array;
  linkname?: string;
  mode?: number;
}

/** Builds a tar (not gzipped) from raw entries. */
export async function rawTar(entries: RawEntry[]): Promise<Uint8Array> {
  const pack = tarStream.pack();
  const done = (async () => {
    const chunks: Uint8Array[] = [];
    for await (const c of pack as AsyncIterable<Uint8Array>) chunks.push(c);
    return new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer());
  })();
  for (const e of entries) {
    const data = typeof e.data === "string"
      ? new TextEncoder().encode(e.data)
      : e.data;
    await new Promise<void>((resolve, reject) =>
      pack.entry(
        {
          name: e.name,
          type: e.type ?? "file",
          linkname: e.linkname,
          mode: e.mode ?? 0o644,
          size: e.type && e.type !== "file" ? 0 : data?.length ?? 0,
          devmajor: 1,
          devminor: 3,
        },
        e.type && e.type !== "file"
          ? new Uint8Array()
          : data ?? new Uint8Array(),
        (err?: Error | null) => (err ? reject(err) : resolve()),
      )
    );
  }
  pack.finalize();
  return await done;
}

/** Gzips bytes. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<
      Uint8Array,
      Uint8Array
    >,
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A minimal valid package.json entry for `name`@`version`. */
export function pjEntry(name: string, version: string): RawEntry {
  return {
    name: "package/package.json",
    data: JSON.stringify({ name, version }),
  };
}

/** A hostile case. */
export interface HostileCase {
  label: string;
  reason: TarballErrorReason;
  tgz: Uint8Array;
}

/** Every hostile case, for package `name`@`version`. */
export async function hostileCases(
  name: string,
  version: string,
): Promise<HostileCase[]> {
  const pj = pjEntry(name, version);
  const t = async (entries: RawEntry[]) => await gzip(await rawTar(entries));
  // 64 MiB of zeros compresses to ~64 KiB: over the unpacked cap, a small upload.
  const bomb = await gzip(
    await rawTar([pj, {
      name: "package/zeros",
      data: new Uint8Array(80 * 1024 * 1024),
    }]),
  );
  return [
    {
      label: "symbolic link",
      reason: "link",
      tgz: await t([pj, {
        name: "package/x",
        type: "symlink",
        linkname: "/etc/passwd",
      }]),
    },
    {
      label: "hard link",
      reason: "link",
      tgz: await t([pj, {
        name: "package/x",
        type: "link",
        linkname: "package/package.json",
      }]),
    },
    {
      label: "absolute path",
      reason: "absolute-path",
      tgz: await t([pj, { name: "/etc/cron.d/evil", data: "x" }]),
    },
    {
      label: "dot-dot",
      reason: "dot-dot",
      tgz: await t([pj, { name: "package/../../evil", data: "x" }]),
    },
    {
      label: "character device",
      reason: "device",
      tgz: await t([pj, { name: "package/null", type: "character-device" }]),
    },
    {
      label: "block device",
      reason: "device",
      tgz: await t([pj, { name: "package/sda", type: "block-device" }]),
    },
    {
      label: "fifo",
      reason: "device",
      tgz: await t([pj, { name: "package/pipe", type: "fifo" }]),
    },
    {
      label: "case-insensitive duplicate",
      reason: "duplicate",
      tgz: await t([pj, { name: "package/README.md", data: "a" }, {
        name: "package/readme.md",
        data: "b",
      }]),
    },
    {
      label: "exact duplicate",
      reason: "duplicate",
      tgz: await t([pj, { name: "package/a.js", data: "a" }, {
        name: "package/a.js",
        data: "b",
      }]),
    },
    {
      label: "outside package/",
      reason: "outside-package",
      tgz: await t([pj, { name: "other/a.js", data: "a" }]),
    },
    { label: "gzip bomb", reason: "too-large-unpacked", tgz: bomb },
    { label: "not gzip", reason: "not-gzip", tgz: await rawTar([pj]) },
    {
      label: "gzip of garbage",
      reason: "not-tar",
      tgz: await gzip(new TextEncoder().encode("x".repeat(2000))),
    },
    {
      label: "truncated gzip",
      reason: "corrupt-gzip",
      tgz: (await t([pj, { name: "package/a", data: "y".repeat(5000) }])).slice(
        0,
        60,
      ),
    },
    {
      label: "no package.json",
      reason: "no-package-json",
      tgz: await t([{ name: "package/index.js", data: "" }]),
    },
    {
      label: "package.json not JSON",
      reason: "bad-package-json",
      tgz: await t([{ name: "package/package.json", data: "{nope" }]),
    },
  ];
}
