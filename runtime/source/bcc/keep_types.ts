/**
 * BCC reads events as the C structs the program declares; clang's BTF only keeps types that
 * something compiled uses, and a struct filled in an inlined helper and handed to
 * perf_submit is not such a use. This pass references every top-level struct (and typedef)
 * of the program from a variable in `.bcc.types`, a section libbpf skips, so the types reach
 * the object's BTF (for `b.perfBuffer(name, { type: "struct data_t" })`) without a map.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { matching, tokenize } from "./_lex.ts";
import { bccState } from "./_state.ts";

/** The pass keeping the program's own types in BTF. */
export const bccKeepTypes: RewritePass = {
  name: "BCC event types",
  run(ctx) {
    const state = bccState(ctx);
    if (state.hasSec && !state.bcc) return;
    const tokens = tokenize(ctx.text);
    const types: string[] = [];
    let depth = 0;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.t === "{") depth++;
      else if (t.t === "}") depth--;
      if (depth !== 0) continue;
      if (
        (t.t === "struct" || t.t === "union") && tokens[i + 1]?.k === "id" &&
        tokens[i + 2]?.t === "{" && tokens[i - 1]?.t !== "typedef"
      ) {
        types.push(`${t.t} ${tokens[i + 1].t}`);
      } else if (
        t.t === "typedef" &&
        (tokens[i + 1]?.t === "struct" || tokens[i + 1]?.t === "union")
      ) {
        const open = tokens[i + 2]?.t === "{" ? i + 2 : i + 3;
        if (tokens[open]?.t !== "{") continue;
        const close = matching(tokens, open);
        const name = tokens[close + 1];
        if (close > 0 && name?.k === "id" && tokens[close + 2]?.t === ";") {
          types.push(name.t);
        }
        if (tokens[i + 2]?.k === "id" && tokens[i + 3]?.t === "{") {
          types.push(`${tokens[i + 1].t} ${tokens[i + 2].t}`);
        }
        if (close > 0) i = close;
      }
    }
    if (!types.length) return;
    const keep = [...new Set(types)].map((type) =>
      `${type} *__bcc_keep_${
        type.replace(/\W+/g, "_")
      } __attribute__((section(".bcc.types"), used));`
    );
    ctx.text = `${ctx.text}\n${keep.join("\n")}\n`;
  },
};
