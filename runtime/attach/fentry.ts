/**
 * fentry/fexit (and fmod_ret): BTF-typed programs at a kernel function's entry or exit, with
 * typed arguments. Kernel 5.5+ with CONFIG_FUNCTION_TRACER and direct calls; the target
 * function is fixed at load (its section, `fentry/do_unlinkat`).
 *
 * @module
 */
import { cstr, lib } from "../_ffi.ts";
import { type AttachableProgram, attachNative } from "./attachment.ts";
import { type Link, TRACING_FTRACE } from "./link.ts";

function attach(
  program: AttachableProgram,
  kind: "fentry" | "fexit",
): Link {
  const what = `${kind} program '${program.name}'`;
  return attachNative(
    program,
    kind,
    program.name,
    (fd) => lib().bpfpm_program__attach_tracing(fd, cstr(what), TRACING_FTRACE),
  );
}

/**
 * Attaches an fentry program to the kernel function it was loaded for. On a kernel that
 * denies ftrace function ops (this project's VMs) it throws an AttachError naming that.
 *
 * @param program a loaded `SEC("fentry/<function>")` program
 * @returns a disposable link
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./unlink.bpf.c", autoAttach: false });
 * using link = b.attachFentry(b.programs.get("on_unlink")!);
 * ```
 */
export function attachFentry(program: AttachableProgram): Link {
  return attach(program, "fentry");
}

/**
 * Attaches an fexit program to the kernel function it was loaded for.
 *
 * @param program a loaded `SEC("fexit/<function>")` program
 * @returns a disposable link
 *
 * @example
 * ```ts
 * import { BPF } from "bpf";
 * using b = await BPF.load({ file: "./unlink.bpf.c", autoAttach: false });
 * using link = b.attachFexit(b.programs.get("on_unlink_ret")!);
 * ```
 */
export function attachFexit(program: AttachableProgram): Link {
  return attach(program, "fexit");
}
