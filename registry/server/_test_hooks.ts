/**
 * Test hooks, kept out of the handler's options: crash tests name a fault point (the
 * `registry serve` command reads it from `BPFPM_REGISTRY_FAULT`), and the process kills
 * itself with SIGKILL when it gets there.
 *
 * @module
 */

let faultPoint: string | undefined;

/** Names the fault point to die at (undefined: none). */
export function setFaultPoint(point: string | undefined): void {
  faultPoint = point;
}

/** Kills the process with SIGKILL if `point` is the fault point. */
export function fault(point: string): void {
  if (faultPoint === point) Deno.kill(Deno.pid, "SIGKILL");
}
