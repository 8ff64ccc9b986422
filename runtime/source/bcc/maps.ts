/**
 * BCC's map macros: `BPF_HASH(counts, u32, u64)` and the rest are C macros of
 * `<bcc/helpers.h>`; this pass records the maps (their names drive the method rewrite) and
 * turns BCC's string arguments into the bare words the C macros take:
 * `BPF_TABLE("lru_hash", ...)` → `BPF_TABLE(lru_hash, ...)`, the inner map of
 * `BPF_ARRAY_OF_MAPS(outer, "inner", 4)`, and the path of `BPF_TABLE_PINNED`.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { BccRewriteError } from "../../errors.ts";
import {
  type Edit,
  lineCol,
  matching,
  splitArgs,
  textOf,
  tokenize,
} from "./_lex.ts";
import { bccState } from "./_state.ts";

/** BCC's map macros whose first argument is the map's name, with their table type. */
export const NAME_FIRST: Record<string, string> = {
  BPF_HASH: "hash",
  BPF_ARRAY: "array",
  BPF_HISTOGRAM: "histogram",
  BPF_PERCPU_HASH: "percpu_hash",
  BPF_PERCPU_ARRAY: "percpu_array",
  BPF_LPM_TRIE: "lpm_trie",
  BPF_STACK_TRACE: "stacktrace",
  BPF_PERF_OUTPUT: "perf_output",
  BPF_PERF_ARRAY: "perf_array",
  BPF_RINGBUF_OUTPUT: "ringbuf",
  BPF_PROG_ARRAY: "prog",
  BPF_CGROUP_ARRAY: "cgroup_array",
  BPF_DEVMAP: "devmap",
  BPF_CPUMAP: "cpumap",
  BPF_XSKMAP: "xskmap",
  BPF_SOCKMAP: "sockmap",
  BPF_SOCKHASH: "sockhash",
  BPF_QUEUE: "queue",
  BPF_STACK: "stack",
  BPF_ARRAY_OF_MAPS: "array_of_maps",
  BPF_HASH_OF_MAPS: "hash_of_maps",
  BPF_TASK_STORAGE: "task_storage",
  BPF_SK_STORAGE: "sk_storage",
  BPF_INODE_STORAGE: "inode_storage",
  BPF_CGRP_STORAGE: "cgrp_storage",
};

/** BCC's table macros: `(type, key, leaf, name, size, ...)`. */
const TABLES = new Set([
  "BPF_TABLE",
  "BPF_F_TABLE",
  "BPF_TABLE_PINNED",
  "BPF_TABLE_PINNED7",
  "BPF_TABLE_PUBLIC",
  "BPF_TABLE_SHARED",
]);

/** Table types BPF_TABLE accepts (the C macro `__BCC_TABLE_<type>` of each exists). */
export const TABLE_TYPES = new Set([
  "hash",
  "array",
  "histogram",
  "percpu_hash",
  "percpu_array",
  "lru_hash",
  "lru_percpu_hash",
  "lpm_trie",
  "stacktrace",
  "perf_output",
  "perf_array",
  "prog",
  "cgroup_array",
  "devmap",
  "cpumap",
  "xskmap",
  "sockmap",
  "sockhash",
  "queue",
  "stack",
  "ringbuf",
]);

const PINNED_TYPES = new Set([
  "hash",
  "array",
  "percpu_hash",
  "percpu_array",
  "lru_hash",
  "lru_percpu_hash",
  "lpm_trie",
]);

const PIN_ROOT = "/sys/fs/bpf";

