/**
 * The values a program can return, found by constant propagation over its instructions. The
 * policy uses them to tell an XDP/TC program that only counts (always `XDP_PASS`) from one
 * that can drop packets.
 *
 * @module
 */
import {
  Alu,
  Class,
  decodeProgram,
  Jmp,
  LD_IMM64,
  Mode,
  Size,
  Source,
} from "../spec/insn.ts";

/** A register's possible values: a small set of constants, or `undefined` for unknown. */
type Value = Set<bigint> | undefined;
type Regs = Value[];

const MAX_VALUES = 16;
const U64 = (1n << 64n) - 1n;

function join(a: Value, b: Value): Value {
  if (!a || !b) return undefined;
  const out = new Set(a);
  for (const v of b) out.add(v);
  return out.size > MAX_VALUES ? undefined : out;
}

function same(a: Value, b: Value): boolean {
  if (!a || !b) return a === b;
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}

function apply(
  op: number,
  a: bigint,
  b: bigint,
  is64: boolean,
): bigint | undefined {
  const width = is64 ? 64 : 32;
  const mask = is64 ? U64 : 0xffff_ffffn;
  a &= mask;
  b &= mask;
  switch (op) {
    case Alu.ADD:
      return (a + b) & mask;
    case Alu.SUB:
      return (a - b) & mask;
    case Alu.MUL:
      return (a * b) & mask;
    case Alu.OR:
      return a | b;
    case Alu.AND:
      return a & b;
    case Alu.LSH:
      return (a << (b % BigInt(width))) & mask;
    case Alu.RSH:
      return a >> (b % BigInt(width));
    case Alu.NEG:
      return (-a) & mask;
    case Alu.XOR:
      return a ^ b;
    case Alu.ARSH:
      return BigInt.asUintN(
        width,
        BigInt.asIntN(width, a) >> (b % BigInt(width)),
      );
    default:
      return undefined;
  }
}

function combine(op: number, a: Value, b: Value, is64: boolean): Value {
  if (!a || !b) return undefined;
  const out = new Set<bigint>();
  for (const x of a) {
    for (const y of b) {
      const r = apply(op, x, y, is64);
      if (r === undefined) return undefined;
      out.add(r);
      if (out.size > MAX_VALUES) return undefined;
    }
  }
  return out;
}

/**
 * The values register r0 may hold at the program's `exit` instructions, as unsigned 64-bit
 * values, or `undefined` when any of them is unknown (loaded from memory, returned by a
 * helper or subprogram, or computed). Only the program's own instructions are followed;
 * calls make r0..r5 unknown.
 *
 * @param insns the program's instructions, 8 bytes each, little-endian
 * @returns the possible return values, or `undefined` for "could be anything"
 */
