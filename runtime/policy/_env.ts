/**
 * Environment reads that never prompt: a variable Deno has not been granted counts as unset.
 *
 * @module
 */

/** The value of `name` when Deno may read it (checked first, so Deno never prompts). */
export function grantedEnv(name: string): string | undefined {
  if (
    Deno.permissions.querySync({ name: "env", variable: name }).state !==
      "granted"
  ) {
    return undefined;
  }
  return Deno.env.get(name) || undefined;
}