/** The pass over BCC's map declarations. */
export const bccMaps: RewritePass = {
  name: "BCC map macros",
  run(ctx) {
    const state = bccState(ctx);
    const text = ctx.text;
    const tokens = tokenize(text);
    const edits: Edit[] = [];
    const fail = (at: number, construct: string, why: string): never => {
      const { line, column } = lineCol(text, tokens[at].s);
      throw new BccRewriteError(why, { construct, line, column });
    };
    let depth = 0;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (t.t === "{") depth++;
      else if (t.t === "}") depth--;
      // libbpf-style maps: `} name SEC(".maps")`.
      if (
        t.t === "}" && tokens[i + 1]?.k === "id" &&
        tokens[i + 2]?.t === "SEC" &&
        tokens[i + 4]?.t === '".maps"'
      ) {
        const name = tokens[i + 1].t;
        state.maps.set(name, {
          name,
          macro: "SEC",
          type: "",
          line: lineCol(text, tokens[i + 1].s).line,
        });
      }
      if (t.k !== "id" || tokens[i + 1]?.t !== "(" || depth !== 0) continue;
      const isTable = TABLES.has(t.t);
      if (!isTable && !(t.t in NAME_FIRST)) continue;
      if (tokens[i - 1]?.t === "define") continue;
      const open = i + 1;
      const close = matching(tokens, open);
      if (close < 0) fail(i, t.t, `${t.t}(...) has no closing parenthesis`);
      const args = splitArgs(tokens, open, close);
      const arg = (n: number) => textOf(text, tokens, args[n][0], args[n][1]);
      const construct = textOf(text, tokens, i, close + 1);
      state.bcc = true;
      let name: string;
      let type: string;
      if (isTable) {
        if (args.length < 5) {
          fail(
            i,
            construct,
            `${t.t} takes (type, key, leaf, name, size${
              t.t === "BPF_F_TABLE" ? ", flags" : ""
            }): got ${args.length} arguments`,
          );
        }
        const typeTok = tokens[args[0][0]];
        type = typeTok.k === "str" ? typeTok.t.slice(1, -1) : typeTok.t;
        name = arg(3);
        if (type === "extern") {
          fail(
            i,
            construct,
            `BPF_TABLE("extern", ...) shares a map with another BCC module, which bpfpm does not support: declare the map in this program, or share it by pinning (BPF_TABLE_PINNED)`,
          );
        }
        if (!TABLE_TYPES.has(type)) {
          fail(
            i,
            construct,
            `Unknown table type "${type}" in ${t.t}: use one of ${
              [...TABLE_TYPES].join(", ")
            }`,
          );
        }
        if (typeTok.k === "str") {
          edits.push({ start: typeTok.s, end: typeTok.e, text: type });
        }
        if (t.t.startsWith("BPF_TABLE_PINNED")) {
          const pathTok = tokens[args[5]?.[0] ?? -1];
          const path = pathTok?.k === "str" ? pathTok.t.slice(1, -1) : "";
          if (path !== `${PIN_ROOT}/${name}`) {
            fail(
              i,
              construct,
              `BPF_TABLE_PINNED's path must be ${PIN_ROOT}/${name} (libbpf pins a map by its name under ${PIN_ROOT}): got ${
                pathTok?.t ?? "no path"
              }`,
            );
          }
          if (!PINNED_TYPES.has(type)) {
            fail(
              i,
              construct,
              `BPF_TABLE_PINNED supports the table types ${
                [...PINNED_TYPES].join(", ")
              }: got "${type}"`,
            );
          }
        }
      } else {
        type = NAME_FIRST[t.t];
        if (!args.length) {
          fail(i, construct, `${t.t} needs at least the map's name`);
        }
        name = arg(0);
        if (t.t === "BPF_ARRAY_OF_MAPS" || t.t === "BPF_HASH_OF_MAPS") {
          const inner = args.slice(1).map(([a]) => tokens[a]).find((x) =>
            x.k === "str"
          );
          if (!inner) {
            fail(
              i,
              construct,
              `${t.t} names its inner map as a string, e.g. ${t.t}(${name}, "inner_map", 16)`,
            );
          }
          const innerName = inner!.t.slice(1, -1);
          if (!state.maps.has(innerName)) {
            fail(
              i,
              construct,
              `The inner map "${innerName}" of ${name} must be declared before ${t.t}`,
            );
          }
          edits.push({ start: inner!.s, end: inner!.e, text: innerName });
        }
      }
      if (!/^[A-Za-z_]\w*$/.test(name)) {
        fail(i, construct, `The map name "${name}" is not a C identifier`);
      }
      state.maps.set(name, {
        name,
        macro: t.t,
        type,
        line: lineCol(text, t.s).line,
      });
      i = close;
    }
    if (edits.length) ctx.edit(edits);
  },
};
