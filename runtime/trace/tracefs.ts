/**
 * Finding tracefs (mounting it when it is absent) and reading tracepoint format files.
 *
 * @module
 */
import { cstr, lastError, lib } from "../_ffi.ts";
import { optionalEnv } from "../_env.ts";
import { TracefsError, TracepointNotFoundError } from "../errors.ts";
import { kernelPathExists, readKernelFile } from "../_kernel_files.ts";

let resolved: string | undefined;

/**
 * The tracefs mount point: `BPFPM_TRACEFS` if set (tests), else /sys/kernel/tracing or
 * /sys/kernel/debug/tracing, whichever is mounted. When none is, mounts tracefs at the first
 * and throws a TracefsError if that fails.
 */
export function tracefsDir(): string {
  if (resolved) return resolved;
  const override = optionalEnv("BPFPM_TRACEFS");
  const candidates = override
    ? [override]
    : ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
  for (const dir of candidates) {
    if (kernelPathExists(`${dir}/trace_pipe`)) return resolved = dir;
  }
  const target = candidates[0];
  const rc = lib().bpfpm_tracefs__mount(cstr(target));
  const why = rc === 0 ? "" : lastError().message;
  if (rc === 0 && kernelPathExists(`${target}/trace_pipe`)) {
    return resolved = target;
  }
  throw new TracefsError(
    `tracefs is not mounted at ${target} and mounting it failed (${
      why || "no trace_pipe after mount"
    }): mount it as root with \`mount -t tracefs tracefs ${target}\``,
    { path: target },
  );
}

/** Splits `category:event` (or `category/event`) into its two parts. */
export function parseTracepointName(name: string): [string, string] {
  const parts = name.split(/[:/]/);
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new TypeError(
      `Invalid tracepoint name ${
        JSON.stringify(name)
      }: use "category:event", e.g. "syscalls:sys_enter_clone"`,
    );
  }
  return [parts[0], parts[1]];
}

function notFound(category: string, event: string, cause?: unknown) {
  const dir = tracefsDir();
  return new TracepointNotFoundError(
    `Tracepoint ${category}:${event} does not exist on this kernel: list the available ones with \`grep ${category}: ${dir}/available_events\` (or \`ls ${dir}/events/${category}\`)`,
    { category, event, cause },
  );
}

/** Throws a TracepointNotFoundError unless tracefs has `events/<category>/<event>`. */
export function requireTracepoint(category: string, event: string): void {
  const dir = tracefsDir();
  if (!kernelPathExists(`${dir}/events/${category}/${event}`)) {
    throw notFound(category, event);
  }
}

/** The text of `events/<category>/<event>/format`; a TracepointNotFoundError if absent. */
export function readTracepointFormat(category: string, event: string): string {
  const dir = tracefsDir();
  const path = `${dir}/events/${category}/${event}/format`;
  const format = readKernelFile(path);
  if (format === undefined) throw notFound(category, event);
  return format;
}
