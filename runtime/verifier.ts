/**
 * A one-line summary of a verifier log: the failing instruction, its C source line when the
 * object has line info, and the verifier's reason.
 *
 * @module
 */

const INSN = /^(\d+): \([0-9a-f]{2}\) (.*)$/;
const TRAILER =
  /^(processed \d+ insns|verification time|stack depth|-- END|Func#|\s*$)/;

/**
 * Summarizes a verifier log as `insn N (<insn>) at <file>:<line> ("<C>"): <reason>`.
 *
 * @param log The verifier log, as the kernel wrote it.
 * @returns One line naming the failing instruction and the reason.
 *
 * @example
 * ```ts
 * import { summarizeVerifierLog } from "./verifier.ts";
 * const log = "0: (b7) r1 = 0\n1: (61) r0 = *(u32 *)(r1 +0)\nR1 invalid mem access 'scalar'\nprocessed 2 insns\n";
 * console.log(summarizeVerifierLog(log)); // insn 1 (r0 = *(u32 *)(r1 +0)): R1 invalid mem access 'scalar'
 * ```
 */
export function summarizeVerifierLog(log: string): string {
  const lines = log.split("\n").map((l) => l.trimEnd());
  let end = lines.length - 1;
  while (end >= 0 && TRAILER.test(lines[end])) end--;
  if (end < 0) return "no reason given";
  let reasonStart = end;
  while (
    reasonStart > 0 && !INSN.test(lines[reasonStart - 1]) &&
    !lines[reasonStart - 1].startsWith(";") &&
    !/^\d+: /.test(lines[reasonStart - 1])
  ) {
    reasonStart--;
  }
  const reason = lines.slice(reasonStart, end + 1).join(" ").trim();
  let insn: string | undefined;
  let source: string | undefined;
  for (let i = reasonStart - 1; i >= 0; i--) {
    const m = INSN.exec(lines[i]);
    if (m && !insn) insn = `insn ${m[1]} (${m[2]})`;
    if (insn && lines[i].startsWith("; ")) {
      source = lines[i].slice(2).trim();
      break;
    }
  }
  const where = insn
    ? `${insn}${source ? ` at ${describeSource(source)}` : ""}: `
    : "";
  return `${where}${reason}`;
}

/** `code @ file:line` (BTF line info) as `file:line ("code")`. */
function describeSource(source: string): string {
  const m = /^(.*?)\s*@ (\S+:\d+)$/.exec(source);
  if (!m) return `"${source}"`;
  return m[1] ? `${m[2]} ("${m[1]}")` : m[2];
}
