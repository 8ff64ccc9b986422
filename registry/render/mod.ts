/**
 * Generic rendering of a probe from its declaration: `bpfpm run NAME --output
 * table|json|ndjson --fields a,b` (docs/fleet.md).
 *
 * @example
 * ```ts
 * import { loadConfig } from "../client/config.ts";
 * import { runDeclared } from "./mod.ts";
 * await runDeclared(loadConfig(), "execsnoop", [], { output: "ndjson", yes: true });
 * ```
 *
 * @module
 */
export {
  type Clock,
  fieldName,
  formatRecord,
  jsonSafe,
  type OutputFormat,
  rfc3339,
  RowWriter,
  systemClock,
} from "./format.ts";
export { type RenderOptions, runDeclared } from "./run.ts";
