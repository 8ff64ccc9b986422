/**
 * Why `BPF.load` failed, as one error, from structured facts: the errno of the load, the
 * verifier log libbpfpm keeps apart, the program libbpfpm names as failed, the section
 * definitions (runtime/spec/section_kinds.ts) and the kernel's BTF. libbpf's own log is
 * only quoted in messages, never parsed. The one classifier of load failures: `BPF.load`'s
 * (imported only when a load fails) and late loads' (runtime/late.ts, itself imported only
 * for an object with BCC programs typed at attach time).
 *
 * @module
 */
import { lib, type ObjectHandle, readCString } from "./_ffi.ts";
import { describeObject } from "./_describe.ts";
import {
  AttachError,
  BpfError,
  CapabilityError,
  Errno,
  TracepointNotFoundError,
  VerifierError,
} from "./errors.ts";
import { CAPABILITY_FIX, kernelBtfPath } from "./_system.ts";
import { missingFeatureFor } from "./features.ts";
import { sectionDef } from "./spec/section_kinds.ts";
import { summarizeVerifierLog } from "./verifier.ts";
import type { SourceSite } from "./_location.ts";

/** Where the compiled C came from: clang's file name, and its place in the user's file. */
export interface LocatedSource {
  /** The file name clang was given. */
  name: string;
  /** Where that C sits in the user's file, when it does. */
  site?: SourceSite;
}

/** Why a load failed: the thread's last error, and how to place the verifier's lines. */
export interface LoadFailure {
  /** The load's errno. */
  errno: number;
  /** libbpf's messages, for the error text. */
  message: string;
  /** Where the C came from. */
  locate: () => LocatedSource | undefined;
  /**
   * A BCC program typed at attach time (runtime/late.ts): the one program that load was
   * for, and the kind it was loaded as.
   */
  late?: { program: string; kind: string };
}

/**
 * The verifier names source lines by clang's file name (BTF line info); point them at the
 * user's file instead.
 */
function mapVerifierLines(
  summary: string,
  locate: () => LocatedSource | undefined,
): string {
  const where = / at ([^\s:]+):(\d+)/.exec(summary);
  if (!where) return summary;
  const found = locate();
  if (!found?.site || !found.name.endsWith(`/${where[1]}`)) return summary;
  const line = found.site.lineOffset + Number(where[2]) - 1;
  return summary.replace(where[0], ` at ${found.site.file}:${line}`);
}

/** The strings of the kernel's BTF, NUL-separated (the names of all its types). */
function kernelBtfStrings(): string | undefined {
  try {
    const btf = Deno.readFileSync(kernelBtfPath());
    const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
    const little = view.getUint16(0, true) === 0xeb9f;
    const hdrLen = view.getUint32(4, little);
    const strOff = view.getUint32(16, little);
    const strLen = view.getUint32(20, little);
    const start = hdrLen + strOff;
    return new TextDecoder("latin1").decode(
      btf.subarray(start, start + strLen),
    );
  } catch {
    return undefined;
  }
}

/**
 * The first BTF-typed program (in object order, as libbpf loads them) whose target the
 * kernel's BTF does not name: what libbpf's ESRCH means.
 */
function unresolvedTarget(
  handle: ObjectHandle,
): { name: string; section: string; target: string } | undefined {
  let strings: string | undefined;
  for (const { name, section } of describeObject(handle).programs) {
    const found = sectionDef(section);
    if (!found?.def.kernelBtf || !found.rest) continue;
    strings ??= kernelBtfStrings();
    if (strings === undefined) return undefined;
    if (!strings.includes(`\0${found.def.kernelBtf(found.rest)}\0`)) {
      return { name, section, target: found.rest };
    }
  }
  return undefined;
}

/**
 * The error for a failed `bpfpm_object__load`.
 *
 * @param handle The object that failed to load.
 * @param failure The load's errno and message, and where the C came from.
 * @returns The error to throw: AttachError (a kind this kernel cannot attach, a BTF target
 *   it lacks), TracepointNotFoundError, CapabilityError, VerifierError, or a BpfError.
 */
export function loadError(
  handle: ObjectHandle,
  { errno, message, locate, late }: LoadFailure,
): BpfError {
  const s = lib();
  const log = readCString(s.bpfpm_object__verifier_log(handle));
  const program = late?.program ??
    readCString(s.bpfpm_object__failed_program(handle));
  const asKind = late ? ` loaded as ${late.kind} at attach time` : "";
  // fentry/fexit/LSM programs are refused at load where the kernel cannot attach them.
  for (const { name, section } of describeObject(handle).programs) {
    if (program && name !== program) continue;
    const missing = missingFeatureFor(section);
    if (missing) {
      return new AttachError(
        `Cannot load program '${name}' (${section}): ${missing}`,
        { program: name, target: section, errno: errno || Errno.EOPNOTSUPP },
      );
    }
  }
  const unresolved = errno === Errno.ESRCH && !log.trim() && !late
    ? unresolvedTarget(handle)
    : undefined;
  if (unresolved) {
    const { name, section, target } = unresolved;
    if (sectionDef(section)?.def.kind === "tp_btf") {
      return new TracepointNotFoundError(
        `Program '${name}' (${section}) names tracepoint '${target}', which this kernel does not have: check the name (BTF-typed tracepoints are the btf_trace_<name> types: \`bpftool btf dump file /sys/kernel/btf/vmlinux | grep btf_trace_\`)`,
        { category: "", event: target },
      );
    }
    return new AttachError(
      `Program '${name}' (${section}) names '${target}', which this kernel's BTF does not have: check the name (\`bpftool btf dump file /sys/kernel/btf/vmlinux | grep ${target}\`)`,
      { program: name, target: section, errno },
    );
  }
  if ((errno === Errno.EPERM || errno === Errno.EACCES) && !log.trim()) {
    return new CapabilityError(
      `The kernel refused to load BPF programs (${message}): ${CAPABILITY_FIX}`,
      { missing: ["CAP_BPF", "CAP_PERFMON"], errno },
    );
  }
  // The verifier stops where a signal is pending and the load fails with EAGAIN (libbpf
  // retries a few times first; an object's BTF load can fail so too, before any program):
  // the C is not at fault, whatever log it left.
  if (errno === Errno.EAGAIN) {
    return new BpfError(
      `The kernel stopped ${
        program
          ? `verifying program '${program}'${asKind}`
          : "loading the BPF object"
      } because a signal arrived while it ran (EAGAIN, after libbpf's retries): load it again, and if something signals this process that often (a sampling profiler such as V8's --prof, an interval timer), pause it during the load`,
      { errno },
    );
  }
  if (log.trim()) {
    const summary = mapVerifierLines(summarizeVerifierLog(log), locate);
    return new VerifierError(
      `The verifier rejected program '${program}'${asKind}: ${summary}; change the C so the verifier can prove it safe${
        late ? ` as a ${late.kind} program` : ""
      } (the error's .log holds the full verifier log)`,
      { program, log, summary, errno: errno || Errno.EINVAL },
    );
  }
  return new BpfError(
    late
      ? `Cannot load program '${program}'${asKind}: ${message}`
      : `Cannot load the BPF object: ${message}`,
    { errno: errno || Errno.EINVAL },
  );
}
