/**
 * Test helpers for event readers: a process the program targets by pid from its first
 * syscall on.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { BPF } from "../../runtime/bpf.ts";

/**
 * Runs `path count` (on one CPU if given) with the program's `.bss` global `target_pid` set
 * to its pid, and `globals` set, before it starts.
 */
export async function runTargeted(
  b: BPF,
  path: string,
  count: number,
  globals: Record<string, number>,
  cpu?: number,
): Promise<number> {
  const pin = cpu === undefined ? "" : `taskset -c ${cpu} `;
  // The shell calls getppid() itself while starting: target it only once it is ready.
  const shell = new Deno.Command("sh", {
    args: ["-c", `echo ready; read _; exec ${pin}${path} ${count}`],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = shell.stdout.getReader();
  await reader.read();
  reader.releaseLock();
  const bss = b.map<number, Record<string, number>>("bpfpm.bss");
  bss.set(0, { ...bss.get(0)!, target_pid: shell.pid, ...globals });
  const w = shell.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  await shell.stdout.cancel();
  assert.equal((await shell.status).success, true);
  return shell.pid;
}
