/**
 * BCC's Hello World: one "Hello, World!" line per clone() until Ctrl-C.
 *
 * Run as root: `deno run -A examples/hello.ts` (or `deno task demo`), then start any
 * program in another terminal. glibc's fork() calls clone, while posix_spawn (and so
 * Deno, Node, Python subprocesses) calls clone3: both are probed.
 *
 * @module
 */
import { BPF } from "bpf";

using b = await BPF.load({
  text: `
  TRACEPOINT_PROBE(syscalls, sys_enter_clone) {
    bpf_trace_printk("Hello, World!\\n");
    return 0;
  }
  TRACEPOINT_PROBE(syscalls, sys_enter_clone3) {
    bpf_trace_printk("Hello, World!\\n");
    return 0;
  }`,
});
console.error("Tracing clone() and clone3()... Ctrl-C to end.");
for await (const line of b.tracePrint()) console.log(line);
