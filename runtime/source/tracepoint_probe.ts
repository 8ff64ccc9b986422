/**
 * BCC's `TRACEPOINT_PROBE(category, event) { ... args->field ... }`: becomes a
 * `SEC("tracepoint/category/event")` function whose `args` points at a struct generated from
 * the tracepoint's format file.
 *
 * @module
 */
import { readTracepointFormat } from "../trace/tracefs.ts";
import { findCalls } from "./_scan.ts";
import { formatToStruct, tracepointStructName } from "./tracepoint_format.ts";
import type { RewritePass } from "./rewrite.ts";
import type { Edit } from "./_positions.ts";

const IDENT = /^[A-Za-z_]\w*$/;

/** The pass that expands TRACEPOINT_PROBE. */
export const tracepointProbe: RewritePass = {
  name: "TRACEPOINT_PROBE",
  run(ctx) {
    if (!ctx.text.includes("TRACEPOINT_PROBE")) return;
    const calls = findCalls(ctx.text, ctx.masked(), "TRACEPOINT_PROBE");
    const edits: Edit[] = [];
    for (const call of calls) {
      const [category, event] = call.args;
      if (
        call.args.length !== 2 || !IDENT.test(category) || !IDENT.test(event)
      ) {
        throw new TypeError(
          `Invalid TRACEPOINT_PROBE(${
            call.args.join(", ")
          }): write TRACEPOINT_PROBE(category, event), e.g. TRACEPOINT_PROBE(syscalls, sys_enter_clone)`,
        );
      }
      const struct = tracepointStructName(category, event);
      ctx.declare(
        struct,
        () =>
          formatToStruct(
            category,
            event,
            readTracepointFormat(category, event),
          ),
      );
      edits.push({
        start: call.start,
        end: call.end,
        text:
          `SEC("tracepoint/${category}/${event}") int ${struct}(struct ${struct} *args)`,
      });
    }
    ctx.edit(edits);
    if (calls.length) ctx.bcc = true;
  },
};
