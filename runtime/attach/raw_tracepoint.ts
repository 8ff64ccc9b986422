/**
 * Raw tracepoints (`SEC("raw_tp/<name>")`, `SEC("raw_tracepoint/<name>")`): the tracepoint's
 * raw arguments, no perf event in between. Kernel 4.17+.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { checkArgument, RAW_TRACEPOINT } from "../_options.ts";
import { TracepointNotFoundError } from "../errors.ts";
import type { Program } from "../program.ts";
import { type Link, linkOrThrow } from "./link.ts";

/**
 * Attaches `program` to the raw tracepoint `name` (the event name without its category,
 * e.g. `sched_switch`, `sys_enter`).
 *
 * @param program A loaded raw tracepoint program.
 * @param name The tracepoint's name.
 * @returns The link; closing it detaches.
 * @throws {TracepointNotFoundError} When the kernel has no such tracepoint.
 */
export function attachRawTracepoint(program: Program, name: string): Link {
  checkArgument("attachRawTracepoint", "name", name, RAW_TRACEPOINT);
  return linkOrThrow(
    lib().bpfpm_program__attach_raw_tracepoint(program.fd, cstr(name)),
    program,
    { kind: "raw_tp", target: name },
    () =>
      new TracepointNotFoundError(
        `Raw tracepoint ${name} does not exist on this kernel: list the tracepoints with \`ls /sys/kernel/tracing/events/*/\` and use an event's name`,
        { category: "", event: name },
      ),
  );
}
