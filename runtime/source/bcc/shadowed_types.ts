/**
 * BCC's tools define their own copies of kernel structs the kernel keeps private to a .c file
 * (`struct nameidata`, `struct mnt_namespace`, ...). Such a type is in the kernel's BTF, hence
 * in vmlinux.h, and a second definition does not compile. This pass renames the program's
 * own definition and every use of it to the CO-RE flavor `X___bcc`: clang sees a new type,
 * and libbpf's CO-RE relocations, which ignore a `___` suffix, still match its fields against
 * the kernel's `X`.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { kernelBtfPath } from "../../_system.ts";
import { type Edit, type Token, tokenize } from "./_lex.ts";
import { bccState } from "./_state.ts";

/** The suffix given to a program's own copy of a kernel struct. */
export const SHADOW_FLAVOR = "___bcc";

const BTF_KIND_STRUCT = 4;
const BTF_KIND_UNION = 5;

/** Bytes after the 12-byte header of a BTF type of each kind (`vlen` entries where it has them). */
function trailing(kind: number, vlen: number): number {
  switch (kind) {
    case 1: // int
    case 14: // var
    case 17: // decl_tag
      return 4;
    case 3: // array
      return 12;
    case 4: // struct
    case 5: // union
    case 15: // datasec
    case 19: // enum64
      return vlen * 12;
    case 6: // enum
    case 13: // func_proto
      return vlen * 8;
    default:
      return 0;
  }
}

/** The kernel's struct and union names, read once per process and BTF file. */
const kernelStructNames = new Map<string, Set<string>>();

/**
 * Which of `names` the kernel's BTF has as a struct or union. The names are read once per
 * process (a walk of the raw type section: a full parse of vmlinux BTF takes seconds), and
 * only when the program defines a struct at all.
 */
export function kernelStructsAmong(
  names: ReadonlySet<string>,
  btfPath = kernelBtfPath(),
): Set<string> {
  if (!names.size) return new Set();
  let all = kernelStructNames.get(btfPath);
  if (!all) {
    all = readStructNames(btfPath);
    kernelStructNames.set(btfPath, all);
  }
  return new Set([...names].filter((n) => all.has(n)));
}

function readStructNames(btfPath: string): Set<string> {
  const found = new Set<string>();
  let b: Uint8Array;
  try {
    b = Deno.readFileSync(btfPath);
  } catch {
    // Without the kernel BTF a redefinition is reported by clang, naming the type.
    return found;
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 24 || dv.getUint16(0, true) !== 0xeb9f) return found;
  const hdr = dv.getUint32(4, true);
  const typeOff = hdr + dv.getUint32(8, true);
  const typeEnd = typeOff + dv.getUint32(12, true);
  const strOff = hdr + dv.getUint32(16, true);
  const decoder = new TextDecoder();
  for (let p = typeOff; p + 12 <= typeEnd;) {
    const nameOff = dv.getUint32(p, true);
    const info = dv.getUint32(p + 4, true);
    const kind = (info >>> 24) & 0x1f;
    if ((kind === BTF_KIND_STRUCT || kind === BTF_KIND_UNION) && nameOff) {
      const start = strOff + nameOff;
      const end = b.indexOf(0, start);
      found.add(decoder.decode(b.subarray(start, end)));
    }
    p += 12 + trailing(kind, info & 0xffff);
  }
  return found;
}

/** `struct X {` / `union X {` at the top level: the program's own type definitions. */
function definedAtTop(tokens: Token[]): Set<string> {
  const out = new Set<string>();
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.t === "{") depth++;
    else if (t.t === "}") depth--;
    else if (
      depth === 0 && (t.t === "struct" || t.t === "union") &&
      tokens[i + 1]?.k === "id" && tokens[i + 2]?.t === "{"
    ) out.add(tokens[i + 1].t);
  }
  return out;
}

/** The pass renaming a program's own copies of kernel structs to their CO-RE flavor. */
export const bccShadowedTypes: RewritePass = {
  name: "BCC copies of kernel structs",
  run(ctx) {
    const state = bccState(ctx);
    if (state.hasSec) return;
    const tokens = tokenize(ctx.text);
    const shadowed = kernelStructsAmong(definedAtTop(tokens));
    if (!shadowed.size) return;
    const edits: Edit[] = [];
    for (let i = 0; i + 1 < tokens.length; i++) {
      const t = tokens[i];
      const name = tokens[i + 1];
      if (
        (t.t === "struct" || t.t === "union") && name.k === "id" &&
        shadowed.has(name.t)
      ) {
        edits.push({ start: name.e, end: name.e, text: SHADOW_FLAVOR });
      }
    }
    ctx.edit(edits);
  },
};
