/**
 * The grant set in force: the outer set from `bpfpm run` (environment variable
 * `BPFPM_GRANTS`, read once when this module is first imported), narrowed by a script's own
 * `BPF.load({ grants })`. A script can never widen the outer set.
 *
 * @module
 */

import { grantedEnv } from "./_env.ts";
import { BpfError } from "../errors.ts";
import { PermissionDeniedError } from "./check.ts";
import {
  type AttachGrant,
  globCovers,
  type Grants,
  mapMemoryBytes,
  validateGrants,
} from "./grants.ts";

/** The grants used when neither `bpfpm run` nor the script gives any (docs/manifest.md). */
export const DEFAULT_GRANTS: Readonly<Grants> = Object.freeze({});

/**
 * Thrown when `BPFPM_GRANTS` is set but is not a valid grant set.
 *
 * @example A bad BPFPM_GRANTS
 * ```ts
 * import { BPF, GrantsEnvironmentError } from "bpf";
 * try {
 *   await BPF.load({ file: "./probe.bpf.c" });
 * } catch (e) {
 *   if (e instanceof GrantsEnvironmentError) console.error("BPFPM_GRANTS was", e.value);
 * }
 * ```
 */
export class GrantsEnvironmentError extends BpfError {
  /** The variable's raw value. */
  readonly value: string;
  /**
   * Creates the error with its fields.
   *
   * @param message what is wrong
   * @param options the raw value and cause
   */
  constructor(message: string, options: { value: string; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "GrantsEnvironmentError";
    this.value = options.value;
  }
}

/**
 * Reads and validates a `BPFPM_GRANTS` value.
 *
 * @param raw the variable's value, or `undefined` when unset
 * @returns the outer grants, or `undefined` when the variable is unset or empty
 *
 * @example
 * ```ts
 * import { parseGrantsEnvironment } from "./effective.ts";
 * parseGrantsEnvironment('{"helpers":["send_signal"]}'); // { helpers: ["send_signal"] }
 * ```
 */
export function parseGrantsEnvironment(
  raw: string | undefined,
): Grants | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new GrantsEnvironmentError(
      `BPFPM_GRANTS is not JSON (${
        (cause as Error).message
      }): bpfpm run sets it to the manifest's bpf.grants; unset it or fix the value`,
      { value: raw, cause },
    );
  }
  try {
    return Object.freeze(validateGrants(parsed, "BPFPM_GRANTS"));
  } catch (cause) {
    throw new GrantsEnvironmentError(
      `${
        (cause as Error).message
      }: bpfpm run sets BPFPM_GRANTS to the manifest's bpf.grants; unset it or fix the value`,
      { value: raw, cause },
    );
  }
}

let outerRead = false;
let outerGrants: Grants | undefined;
let outerError: GrantsEnvironmentError | undefined;

function readOuter(): void {
  if (outerRead) return;
  outerRead = true;
  try {
    outerGrants = parseGrantsEnvironment(grantedEnv("BPFPM_GRANTS"));
  } catch (e) {
    outerError = e as GrantsEnvironmentError;
  }
}
// Read once, at first import: a script cannot change its ceiling by setting the variable later.
// `bpfpm run` should preload this module (`deno run --preload=<runtime/policy/effective.ts>`)
// so that it is read before any of the script's code runs, dynamic imports included.
readOuter();

/**
 * The outer grant set given by `bpfpm run` in `BPFPM_GRANTS`, as read when this module was
 * first imported; `undefined` when there is none. Throws a {@link GrantsEnvironmentError}
 * when the variable held something invalid.
 *
 * @returns the outer grants, frozen, or `undefined`
 *
 * @example
 * ```ts
 * import { grantsFromEnvironment } from "./effective.ts";
 * console.log(grantsFromEnvironment() ?? "no outer grant set");
 * ```
 */
export function grantsFromEnvironment(): Grants | undefined {
  if (outerError) throw outerError;
  return outerGrants;
}

