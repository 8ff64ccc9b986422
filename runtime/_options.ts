/**
 * The rules for the options the runtime API takes, in one place: `BPF.load`'s options and
 * each attach kind's. An option of the wrong type, or a key no rule knows (`autoattach`),
 * is a TypeError naming the call, the option and what it accepts, before anything reaches
 * the compiler or a native call. The attach modules and `BPF.load` call these; the rules
 * that need the kernel (does the tracepoint exist, is the event known) stay with them.
 *
 * @module
 */

/** What one option accepts: the words a message shows, and the test. */
export interface Rule {
  /** What the option accepts, as a message shows it (`"an array of strings"`). */
  readonly accepts: string;
  /** Whether a (defined) value is accepted. */
  readonly test: (value: unknown) => boolean;
}

/** Rules by option name; a name ending in `!` is required. */
export type Rules = Readonly<Record<string, Rule>>;

function rule(accepts: string, test: (value: unknown) => boolean): Rule {
  return { accepts, test };
}

/** A number that is a safe integer of at least `min`. */
const isCount = (v: unknown, min: number) =>
  typeof v === "number" && Number.isSafeInteger(v) && v >= min;
/** A non-empty string. */
const isText = (v: unknown) => typeof v === "string" && v !== "";
const isInteger = (v: unknown, min: number) =>
  (typeof v === "number" && Number.isSafeInteger(v) && v >= min) ||
  (typeof v === "bigint" && v >= BigInt(min));

/** Rules shared by several option sets. */
const string = rule("a string", (v) => typeof v === "string");
const name = rule("a non-empty string", isText);
const boolean = rule("true or false", (v) => typeof v === "boolean");
const pid = rule(
  "a process id (a positive integer)",
  (v) => isCount(v, 1),
);
const u64 = rule(
  "a non-negative integer (number or bigint)",
  (v) => isInteger(v, 0),
);
const netns = rule(
  'a network namespace: a name under /run/netns or a path (e.g. "/proc/42/ns/net")',
  isText,
);
const oneOf = (...values: string[]) =>
  rule(
    `one of ${values.map((x) => JSON.stringify(x)).join(", ")}`,
    (v) => values.includes(v as string),
  );

/** `BPF.load`'s options (exactly one of text, file and object, checked apart). */
export const LOAD_OPTIONS: Rules = {
  text: rule("BPF C source as a string", (v) => typeof v === "string"),
  file: rule(
    "a path (string) or a file: URL of a C file",
    (v) => (typeof v === "string" && !!v) || v instanceof URL,
  ),
  object: rule(
    "a Uint8Array holding a BPF ELF object",
    (v) => v instanceof Uint8Array,
  ),
  cflags: rule(
    'an array of strings, e.g. ["-O2", "-DPID=42"]',
    (v) => Array.isArray(v) && v.every((x) => typeof x === "string"),
  ),
  grants: rule(
    "the manifest's grants object (docs/manifest.md)",
    (v) => typeof v === "object" && v !== null && !Array.isArray(v),
  ),
  autoAttach: boolean,
  constants: rule(
    "an object of the program's const volatile values by name, each a number, bigint or boolean (e.g. { target_pid: 42 })",
    (v) =>
      typeof v === "object" && v !== null && !Array.isArray(v) &&
      Object.values(v).every((x) =>
        (typeof x === "number" && Number.isFinite(x)) ||
        typeof x === "bigint" || typeof x === "boolean"
      ),
  ),
  reuseMaps: rule(
    'an object of pin paths by map name (e.g. { cgroup_map: "/sys/fs/bpf/cgroupset" })',
    (v) =>
      typeof v === "object" && v !== null && !Array.isArray(v) &&
      Object.values(v).every(isText),
  ),
};

/** `attachPerfEvent`'s options. */
export const PERF_EVENT_OPTIONS: Rules = {
  event: rule(
    'a named event as a string (e.g. "cpu-clock"; PERF_EVENTS lists them)',
    (v) => typeof v === "string",
  ),
  type: rule(
    "perf_event_attr.type as a number (0 hardware, 1 software, or a PMU's type); for a named event use { event }",
    (v) => isCount(v, 0),
  ),
  config: rule(
    "perf_event_attr.config as a non-negative integer (number or bigint); for a named event use { event }",
    (v) => isInteger(v, 0),
  ),
  frequency: rule(
    "samples per second (a positive number)",
    (v) => typeof v === "number" && Number.isFinite(v) && v > 0,
  ),
  period: rule(
    "events per sample (a positive integer, number or bigint)",
    (v) => isInteger(v, 1),
  ),
  pid,
  cpu: rule(
    "a CPU number (a non-negative integer)",
    (v) => isCount(v, 0),
  ),
};

