/**
 * BCC's Hello World end to end: load examples/hello.ts's program, spawn a child that calls
 * clone, and read its "Hello, World!" line with the child's pid from trace_pipe.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { waitGone } from "./_helpers.ts";

const HELLO = `
  TRACEPOINT_PROBE(syscalls, sys_enter_clone) {
    bpf_trace_printk("Hello, World!\\n");
    return 0;
  }
  TRACEPOINT_PROBE(syscalls, sys_enter_clone3) {
    bpf_trace_printk("Hello, World!\\n");
    return 0;
  }`;

Deno.test("hello: the child's clone() prints Hello, World! with the child's pid", async () => {
  const b = await BPF.load({ text: HELLO });
  const ids = [...b.programs.values()].map((p) => p.id);
  try {
    assert.deepEqual([...b.programs.keys()].sort(), [
      "tracepoint__syscalls__sys_enter_clone",
      "tracepoint__syscalls__sys_enter_clone3",
    ]);
    assert.equal(b.links.length, 2);
    // bash forks (glibc fork(): the clone syscall) for every command but the last one.
    const children = new Set<number>();
    let stop = false;
    const spawner = (async () => {
      while (!stop) {
        const child = new Deno.Command("/bin/bash", {
          args: ["-c", "/bin/true; /bin/true"],
          stdout: "null",
          stderr: "null",
        }).spawn();
        children.add(child.pid);
        await child.status;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const deadline = setTimeout(() => b.close(), 10_000);
    let found: { pid: number; msg: string; task: string } | undefined;
    for await (const f of b.traceFields()) {
      if (f.msg === "Hello, World!" && children.has(f.pid)) {
        found = f;
        break;
      }
    }
    clearTimeout(deadline);
    stop = true;
    await spawner;
    assert.ok(found, "no Hello, World! line from a spawned child within 10 s");
    assert.equal(found.task, "bash");
  } finally {
    b.close();
  }
  assert.deepEqual(await waitGone(ids), []);
});

Deno.test("trace_pipe is shared: two iterators both see the same line, and both stop on close", async () => {
  const b = await BPF.load({
    text: `
      TRACEPOINT_PROBE(syscalls, sys_enter_kill) {
        if (args->sig != 18) return 0;
        bpf_trace_printk("shared %d\\n", args->pid);
        return 0;
      }`,
  });
  const ids = [...b.programs.values()].map((p) => p.id);
  const expected = `shared ${Deno.pid}`;
  const first = async (it: AsyncIterable<{ msg: string }>) => {
    for await (const f of it) if (f.msg === expected) return true;
    return false;
  };
  try {
    const a = first(b.traceFields());
    const c = first(b.traceFields());
    const sender = setInterval(() => Deno.kill(Deno.pid, "SIGCONT"), 50);
    const deadline = setTimeout(() => b.close(), 10_000);
    try {
      assert.deepEqual(await Promise.all([a, c]), [true, true]);
    } finally {
      clearInterval(sender);
      clearTimeout(deadline);
    }
    const pending = b.tracePrint();
    const next = pending.next();
    b.close();
    assert.deepEqual(await next, { value: undefined, done: true });
  } finally {
    b.close();
  }
  assert.deepEqual(await waitGone(ids), []);
});
