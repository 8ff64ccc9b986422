/**
 * BPF instructions (`struct bpf_insn`, the kernel's Documentation/bpf/standardization/
 * instruction-set.rst): the opcode fields by name and the one decoder every reader of
 * program bytes uses (the object inspector's call scan, the policy's return-value and
 * packet-store analyses).
 *
 * @module
 */

/** Instruction classes (`code & 0x07`). */
export const Class = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  JMP32: 0x06,
  ALU64: 0x07,
} as const;

/** Arithmetic operations (`code & 0xf0` of ALU/ALU64). */
export const Alu = {
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  MOV: 0xb0,
  ARSH: 0xc0,
  END: 0xd0,
} as const;

/** Jump operations (`code & 0xf0` of JMP/JMP32) that are not conditional. */
export const Jmp = { JA: 0x00, CALL: 0x80, EXIT: 0x90 } as const;

/** Memory access modes (`code & 0xe0` of LD/LDX/ST/STX). */
export const Mode = {
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  MEMSX: 0x80,
  ATOMIC: 0xc0,
} as const;

/** Access sizes (`code & 0x18` of LD/LDX/ST/STX). */
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;

/** The operand source bit (`code & 0x08` of ALU/JMP): the immediate or the src register. */
export const Source = { K: 0x00, X: 0x08 } as const;

/** What a call's or an ld_imm64's `src` register field means (`BPF_PSEUDO_*`). */
export const Pseudo = {
  /** A call to a BPF-to-BPF function (bpf-to-bpf call). */
  CALL: 1,
  /** A call to a kernel function (kfunc). */
  KFUNC_CALL: 2,
  /** An ld_imm64 of a BPF function's address (callbacks). */
  FUNC: 4,
} as const;

/** The opcode of a helper, function or kfunc call (`JMP | CALL`). */
export const CALL = Class.JMP | Jmp.CALL;
/** The opcode of a 64-bit immediate load, which takes two slots (`LD | IMM | DW`). */
export const LD_IMM64 = Class.LD | Mode.IMM | Size.DW;

/** The size of one instruction slot in bytes. */
export const INSN_SIZE = 8;

/** One decoded instruction. */
export interface Insn {
  /** The whole opcode byte. */
  code: number;
  /** Its class (one of {@linkcode Class}). */
  cls: number;
  /** The operation of an ALU or JMP instruction (one of {@linkcode Alu}, {@linkcode Jmp}, ...). */
  op: number;
  /** The operand source of an ALU or JMP instruction (one of {@linkcode Source}). */
  source: number;
  /** The mode of a load or store (one of {@linkcode Mode}). */
  mode: number;
  /** The size of a load or store (one of {@linkcode Size}). */
  size: number;
  /** Destination register (0-10; higher only in malformed code). */
  dst: number;
  /** Source register, or the `BPF_PSEUDO_*` kind of a call or ld_imm64. */
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
  /** The 64-bit constant of an ld_imm64 (both slots' immediates), unsigned. */
  imm64?: bigint;
  /** The slots it takes: 2 for an ld_imm64, else 1. */
  slots: 1 | 2;
}

/**
 * Decodes the instruction at a byte offset.
 *
 * @param view the instruction bytes
 * @param at the byte offset of the instruction (a multiple of 8)
 * @param littleEndian the object's byte order (the register nibbles swap with it)
 * @returns the instruction
 *
 * @example Is the first instruction a helper call?
 * ```ts
 * import { CALL, readInsn } from "./insn.ts";
 * const bytes = new Uint8Array([0x85, 0, 0, 0, 14, 0, 0, 0]);
 * const insn = readInsn(new DataView(bytes.buffer), 0, true);
 * console.log(insn.code === CALL && insn.src === 0 ? `helper #${insn.imm}` : "other");
 * ```
 */
export function readInsn(
  view: DataView,
  at: number,
  littleEndian: boolean,
): Insn {
  const code = view.getUint8(at);
  const regs = view.getUint8(at + 1);
  const insn: Insn = {
    code,
    cls: code & 0x07,
    op: code & 0xf0,
    source: code & 0x08,
    mode: code & 0xe0,
    size: code & 0x18,
    dst: littleEndian ? regs & 0xf : regs >> 4,
    src: littleEndian ? regs >> 4 : regs & 0xf,
    off: view.getInt16(at + 2, littleEndian),
    imm: view.getInt32(at + 4, littleEndian),
    slots: 1,
  };
  if (code === LD_IMM64 && at + 2 * INSN_SIZE <= view.byteLength) {
    insn.slots = 2;
    insn.imm64 = (BigInt(view.getUint32(at + 12, littleEndian)) << 32n) |
      BigInt(view.getUint32(at + 4, littleEndian));
  }
  return insn;
}

/**
 * Decodes a program's instructions, one entry per slot (the second slot of an ld_imm64 is
 * `undefined`), so jump offsets index the array directly.
 *
 * @param insns the instruction bytes, 8 per slot
 * @param littleEndian the byte order (BPF objects for x86 and arm64 are little-endian)
 * @returns the instructions by slot
 *
 * @example
 * ```ts
 * import { decodeProgram } from "./insn.ts";
 * const exit = new Uint8Array([0x95, 0, 0, 0, 0, 0, 0, 0]);
 * decodeProgram(exit)[0]?.op; // 0x90 (EXIT)
 * ```
 */
export function decodeProgram(
  insns: Uint8Array,
  littleEndian = true,
): (Insn | undefined)[] {
  const view = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const n = Math.floor(insns.length / INSN_SIZE);
  const out: (Insn | undefined)[] = new Array(n);
  for (let pc = 0; pc < n;) {
    const insn = readInsn(view, pc * INSN_SIZE, littleEndian);
    out[pc] = insn;
    pc += insn.slots;
  }
  return out;
}
