/**
 * BTF-typed raw tracepoints (`SEC("tp_btf/<name>")`): typed arguments, direct kernel memory
 * reads. The target is fixed at load from the section name. Kernel 5.5+.
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import type { Program } from "../program.ts";
import { type Link, linkOrThrow } from "./link.ts";

/**
 * Attaches a tp_btf program to the tracepoint its section names.
 *
 * @param program A loaded tp_btf program.
 * @returns The link; closing it detaches.
 */
export function attachTpBtf(program: Program): Link {
  const target = program.section.replace(/^tp_btf\//, "");
  return linkOrThrow(
    lib().bpfpm_program__attach_tracing(
      program.fd,
      cstr(`tp_btf program '${program.name}' (section ${program.section})`),
      0,
    ),
    program,
    { kind: "tp_btf", target },
  );
}
