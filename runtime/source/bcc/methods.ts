/**
 * BCC's method syntax on maps: `counts.increment(key)`, `events.perf_submit(ctx, &d, sizeof(d))`,
 * `rb.ringbuf_reserve(sizeof(*e))`, ... become `__bcc_<method>(&map, args)`, the C macros of
 * `<bcc/helpers.h>` that call libbpf's helpers.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { BccRewriteError } from "../../errors.ts";
import { type Edit, lineCol, matching, type Token, tokenize } from "./_lex.ts";
import { bccState } from "./_state.ts";

const KEYED = [
  "lookup",
  "lookup_or_init",
  "lookup_or_try_init",
  "update",
  "insert",
  "delete",
  "increment",
  "atomic_increment",
];

/** The methods each table type has (BCC's set, minus what the kernel has no helper for). */
export const METHODS: Record<string, string[]> = {
  hash: KEYED,
  array: KEYED,
  histogram: KEYED,
  percpu_hash: KEYED,
  percpu_array: KEYED,
  lru_hash: KEYED,
  lru_percpu_hash: KEYED,
  lpm_trie: KEYED,
  stacktrace: ["get_stackid", "lookup"],
  perf_output: ["perf_submit", "perf_submit_skb"],
  perf_array: ["perf_read"],
  ringbuf: [
    "ringbuf_output",
    "ringbuf_reserve",
    "ringbuf_submit",
    "ringbuf_discard",
    "ringbuf_query",
  ],
  prog: ["call"],
  cgroup_array: ["check_current_task"],
  devmap: ["redirect_map", "lookup"],
  cpumap: ["redirect_map"],
  xskmap: ["redirect_map", "lookup"],
  sockmap: ["lookup", "update", "delete"],
  sockhash: ["lookup", "update", "delete"],
  queue: ["push", "pop", "peek"],
  stack: ["push", "pop", "peek"],
  array_of_maps: ["lookup"],
  hash_of_maps: ["lookup", "update", "delete"],
  task_storage: ["task_storage_get", "task_storage_delete"],
  sk_storage: ["sk_storage_get", "sk_storage_delete"],
  inode_storage: ["inode_storage_get", "inode_storage_delete"],
  cgrp_storage: ["cgrp_storage_get", "cgrp_storage_delete"],
};

const ALL = new Set(Object.values(METHODS).flat());

/**
 * The methods whose data argument has the type of the map's records, as BCC reads it for
 * `b["events"].event(data)`: their macros record that type in the object's BTF
 * (`__bcc_event_type` in bcc/helpers.h), which `b.perfBuffer(name)` decodes with.
 */
const TYPED_EVENTS = new Set([
  "perf_submit",
  "perf_submit_skb",
  "ringbuf_output",
  "ringbuf_submit",
]);

/** The pass over method calls on maps. */
export const bccMethods: RewritePass = {
  name: "BCC map methods",
  run(ctx) {
    const state = bccState(ctx);
    if (!state.maps.size) return;
    const text = ctx.text;
    const edits: Edit[] = [];
    const tokens = tokenize(text);
    const scan = (tokens: Token[], base: number) => {
      for (let i = 0; i + 3 < tokens.length; i++) {
        const t = tokens[i];
        if (
          t.k !== "id" || tokens[i + 1].t !== "." ||
          tokens[i + 2].k !== "id" || tokens[i + 3].t !== "("
        ) continue;
        const map = state.maps.get(t.t);
        if (!map) continue;
        const prev = tokens[i - 1];
        if (prev && (prev.t === "." || prev.t === "->")) continue;
        const method = tokens[i + 2].t;
        const allowed = map.type ? METHODS[map.type] : [...ALL];
        if (!allowed.includes(method)) {
          const { line, column } = lineCol(text, base + tokens[i + 2].s);
          throw new BccRewriteError(
            `The map ${t.t} (${map.macro}${
              map.type ? `, a ${map.type} table` : ""
            }) has no method ${method}(): its methods are ${
              allowed.join(", ")
            }`,
            { construct: `${t.t}.${method}()`, line, column },
          );
        }
        const close = matching(tokens, i + 3);
        const empty = close === i + 4;
        edits.push({
          start: base + t.s,
          end: base + tokens[i + 3].e,
          text: TYPED_EVENTS.has(method)
            ? `__bcc_typed_${method}(${t.t}, `
            : `__bcc_${method}(&${t.t}${empty ? "" : ", "}`,
        });
        i += 3;
      }
    };
    scan(tokens, 0);
    // Method calls in macro bodies: `#define COUNT(k) counts.increment(k)`.
    for (const t of tokens) {
      const m = t.k === "pp" ? /^#\s*define\s+/.exec(t.t) : null;
      if (m) scan(tokenize(t.t.slice(m[0].length)), t.s + m[0].length);
    }
    if (edits.length) ctx.edit(edits);
  },
};
