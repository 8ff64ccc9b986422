/**
 * Issue 14.11: the runtime API's options are checked at the boundary. A wrong type or an
 * unknown key is a TypeError naming the call, the option and what it accepts, thrown
 * before anything is compiled, loaded or attached.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { compile } from "../../runtime/compile/mod.ts";
import { uniqueName } from "../runtime/_helpers.ts";

/** Asserts `fn` throws (or rejects with) a one-line TypeError matching `pattern`. */
async function typeError(
  fn: () => unknown,
  pattern: RegExp,
): Promise<void> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
  assert.match(error.message, pattern);
  assert.doesNotMatch(error.message, /\n/);
}

Deno.test("BPF.load: wrong types and unknown keys are TypeErrors naming the option", async () => {
  const text =
    `SEC("raw_tp/sys_enter") int ${uniqueName()}(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";`;
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { text, cflags: "-O2" },
      /^BPF\.load: option cflags must be an array of strings, e\.g\. \["-O2", "-DPID=42"\], got the string "-O2"$/,
    ],
    [
      { text, cflags: ["-O2", 2] },
      /^BPF\.load: option cflags must be an array of strings.*got an array$/,
    ],
    [
      { text, autoAttach: "yes" },
      /^BPF\.load: option autoAttach must be true or false, got the string "yes"$/,
    ],
    [
      { text, constants: [1] },
      /^BPF\.load: option constants must be an object of the program's const volatile values by name, each a number, bigint or boolean \(e\.g\. \{ target_pid: 42 \}\), got an array$/,
    ],
    [
      // A constant the program does not declare: named, before anything is loaded.
      { text, constants: { target_pid: 1 } },
      /^BPF\.load: option constants names target_pid, which the program does not declare; it has no const volatile values \(declare one: const volatile u32 target_pid = 0;\)$/,
    ],
    [
      { text, autoattach: false },
      /^BPF\.load: unknown option autoattach \(did you mean autoAttach\?\); the options are text, file, object, cflags, grants, autoAttach, constants, reuseMaps$/,
    ],
    [
      { text, cflag: ["-O2"] },
      /^BPF\.load: unknown option cflag \(did you mean cflags\?\)/,
    ],
    [
      { text: 42 },
      /^BPF\.load: option text must be BPF C source as a string, got the number 42$/,
    ],
    [
      { file: 7 },
      /^BPF\.load: option file must be a path \(string\) or a file: URL/,
    ],
    [
      { object: [1, 2] },
      /^BPF\.load: option object must be a Uint8Array .*got an array$/,
    ],
    [
      { text, grants: "all" },
      /^BPF\.load: option grants must be the manifest's grants object/,
    ],
    [{}, /^BPF\.load needs exactly one of text, file or object, got none$/],
  ];
  for (const [options, pattern] of cases) {
    await typeError(() => BPF.load(options as never), pattern);
  }
  await typeError(
    () => BPF.load("int x;" as never),
    /^BPF\.load: options must be an object with text, file/,
  );
});

Deno.test("attach calls: wrong types and unknown keys are TypeErrors, and nothing is attached", async () => {
  const tp = uniqueName(), pe = uniqueName(), up = uniqueName();
  const { object } = await compile(`
SEC("tracepoint/syscalls/sys_enter_getppid") int ${tp}(void *ctx) { return 0; }
SEC("perf_event") int ${pe}(void *ctx) { return 0; }
SEC("uprobe") int ${up}(void *ctx) { return 0; }
SEC("xdp") int ${tp}_xdp(void *ctx) { return 2; }
char LICENSE[] SEC("license") = "GPL";
`);
  using b = await BPF.load({ object, autoAttach: false });
  const p = b.programs.get(pe)!;
  const cases: [() => unknown, RegExp][] = [
    [
      () => b.attachTracepoint(42 as never, "syscalls:sys_enter_getppid"),
      /^attachTracepoint: program must be a loaded program \(b\.programs\.get\(name\)\) or a program's name, got the number 42$/,
    ],
    [
      () => b.attachTracepoint(tp, 42 as never),
      /^attachTracepoint: tracepoint must be a tracepoint as "category:event".*got the number 42$/,
    ],
    [
      () =>
        b.attachPerfEvent(
          p,
          { type: "software", config: "cpu-clock" } as never,
        ),
      /^attachPerfEvent: option type must be perf_event_attr\.type as a number \(0 hardware, 1 software, or a PMU's type\); for a named event use \{ event \}, got the string "software"$/,
    ],
    [
      () =>
        b.attachPerfEvent(
          p,
          { type: 1, config: "cpu-clock", frequency: 99 } as never,
        ),
      /^attachPerfEvent: option config must be perf_event_attr\.config .*got the string "cpu-clock"$/,
    ],
    [
      () => b.attachPerfEvent(p, { event: "cpu-clock", frequncy: 99 } as never),
      /^attachPerfEvent: unknown option frequncy \(did you mean frequency\?\)/,
    ],
    [
      () =>
        b.attachPerfEvent(p, { event: "cpu-clock", frequency: "99" } as never),
      /^attachPerfEvent: option frequency must be samples per second \(a positive number\), got the string "99"$/,
    ],
    [
      () =>
        b.attachUprobe(
          up,
          { binary: "/bin/sh", symbol: "main", pid: "1" } as never,
        ),
      /^attachUprobe: option pid must be a process id \(a positive integer\), got the string "1"$/,
    ],
    [
      () => b.attachUprobe(up, { symbol: "main" } as never),
      /^attachUprobe: option binary is required: a binary's path or a library name/,
    ],
    [
      () =>
        b.attachUsdt(
          up,
          { binary: "/bin/sh", provider: "p", nmae: "x" } as never,
        ),
      /^attachUsdt: unknown option nmae \(did you mean name\?\)/,
    ],
    [
      () => b.attachXdp(`${tp}_xdp`, "lo", { mode: "skb" } as never),
      /^attachXdp: option mode must be one of "generic", "native", got the string "skb"$/,
    ],
    [
      () => b.attachXdp(`${tp}_xdp`, 3 as never),
      /^attachXdp: interface must be a network interface's name/,
    ],
    [
      () => b.attachTc(`${tp}_xdp`, "lo", { direction: "in" } as never),
      /^attachTc: option direction must be one of "ingress", "egress"/,
    ],
    [
      () => b.attachSocketFilter(`${tp}_xdp`, { fd: "3" } as never),
      /^attachSocketFilter: option fd must be a socket's file descriptor/,
    ],
    [
      () => b.attachCgroup(`${tp}_xdp`, { path: 5 } as never),
      /^attachCgroup: option path must be a cgroup v2 directory/,
    ],
    [
      () => b.attachKprobe(up, "do_sys_openat2", { fallback: "tp" } as never),
      /^attachKprobe: option fallback must be one of "tracepoint", "error"/,
    ],
    [
      () => b.attachRawTracepoint(tp, { name: "x" } as never),
      /^attachRawTracepoint: name must be a raw tracepoint's event name/,
    ],
  ];
  for (const [fn, pattern] of cases) await typeError(fn, pattern);
  assert.equal(b.links.length, 0);
  // The same options, well typed, attach.
  using link = b.attachPerfEvent(p, { type: 1, config: 0, frequency: 99 });
  assert.equal(link.kind, "perf_event");
  using tpl = b.attachTracepoint(tp, "syscalls:sys_enter_getppid");
  assert.equal(tpl.target, "syscalls:sys_enter_getppid");
});
