/**
 * Helpers shared by the maps, events and output tests: build a small C program in a temp
 * dir, and run a child to completion.
 *
 * @module
 */

/** A C program built for a test; `cleanup()` removes its directory. */
export interface BuiltProgram {
  path: string;
  dir: string;
  cleanup(): void;
}

/** Compiles `source` with gcc (frame pointers kept, so user stacks unwind). */
export async function buildC(
  name: string,
  source: string,
  flags: string[] = [],
): Promise<BuiltProgram> {
  const dir = await Deno.makeTempDir({ prefix: `bpfpm_${name}_` });
  const src = `${dir}/${name}.c`;
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(src, source);
  const out = await new Deno.Command("gcc", {
    args: ["-O0", "-g", "-fno-omit-frame-pointer", "-o", path, src, ...flags],
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(
      `gcc failed for ${name}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return {
    path,
    dir,
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** Runs a program to completion; returns its pid and stdout. */
export async function run(
  path: string,
  args: string[] = [],
): Promise<{ pid: number; stdout: string }> {
  const child = new Deno.Command(path, {
    args,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const pid = child.pid;
  const out = await child.output();
  if (!out.success) throw new Error(`${path} exited with ${out.code}`);
  return { pid, stdout: new TextDecoder().decode(out.stdout) };
}

/** A C program that calls getppid() argv[1] times (through the syscall, no libc caching). */
export const GETPPID_LOOP = `
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 1;
  for (long i = 0; i < n; i++) syscall(SYS_getppid);
  return 0;
}
`;