/** `attachUprobe`'s and `attachUretprobe`'s options. */
export const UPROBE_OPTIONS: Rules = {
  "binary!": rule(
    'a binary\'s path or a library name (e.g. "/bin/bash", "libc")',
    isText,
  ),
  symbol: name,
  offset: u64,
  pid,
  cookie: u64,
};

/** `attachUsdt`'s options. */
export const USDT_OPTIONS: Rules = {
  "binary!": UPROBE_OPTIONS["binary!"],
  "provider!": name,
  "name!": name,
  pid,
  cookie: u64,
};

/** `attachKprobe`'s and `attachKretprobe`'s options. */
export const KPROBE_OPTIONS: Rules = {
  offset: u64,
  maxactive: rule(
    "a non-negative integer",
    (v) => isCount(v, 0),
  ),
  cookie: u64,
  fallback: oneOf("tracepoint", "error"),
};

const multiMode = oneOf("entry", "return", "session");
const symbols = rule(
  'a glob or a list of names (e.g. "str*cmp", ["malloc", "free"])',
  (v) =>
    (typeof v === "string" && !!v) ||
    (Array.isArray(v) && v.length > 0 &&
      v.every((x) => typeof x === "string" && !!x)),
);
const cookies = rule(
  "an array of bigints, one per place",
  (v) => Array.isArray(v) && v.every((x) => typeof x === "bigint" && x >= 0n),
);

/** `attachUprobeMulti`'s options (runtime/attach/multi.ts). */
export const UPROBE_MULTI_OPTIONS: Rules = {
  "binary!": UPROBE_OPTIONS["binary!"],
  symbols,
  offsets: rule(
    "an array of file offsets (non-negative integers)",
    (v) => Array.isArray(v) && v.every((x) => isInteger(x, 0)),
  ),
  cookies,
  pid,
  mode: multiMode,
};

/** `attachKprobeMulti`'s options (runtime/attach/multi.ts). */
export const KPROBE_MULTI_OPTIONS: Rules = {
  "symbols!": symbols,
  cookies,
  mode: multiMode,
  fallback: KPROBE_OPTIONS.fallback,
};

/** `attachXdp`'s options. */
export const XDP_OPTIONS: Rules = {
  netns,
  mode: oneOf("generic", "native"),
  replace: boolean,
};

/** `attachTc`'s options. */
export const TC_OPTIONS: Rules = {
  netns,
  direction: oneOf("ingress", "egress"),
  clsact: boolean,
};

/** `attachSocketFilter`'s options. */
export const SOCKET_FILTER_OPTIONS: Rules = {
  netns,
  ifname: string,
  fd: rule(
    "a socket's file descriptor (a non-negative integer)",
    (v) => isCount(v, 0),
  ),
};

/** `attachCgroup`'s options. */
export const CGROUP_OPTIONS: Rules = {
  "path!": rule(
    'a cgroup v2 directory (e.g. "/sys/fs/cgroup/app")',
    isText,
  ),
  attach: rule(
    'an attach point name as a string (e.g. "ingress", "sock_create")',
    (v) => typeof v === "string",
  ),
};

/** The program argument of every attach call. */
export const PROGRAM: Rule = rule(
  "a loaded program (b.programs.get(name)) or a program's name",
  (v) =>
    typeof v === "string" ||
    (typeof v === "object" && v !== null &&
      typeof (v as { fd?: unknown }).fd ===
        "number"),
);

/** A tracepoint argument (its `category:event` form is parsed by runtime/trace/tracefs.ts). */
export const TRACEPOINT: Rule = rule(
  'a tracepoint as "category:event" (e.g. "syscalls:sys_enter_openat")',
  (v) => typeof v === "string",
);

/** A raw tracepoint argument: the event's name alone. */
export const RAW_TRACEPOINT: Rule = rule(
  'a raw tracepoint\'s event name without its category (e.g. "sched_switch")',
  (v) => typeof v === "string" && /^\w+$/.test(v),
);

/** A kernel function argument. */
export const KERNEL_FUNCTION: Rule = rule(
  'a kernel function\'s name (e.g. "do_sys_openat2")',
  isText,
);

/** A network interface argument. */
export const INTERFACE: Rule = rule(
  'a network interface\'s name (e.g. "eth0")',
  isText,
);

/**
 * The `BPF` method that attaches a kind, as messages name it: `perf_event` →
 * `attachPerfEvent`, `raw_tp` → `attachRawTracepoint`.
 *
 * @example
 * ```ts
 * import { attachCall } from "./_options.ts";
 * attachCall("socket_filter"); // "attachSocketFilter"
 * ```
 */
