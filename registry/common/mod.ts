/**
 * What the registry server and the client share, written once: package-name rules,
 * tarball digests, stable JSON, npm's publish document, the errors both throw, and
 * publisher signatures. Neither `registry/server` nor `registry/client` imports the
 * other; both import this.
 *
 * @example
 * ```ts
 * import { packageNameProblem, publishDocument } from "./mod.ts";
 * packageNameProblem("@acme/tool"); // null
 * publishDocument({ manifest: { name: "x", version: "1.0.0" }, tarball: new Uint8Array() });
 * ```
 *
 * @module
 */
export { integrityOf, sha512Hex, shasumOf } from "./digests.ts";
export { integrityOfBytes, sha512Integrity } from "./integrity.ts";
export { denoFlagProblem } from "./deno_flags.ts";
export {
  RegistryError,
  SignatureError,
  type SignatureRefusal,
} from "./errors.ts";
export {
  isPackageName,
  packageNameProblem,
  tarballFilename,
  unscopedName,
} from "./names.ts";
export {
  publishDocument,
  type PublishDocumentInput,
} from "./publish_document.ts";
export {
  keyidOf,
  keyProblem,
  type PublisherSignature,
  SIGNATURE_FILE,
  signKeyProof,
  signPackage,
  verifyPublisherSignature,
} from "./publisher_signature.ts";
export { stableStringify } from "./stable_json.ts";