export function returnValues(insns: Uint8Array): Set<bigint> | undefined {
  const program = decodeProgram(insns);
  const n = program.length;
  if (n === 0) return new Set();
  const states: (Regs | undefined)[] = new Array(n);
  const entry: Regs = new Array(11).fill(undefined);
  states[0] = entry;
  const work: number[] = [0];
  let result: Value = new Set();
  const flow = (to: number, regs: Regs) => {
    if (to < 0 || to >= n) return;
    const old = states[to];
    if (!old) {
      states[to] = regs.slice();
      work.push(to);
      return;
    }
    let changed = false;
    for (let r = 0; r < 11; r++) {
      const j = join(old[r], regs[r]);
      if (!same(j, old[r])) {
        old[r] = j;
        changed = true;
      }
    }
    if (changed) work.push(to);
  };
  while (work.length) {
    const pc = work.pop()!;
    const regs = states[pc]!.slice();
    const insn = program[pc];
    // A jump into an ld_imm64's second slot, or an ld_imm64 cut short: the kernel refuses
    // such code, and nothing can be said about what it returns.
    if (!insn || (insn.code === LD_IMM64 && insn.imm64 === undefined)) {
      return undefined;
    }
    const { code, cls, op, dst, src, off, imm } = insn;
    const useReg = insn.source === Source.X;
    switch (cls) {
      case Class.LD: {
        // ld_imm64 (two slots) or the legacy packet loads, which write r0 and may end the
        // program with 0 when the packet is too short.
        if (code === LD_IMM64) {
          if (dst <= 10) {
            regs[dst] = src === 0 ? new Set([insn.imm64!]) : undefined;
          }
          flow(pc + 2, regs);
        } else {
          result = join(result, new Set([0n]));
          for (let r = 0; r <= 5; r++) regs[r] = undefined;
          flow(pc + 1, regs);
        }
        break;
      }
      case Class.LDX:
        if (dst <= 10) regs[dst] = undefined;
        flow(pc + 1, regs);
        break;
      case Class.ST:
        flow(pc + 1, regs);
        break;
      case Class.STX: // atomics with BPF_FETCH write the source register, cmpxchg writes r0
        if (insn.mode === Mode.ATOMIC) {
          if (src <= 10) regs[src] = undefined;
          regs[0] = undefined;
        }
        flow(pc + 1, regs);
        break;
      case Class.ALU:
      case Class.ALU64: {
        const is64 = cls === Class.ALU64;
        if (dst > 10) {
          flow(pc + 1, regs);
          break;
        }
        const b: Value = useReg
          ? (src <= 10 ? regs[src] : undefined)
          : new Set([
            is64 ? BigInt.asUintN(64, BigInt(imm)) : BigInt(imm >>> 0),
          ]);
        if (op === Alu.MOV) {
          // a sign-extending mov (off != 0) is treated as unknown
          regs[dst] = off !== 0
            ? undefined
            : b && !is64
            ? new Set([...b].map((v) => v & 0xffff_ffffn))
            : b;
        } else if (op === Alu.END) {
          regs[dst] = undefined; // byte swaps
        } else {
          regs[dst] = combine(op, regs[dst], b, is64);
        }
        flow(pc + 1, regs);
        break;
      }
      case Class.JMP:
      case Class.JMP32: {
        if (op === Jmp.EXIT) {
          result = join(result, regs[0]);
          if (!result) return undefined;
          break;
        }
        if (op === Jmp.CALL) {
          for (let r = 0; r <= 5; r++) regs[r] = undefined;
          flow(pc + 1, regs);
          break;
        }
        if (op === Jmp.JA) {
          // JMP32's ja (gotol) takes its offset from imm.
          flow(pc + 1 + (cls === Class.JMP32 ? imm : off), regs);
          break;
        }
        flow(pc + 1, regs);
        flow(pc + 1 + off, regs);
        break;
      }
    }
  }
  return result;
}

const CTX = 1, PKT = 2, OTHER = 4;

/**
 * The first instruction that may store into packet data through a pointer loaded from the
 * context's `data`/`data_meta` fields (direct packet access), or `undefined`. Pointers are
 * followed through register moves, pointer arithmetic and 8-byte stack spills; a pointer
 * hidden any other way is missed, so this is a best effort, not a proof.
 *
 * @param insns the program's instructions
 * @param dataOffsets offsets of the packet pointer fields in the context struct
 * @returns the instruction index of a packet store, or `undefined`
 */