function deny(
  message: string,
  missingGrant: string,
  extra: { kind?: string; target?: string } = {},
): never {
  throw new PermissionDeniedError(
    `Permission denied: ${message}, which the outer grant set (BPFPM_GRANTS, from bpfpm run) does not include: declare it in the package's bpf.grants`,
    { missingGrant, ...extra },
  );
}

function covered(outer: AttachGrant[], want: AttachGrant): boolean {
  return outer.some((o) =>
    o.kind === want.kind &&
    (o.target === undefined ||
      (want.target !== undefined && globCovers(o.target, want.target)))
  );
}

/**
 * `script` narrowed to what `outer` allows; throws a PermissionDeniedError when the script
 * asks for anything `outer` does not include. A field the script leaves out keeps the outer
 * value.
 *
 * @param outer the ceiling
 * @param script the script's request
 * @returns the narrowed grants
 *
 * @example
 * ```ts
 * import { narrowGrants } from "./effective.ts";
 * narrowGrants({ helpers: ["send_signal"] }, { helpers: [] }); // { helpers: [] }
 * ```
 */
export function narrowGrants(outer: Grants, script: Grants): Grants {
  const out: Grants = {};
  const attach = script.attach ?? outer.attach;
  if (attach) {
    if (outer.attach && script.attach) {
      for (const a of script.attach) {
        if (!covered(outer.attach, a)) {
          deny(
            `the script asks for attach ${a.kind}${
              a.target ? ` ${a.target}` : " (any target)"
            }`,
            `attach: [{ kind: "${a.kind}"${
              a.target ? `, target: "${a.target}"` : ""
            } }]`,
            { kind: a.kind, target: a.target },
          );
        }
      }
    }
    out.attach = attach.map((a) => ({ ...a }));
  }
  const outerHelpers = new Set(outer.helpers ?? []);
  for (const h of script.helpers ?? []) {
    if (!outerHelpers.has(h)) {
      deny(`the script asks for the helper class ${h}`, `helpers: ["${h}"]`);
    }
  }
  out.helpers = [...(script.helpers ?? outer.helpers ?? [])];
  const outerKfuncs = new Set(outer.kfuncs ?? []);
  for (const k of script.kfuncs ?? []) {
    if (!outerKfuncs.has(k)) {
      deny(`the script asks for the kfunc ${k}`, `kfuncs: ["${k}"]`);
    }
  }
  const kfuncs = script.kfuncs ?? outer.kfuncs;
  if (kfuncs) out.kfuncs = [...kfuncs];
  if (script.mapMemory !== undefined) {
    if (
      outer.mapMemory !== undefined &&
      mapMemoryBytes(script.mapMemory) > mapMemoryBytes(outer.mapMemory)
    ) {
      deny(
        `the script asks for mapMemory ${script.mapMemory}, more than ${outer.mapMemory}`,
        `mapMemory: ${JSON.stringify(script.mapMemory)}`,
      );
    }
    out.mapMemory = script.mapMemory;
  } else if (outer.mapMemory !== undefined) out.mapMemory = outer.mapMemory;
  return out;
}

/**
 * The grant set in force for a `BPF.load`: the outer set from `bpfpm run` when there is one,
 * narrowed by the script's grants; else the script's grants; else the default (every attach
 * kind, no risky helper, no map memory cap).
 *
 * @param scriptGrants `BPF.load`'s `grants` option (validated here)
 * @returns the effective grants
 *
 * @example
 * ```ts
 * import { effectiveGrants } from "./effective.ts";
 * const grants = effectiveGrants({ attach: [{ kind: "tracepoint" }] });
 * ```
 */
export function effectiveGrants(scriptGrants?: unknown): Grants {
  const outer = grantsFromEnvironment();
  const script = scriptGrants === undefined
    ? undefined
    : validateGrants(scriptGrants, "grants");
  if (outer && script) return narrowGrants(outer, script);
  return outer ?? script ?? DEFAULT_GRANTS;
}
