/**
 * npm's publish document: the body of `PUT /:name` that uploads one version (its
 * manifest, its tarball as a base64 attachment, the dist-tag to set). The client
 * publishes with it, the registry checks it, tests and benches build theirs with it.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { integrityOf, shasumOf } from "./digests.ts";
import { tarballFilename } from "./names.ts";

/** What {@linkcode publishDocument} needs. */
export interface PublishDocumentInput {
  /** The package.json (its `name` and `version` name the version). */
  manifest: Record<string, unknown>;
  /** The `.tgz`. */
  tarball: Uint8Array;
  /** The registry URL with a trailing slash, for `dist.tarball`; left out without it. */
  registry?: string;
  /** The dist-tag to point at the version (default `latest`). */
  tag?: string;
  /** The version manifest to send in place of `manifest` (npm sends package.json). */
  versionManifest?: Record<string, unknown>;
}

/**
 * Builds the publish document for one version.
 *
 * @returns The JSON body of `PUT /:name`.
 *
 * @example
 * ```ts
 * import { publishDocument } from "./publish_document.ts";
 * const doc = publishDocument({
 *   manifest: { name: "x", version: "1.0.0" },
 *   tarball: new Uint8Array(),
 *   registry: "http://127.0.0.1:4873/",
 * });
 * console.log(Object.keys(doc._attachments as object)); // ["x-1.0.0.tgz"]
 * ```
 */
export function publishDocument(
  input: PublishDocumentInput,
): Record<string, unknown> {
  const { manifest, tarball } = input;
  const name = String(manifest.name);
  const version = String(manifest.version);
  const filename = tarballFilename(name, version);
  return {
    _id: name,
    name,
    description: manifest.description,
    "dist-tags": { [input.tag ?? "latest"]: version },
    versions: {
      [version]: {
        ...(input.versionManifest ?? manifest),
        _id: `${name}@${version}`,
        dist: {
          integrity: integrityOf(tarball),
          shasum: shasumOf(tarball),
          ...(input.registry
            ? { tarball: `${input.registry}${name}/-/${filename}` }
            : {}),
        },
      },
    },
    access: null,
    _attachments: {
      [filename]: {
        content_type: "application/octet-stream",
        data: Buffer.from(tarball).toString("base64"),
        length: tarball.length,
      },
    },
  };
}
