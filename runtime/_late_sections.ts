/**
 * The sections of BCC's programs typed at attach time (runtime/late.ts): the rewriter writes
 * them, the object inspector classifies them, `BPF` loads them when they are attached. The
 * `?` prefix (libbpf's) keeps them out of the object's own load.
 *
 * @module
 */

/** A function taking `void *ctx`: loaded as whatever kind it is attached as. */
export const LATE = "bcc/late";
/** The syscall-entry tracepoint twin of a `struct pt_regs *` function (`<name>__bcc_enter`). */
export const SYS_ENTER_TWIN = "bcc/sys_enter";
/** The syscall-exit tracepoint twin of a `struct pt_regs *` function (`<name>__bcc_exit`). */
export const SYS_EXIT_TWIN = "bcc/sys_exit";

/**
 * Whether a section holds a program typed at attach time.
 *
 * @param section An ELF section name, with or without libbpf's `?`.
 * @returns Whether it is one of the late sections.
 */
export function isLateSection(section: string): boolean {
  const s = section.startsWith("?") ? section.slice(1) : section;
  return s === LATE || s === SYS_ENTER_TWIN || s === SYS_EXIT_TWIN;
}

/**
 * Whether a section holds a syscall tracepoint twin.
 *
 * @param section An ELF section name, with or without libbpf's `?`.
 * @returns Whether it is a twin's section.
 */
export function isSyscallTwin(section: string): boolean {
  const s = section.startsWith("?") ? section.slice(1) : section;
  return s === SYS_ENTER_TWIN || s === SYS_EXIT_TWIN;
}

/**
 * The name of the syscall tracepoint twin of program `name`.
 *
 * @param name The `struct pt_regs *` function's name.
 * @param ret The exit twin (for a kretprobe) rather than the entry one.
 * @returns The twin's program name.
 */
export function syscallTwinName(name: string, ret: boolean): string {
  return `${name}__bcc_${ret ? "exit" : "enter"}`;
}
