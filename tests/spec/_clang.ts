/** Test helpers: compile BPF C with the clang CLI, and host C with gcc, in a temp dir. */

const ARCH_INCLUDE = "/usr/include/x86_64-linux-gnu";

async function run(cmd: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed:\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return out.stdout;
}

/**
 * Compiles BPF C (libbpf style, UAPI headers only) into an object's bytes.
 */
export async function compileBpf(source: string): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_clang_" });
  try {
    await Deno.writeTextFile(`${dir}/p.bpf.c`, source);
    await run("clang", [
      "-target",
      "bpf",
      "-O2",
      "-g",
      "-D__TARGET_ARCH_x86",
      `-I${ARCH_INCLUDE}`,
      "-c",
      `${dir}/p.bpf.c`,
      "-o",
      `${dir}/p.bpf.o`,
    ]);
    return await Deno.readFile(`${dir}/p.bpf.o`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Builds a host C program with gcc, runs it, and returns its stdout. */
export async function runHostC(source: string): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm_gcc_" });
  try {
    await Deno.writeTextFile(`${dir}/h.c`, source);
    await run("gcc", ["-O1", "-o", `${dir}/h`, `${dir}/h.c`]);
    return await run(`${dir}/h`, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
