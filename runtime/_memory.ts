/**
 * The C heap of a long-running process (`bpfpm agent`): glibc's defaults suit a short run,
 * where a heap that only grows costs nothing. In the agent, each probe's load parses the
 * kernel's BTF and the object's ELF in large C buffers that are freed afterwards; with
 * glibc's growing mmap threshold they stay in the heap, and each drainer thread gets an arena
 * of its own. Measured on the bench's five probes: the agent's C heap 22.6 MB by default,
 * 13.4 MB with two arenas and a fixed 64 KiB threshold.
 *
 * @module
 */
import { lib } from "./_ffi.ts";
import { BpfError } from "./errors.ts";

/** Blocks this large or larger are mapped on their own and given back when freed. */
const MMAP_THRESHOLD = 64 * 1024;

/** The most malloc arenas (glibc's default is eight a core). */
const ARENA_MAX = 2;

/**
 * Sizes the C heap for a long run: call once, before loading anything.
 *
 * @example
 * ```ts
 * import { tuneHeapForLongRun } from "./_memory.ts";
 * tuneHeapForLongRun();
 * ```
 */
export function tuneHeapForLongRun(): void {
  const rc = lib().bpfpm_memory__tune(ARENA_MAX, MMAP_THRESHOLD);
  if (rc < 0) {
    throw new BpfError(
      `This C library refused the agent's malloc settings (mallopt M_ARENA_MAX ${ARENA_MAX}, M_MMAP_THRESHOLD ${MMAP_THRESHOLD}): run bpfpm agent on glibc, which the agent is built and measured against`,
      { errno: -rc },
    );
  }
}

/**
 * Gives the C heap's free pages back to the kernel (after a load, whose buffers are freed).
 *
 * @example
 * ```ts
 * import { trimHeap } from "./_memory.ts";
 * trimHeap();
 * ```
 */
export function trimHeap(): void {
  lib().bpfpm_memory__trim();
}
