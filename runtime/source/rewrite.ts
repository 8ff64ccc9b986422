/**
 * BCC-dialect C to plain libbpf C, as an ordered list of passes over the source. Each pass
 * edits the text in place without changing its line count (so compiler diagnostics keep the
 * user's line numbers) and may add declarations before it.
 *
 * @module
 */
import { maskC } from "./_scan.ts";
import { tracepointProbe } from "./tracepoint_probe.ts";
import { bccPasses } from "./bcc/passes.ts";

/** What a pass sees and edits. */
export interface RewriteContext {
  /** The source being rewritten; passes replace it keeping its line count. */
  text: string;
  /** `text` with comments and literal contents blanked (recomputed after each edit). */
  masked(): string;
  /** Adds a declaration before the user's code, once per key. */
  declare(key: string, make: () => string): void;
  /** Set by a pass that found BCC constructs: the BCC prelude and defaults then apply. */
  bcc: boolean;
}

/** One rewriting step. */
export interface RewritePass {
  /** The construct it handles, for messages. */
  name: string;
  /** Edits `ctx`. */
  run(ctx: RewriteContext): void;
}

/** The passes, in order. Extend this list to support more of BCC's dialect. */
export const passes: RewritePass[] = [...bccPasses, tracepointProbe];

/** The result of rewriting. */
export interface Rewritten {
  /** libbpf C: declarations, a `#line 1` marker, then the user's code, rewritten. */
  text: string;
  /** Whether BCC constructs were found. */
  bcc: boolean;
}

/** Declarations every BCC-dialect source gets (vmlinux.h and libbpf's headers are always in). */
const BCC_PRELUDE = [
  "#define bpf_trace_printk(fmt, ...) bpf_printk(fmt, ##__VA_ARGS__)",
];

const HAS_SEC = /\bSEC\s*\(/;
const HAS_LICENSE = /\bSEC\s*\(\s*"license"\s*\)/;

/**
 * Rewrites BCC-dialect C into libbpf C. Sources without a `SEC(...)` count as BCC's dialect.
 * A source without a license section gets `"GPL"`, as BCC does, so that GPL-only helpers such
 * as bpf_trace_printk load.
 *
 * @param source The C source, as the user wrote it.
 * @returns The libbpf C; its line N after the `#line 1` marker is the user's line N.
 */
export function rewrite(source: string): Rewritten {
  const declarations = new Map<string, string>();
  let cachedFor: string | undefined;
  let cachedMask = "";
  const ctx: RewriteContext = {
    text: source,
    masked() {
      if (cachedFor !== this.text) {
        cachedFor = this.text;
        cachedMask = maskC(this.text);
      }
      return cachedMask;
    },
    declare(key, make) {
      if (!declarations.has(key)) declarations.set(key, make());
    },
    bcc: false,
  };
  for (const pass of passes) pass.run(ctx);
  if (!HAS_SEC.test(source) || !HAS_SEC.test(maskC(source))) ctx.bcc = true;
  const prelude = [...(ctx.bcc ? BCC_PRELUDE : []), ...declarations.values()];
  const license = HAS_LICENSE.test(source)
    ? ""
    : '\nchar _license[] SEC("license") = "GPL";\n';
  if (!prelude.length && !license) return { text: source, bcc: ctx.bcc };
  return {
    text: `${prelude.join("\n")}\n#line 1\n${ctx.text}${license}`,
    bcc: ctx.bcc,
  };
}
