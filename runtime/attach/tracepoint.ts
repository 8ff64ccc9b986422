/**
 * Tracepoints (`SEC("tracepoint/<category>/<event>")`, `SEC("tp/...")`): a perf event on the
 * tracepoint with the program attached. Kernel 4.7+.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { checkArgument, TRACEPOINT } from "../_options.ts";
import { TracepointNotFoundError } from "../errors.ts";
import {
  parseTracepointName,
  requireTracepoint,
  tracefsDir,
} from "../trace/tracefs.ts";
import type { Program } from "../program.ts";
import { type Link, linkOrThrow } from "./link.ts";

/**
 * Attaches `program` to the tracepoint `category:event`.
 *
 * @param program A loaded program of type tracepoint.
 * @param name `category:event`, e.g. `syscalls:sys_enter_clone`.
 * @returns The link; closing it detaches.
 * @throws {TracepointNotFoundError} When the kernel has no such tracepoint.
 */
export function attachTracepoint(program: Program, name: string): Link {
  checkArgument("attachTracepoint", "tracepoint", name, TRACEPOINT);
  const [category, event] = parseTracepointName(name);
  requireTracepoint(category, event);
  const target = `${category}:${event}`;
  return linkOrThrow(
    lib().bpfpm_program__attach_tracepoint(
      program.fd,
      cstr(category),
      cstr(event),
    ),
    program,
    { kind: "tracepoint", target },
    () =>
      new TracepointNotFoundError(
        `Tracepoint ${target} does not exist on this kernel: list the available ones with \`grep ${category}: ${tracefsDir()}/available_events\``,
        { category, event },
      ),
  );
}
