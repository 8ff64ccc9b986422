/**
 * `bpf_trace_printk` with BCC's calling convention (`bpf_trace_printk("%d %s\n", a, s)`) is a
 * macro of `<bcc/helpers.h>`; this pass keeps BCC's limits and says so: the format is a string
 * literal, and at most 3 arguments follow it (the kernel helper's limit).
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { BccRewriteError } from "../../errors.ts";
import { lineCol, matching, splitArgs, tokenize } from "./_lex.ts";
import { bccState } from "./_state.ts";

/** The pass checking bpf_trace_printk calls. */
export const bccPrintk: RewritePass = {
  name: "BCC bpf_trace_printk",
  run(ctx) {
    const state = bccState(ctx);
    if (state.hasSec && !state.bcc) return;
    const text = ctx.text;
    const tokens = tokenize(text);
    for (let i = 0; i + 1 < tokens.length; i++) {
      if (tokens[i].t !== "bpf_trace_printk" || tokens[i + 1].t !== "(") {
        continue;
      }
      const close = matching(tokens, i + 1);
      if (close < 0) continue;
      const args = splitArgs(tokens, i + 1, close);
      const { line, column } = lineCol(text, tokens[i].s);
      const construct = "bpf_trace_printk()";
      const first = args[0] ? tokens.slice(args[0][0], args[0][1]) : [];
      if (!first.length || !first.every((t) => t.k === "str")) {
        throw new BccRewriteError(
          `bpf_trace_printk's format must be a string literal, as in BCC: write bpf_trace_printk("value %d\\n", v)`,
          { construct, line, column },
        );
      }
      if (args.length > 4) {
        throw new BccRewriteError(
          `bpf_trace_printk takes at most 3 arguments after the format (the kernel's limit, as in BCC): got ${
            args.length - 1
          }; print in several calls, or send an event through a ring buffer`,
          { construct, line, column },
        );
      }
      i = close;
    }
  },
};

/** The pass that includes BCC's header (and libbpf's USDT support when used) before the code. */
export const bccPrelude: RewritePass = {
  name: "BCC prelude",
  run(ctx) {
    const state = bccState(ctx);
    if (state.hasSec && !state.bcc) return;
    state.bcc = true;
    ctx.bcc = true;
    const version = kernelVersionCode(
      state.options.kernelVersion ?? Deno.osRelease(),
    );
    ctx.declare("bcc/helpers.h", () =>
      [
        `#define LINUX_VERSION_CODE ${version}`,
        `#include <bcc/helpers.h>`,
        ...(/\bbpf_usdt_readarg/.test(ctx.text)
          ? ["#include <bpf/usdt.bpf.h>"]
          : []),
      ].join("\n"));
  },
};

/** `KERNEL_VERSION(a, b, c)` of a release string such as `6.18.0-1-amd64`. */
export function kernelVersionCode(release: string): number {
  const [a = 0, b = 0, c = 0] =
    (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release) ?? [])
      .slice(1).map((x) => Number(x ?? 0));
  return (a << 16) + (b << 8) + Math.min(c, 255);
}