export function packetStore(
  insns: Uint8Array,
  dataOffsets: readonly number[],
): number | undefined {
  const program = decodeProgram(insns);
  const n = program.length;
  if (n === 0) return undefined;
  interface State {
    regs: number[];
    stack: Map<number, number>;
  }
  const states: (State | undefined)[] = new Array(n);
  const entry: State = { regs: new Array(11).fill(OTHER), stack: new Map() };
  entry.regs[1] = CTX;
  entry.regs[10] = 0;
  states[0] = entry;
  const work = [0];
  const flow = (to: number, st: State) => {
    if (to < 0 || to >= n) return;
    const old = states[to];
    if (!old) {
      states[to] = { regs: st.regs.slice(), stack: new Map(st.stack) };
      work.push(to);
      return;
    }
    let changed = false;
    for (let r = 0; r < 11; r++) {
      const j = old.regs[r] | st.regs[r];
      if (j !== old.regs[r]) {
        old.regs[r] = j;
        changed = true;
      }
    }
    const keys = new Set([...old.stack.keys(), ...st.stack.keys()]);
    for (const k of keys) {
      const j = (old.stack.get(k) ?? OTHER) | (st.stack.get(k) ?? OTHER);
      if (j !== (old.stack.get(k) ?? OTHER)) {
        old.stack.set(k, j);
        changed = true;
      }
    }
    if (changed) work.push(to);
  };
  while (work.length) {
    const pc = work.pop()!;
    const cur = states[pc]!;
    const st: State = { regs: cur.regs.slice(), stack: new Map(cur.stack) };
    const insn = program[pc];
    // A jump into an ld_imm64's second slot: the kernel refuses it; count it as a store
    // rather than guess what it does.
    if (!insn) return pc;
    const { code, cls, op, dst, src, off, imm } = insn;
    const reg = (r: number) => (r <= 10 ? st.regs[r] : OTHER);
    switch (cls) {
      case Class.LD:
        if (code === LD_IMM64) {
          if (dst <= 10) st.regs[dst] = OTHER;
          flow(pc + 2, st);
        } else {
          for (let r = 0; r <= 5; r++) st.regs[r] = OTHER;
          flow(pc + 1, st);
        }
        break;
      case Class.LDX: {
        const base = reg(src);
        let t = OTHER;
        if (src === 10) t = st.stack.get(off) ?? OTHER;
        else if ((base & CTX) && dataOffsets.includes(off)) {
          t = PKT | (base & ~CTX ? OTHER : 0);
        }
        if (dst <= 10) st.regs[dst] = t;
        flow(pc + 1, st);
        break;
      }
      case Class.ST:
      case Class.STX: {
        if (reg(dst) & PKT && dst !== 10) return pc;
        if (
          dst === 10 && cls === Class.STX && insn.size === Size.DW &&
          insn.mode === Mode.MEM
        ) {
          st.stack.set(off, reg(src));
        } else if (dst === 10) st.stack.delete(off);
        if (cls === Class.STX && insn.mode === Mode.ATOMIC) {
          if (src <= 10) st.regs[src] = OTHER;
          st.regs[0] = OTHER;
        }
        flow(pc + 1, st);
        break;
      }
      case Class.ALU: // 32-bit: truncation turns pointers into scalars
        if (dst <= 10) st.regs[dst] = OTHER;
        flow(pc + 1, st);
        break;
      case Class.ALU64: {
        if (dst <= 10) {
          const byReg = insn.source === Source.X;
          const s = byReg ? reg(src) : OTHER;
          if (op === Alu.MOV) st.regs[dst] = byReg && off === 0 ? s : OTHER;
          else if (op === Alu.ADD || op === Alu.SUB) {
            st.regs[dst] = (st.regs[dst] | s) & PKT
              ? PKT | ((st.regs[dst] | s) & OTHER)
              : OTHER;
          } else st.regs[dst] = OTHER;
        }
        flow(pc + 1, st);
        break;
      }
      case Class.JMP:
      case Class.JMP32:
        if (op === Jmp.EXIT) break;
        if (op === Jmp.CALL) {
          for (let r = 0; r <= 5; r++) st.regs[r] = OTHER;
          flow(pc + 1, st);
          break;
        }
        if (op === Jmp.JA) {
          flow(pc + 1 + (cls === Class.JMP32 ? imm : off), st);
          break;
        }
        flow(pc + 1, st);
        flow(pc + 1 + off, st);
        break;
    }
  }
  return undefined;
}
