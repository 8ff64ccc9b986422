/**
 * Optional environment overrides (BPFPM_LIB, BPFPM_BTF_PATH, BPFPM_TRACEFS). Read without
 * `--allow-env` they count as unset: an override is never required to run.
 *
 * @module
 */

/** The value of `name`, or undefined when it is unset or Deno may not read it. */
export function optionalEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch (error) {
    if (
      error instanceof Deno.errors.NotCapable ||
      error instanceof Deno.errors.PermissionDenied
    ) return undefined;
    throw error;
  }
}