export function attachCall(kind: string): string {
  if (kind === "raw_tp") return "attachRawTracepoint";
  return "attach" +
    kind.split("_").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(
      "",
    );
}

/**
 * How a value reads in a message: `the string "-O2"`, `the number 42`, `an array`.
 *
 * @example
 * ```ts
 * import { describeValue } from "./_options.ts";
 * describeValue("yes"); // 'the string "yes"'
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.slice(0, 60))}`;
    case "number":
    case "boolean":
      return `the ${typeof value} ${value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  const ctor = (value as object).constructor?.name;
  return ctor && ctor !== "Object" ? `a ${ctor}` : "an object";
}

/**
 * Checks one positional argument of `call` against `rule`.
 *
 * @param call the API call, as a message names it (`"attachTracepoint"`)
 * @param what the argument's name
 * @param value the argument
 * @param rule what it accepts
 * @throws {TypeError} naming the call, the argument and what it accepts
 *
 * @example
 * ```ts
 * import { checkArgument, TRACEPOINT } from "./_options.ts";
 * checkArgument("attachTracepoint", "tracepoint", "syscalls:sys_enter_clone", TRACEPOINT);
 * ```
 */
export function checkArgument(
  call: string,
  what: string,
  value: unknown,
  rule: Rule,
): void {
  if (!rule.test(value)) {
    throw new TypeError(
      `${call}: ${what} must be ${rule.accepts}, got ${describeValue(value)}`,
    );
  }
}

/** The known name closest to a wrong key: the same letters in another case, or a typo. */
function suggestion(key: string, known: string[]): string | undefined {
  const k = key.toLowerCase();
  const same = known.find((x) => x.toLowerCase() === k);
  if (same) return same;
  return known.find((x) => distance(x.toLowerCase(), k) <= 2);
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j] + 1,
        row[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * Checks an options object of `call` against its rules: it is a plain object, every key
 * is known, every given value passes its rule, and every required one (`name!`) is given.
 *
 * @param call the API call, as a message names it (`"BPF.load"`)
 * @param options what the caller passed
 * @param rules the option set's rules
 * @throws {TypeError} naming the call, the option and what it accepts
 *
 * @example A misspelt key
 * ```ts
 * import { checkOptions, LOAD_OPTIONS } from "./_options.ts";
 * try {
 *   checkOptions("BPF.load", { file: "p.bpf.c", autoattach: false }, LOAD_OPTIONS);
 * } catch (e) {
 *   console.log((e as Error).message); // BPF.load: unknown option autoattach (did you mean autoAttach?) …
 * }
 * ```
 */
export function checkOptions(
  call: string,
  options: unknown,
  rules: Rules,
): void {
  const known = Object.keys(rules).map((k) => k.replace(/!$/, ""));
  if (
    options === null || typeof options !== "object" || Array.isArray(options)
  ) {
    throw new TypeError(
      `${call}: options must be an object with ${known.join(", ")}, got ${
        describeValue(options)
      }`,
    );
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (known.includes(key)) continue;
    const near = suggestion(key, known);
    throw new TypeError(
      `${call}: unknown option ${key}${
        near ? ` (did you mean ${near}?)` : ""
      }; the options are ${known.join(", ")}`,
    );
  }
  for (const [k, r] of Object.entries(rules)) {
    const key = k.replace(/!$/, "");
    const value = given[key];
    if (value === undefined) {
      if (k.endsWith("!")) {
        throw new TypeError(
          `${call}: option ${key} is required: ${r.accepts}`,
        );
      }
      continue;
    }
    if (!r.test(value)) {
      throw new TypeError(
        `${call}: option ${key} must be ${r.accepts}, got ${
          describeValue(value)
        }`,
      );
    }
  }
}

/**
 * Checks `BPF.load`'s options: the rules of {@linkcode LOAD_OPTIONS}, and exactly one of
 * `text`, `file` and `object`.
 *
 * @param options what the caller passed
 * @throws {TypeError} naming the option and what it accepts
 *
 * @example
 * ```ts
 * import { checkLoadOptions } from "./_options.ts";
 * checkLoadOptions({ text: "int x;", cflags: ["-O2"] });
 * ```
 */
export function checkLoadOptions(options: unknown): void {
  checkOptions("BPF.load", options, LOAD_OPTIONS);
  const o = options as Record<string, unknown>;
  const given = ["text", "file", "object"].filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new TypeError(
      `BPF.load needs exactly one of text, file or object, got ${
        given.length ? given.join(", ") : "none"
      }`,
    );
  }
}
