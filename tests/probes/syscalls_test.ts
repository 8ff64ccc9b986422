/**
 * syscount's syscall names come from the running kernel (`syscallTable()`, read through
 * tracefs and a BPF iterator), not from one architecture's table: checked against this
 * machine's C library headers and against the syscalls the kernel reports a blocked process
 * to be in (/proc/PID/syscall), in process and through `bpfpm run` (the sandbox asks the
 * trusted side).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { syscallTable } from "../../mod.ts";
import { bpfpm, REPO, runCmd, sleep } from "./_helpers.ts";

/** `__NR_<name>` of this machine's C library headers (`<sys/syscall.h>`). */
async function headerNumbers(): Promise<Map<string, number>> {
  const r = await runCmd("clang", ["-E", "-dM", "-x", "c", "-"], {
    stdin: "#include <sys/syscall.h>\n",
  });
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<string, number>();
  for (const m of r.stdout.matchAll(/^#define __NR_(\w+) (\d+)$/gm)) {
    out.set(m[1], Number(m[2]));
  }
  return out;
}

/** The syscall number a process is blocked in, as the kernel reports it. */
async function blockedIn(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const f = Deno.readTextFileSync(`/proc/${pid}/syscall`).split(" ")[0];
    if (/^\d+$/.test(f)) return Number(f);
    await sleep(20); // still running
  }
  assert.fail(`process ${pid} never blocked in a syscall`);
}

Deno.test("syscallTable: read, openat, close, statx have this machine's numbers", async () => {
  const names = await syscallTable();
  const header = await headerNumbers();
  for (const name of ["read", "openat", "close", "statx", "getpid"]) {
    const nr = header.get(name);
    assert.ok(nr !== undefined, `no __NR_${name} in <sys/syscall.h>`);
    assert.equal(names.get(nr), name, `syscall ${nr}`);
  }
  // Every name the table gives is a syscall tracepoint of this kernel.
  assert.ok(names.size > 250, `${names.size} syscalls`);
  assert.equal(new Set(names.values()).size, names.size);
});

Deno.test("syscallTable: the syscalls blocked processes are in, as the kernel reports them", async () => {
  const names = await syscallTable();
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-syscalls-" });
  const fifo = join(dir, "fifo");
  assert.equal((await runCmd("mkfifo", [fifo])).code, 0);
  // cat of an empty pipe waits in read; cat of a FIFO with no writer waits in its open.
  const reader = new Deno.Command("cat", { stdin: "piped", stdout: "null" })
    .spawn();
  const opener = new Deno.Command("cat", { args: [fifo], stdout: "null" })
    .spawn();
  try {
    assert.equal(names.get(await blockedIn(reader.pid)), "read");
    assert.equal(names.get(await blockedIn(opener.pid)), "openat");
  } finally {
    await reader.stdin.close();
    opener.kill("SIGKILL");
    await Promise.all([reader.status, opener.status]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("syscount -l under bpfpm run lists the kernel's syscalls in number order", async () => {
  const names = await syscallTable();
  const r = await bpfpm(["run", "./probes/syscount", "--yes", "--", "-l"], {
    cwd: REPO,
  });
  assert.equal(r.code, 0, r.stderr);
  const listed = r.stdout.trim().split("\n");
  const expected = [...names.keys()].sort((a, b) => a - b).map((n) =>
    names.get(n)
  );
  assert.deepEqual(listed, expected);
});

// bcc_flags_test.ts's "syscount -t and --syscall" counts statx by its name from the table.
Deno.test("syscount --syscall: a name this kernel lacks is a usage error; BCC's stat finds newstat", async () => {
  const bad = await bpfpm(
    ["run", "./probes/syscount", "--yes", "--", "--syscall", "nosuchcall"],
    { cwd: REPO },
  );
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--syscall nosuchcall: this kernel has no syscall/);

  // x86_64's stat is the kernel's newstat; BCC's name finds it.
  if ([...(await syscallTable()).values()].includes("newstat")) {
    const stat = await bpfpm(
      [
        "run",
        "./probes/syscount",
        "--yes",
        "--",
        "--syscall",
        "stat",
        "-d",
        "1",
      ],
      { cwd: REPO },
    );
    assert.equal(stat.code, 0, stat.stderr);
  }
});
