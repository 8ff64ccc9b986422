/**
 * Per-CPU values: user space reads one value per possible CPU, each in an 8-byte aligned slot.
 *
 * @module
 */
import type { Codec } from "../btf/codec.ts";

/**
 * A per-CPU number: `number`, or `bigint` for 64-bit counters.
 *
 * @example Sum a per-CPU value
 * ```ts
 * import { BPF, type PerCpu, type PerCpuNumber } from "bpf";
 * using b = await BPF.load({ file: "./percpu.bpf.c" });
 * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
 * const total: PerCpuNumber = perCpu.sum();
 * ```
 */
export type PerCpuNumber = number | bigint;

function pick<T>(v: T, fn?: (v: T) => PerCpuNumber): PerCpuNumber {
  if (fn) return fn(v);
  if (typeof v === "number" || typeof v === "bigint") return v;
  throw new TypeError(
    "PerCpu sum/max/min/avg need numbers or bigints: pass a function that picks a numeric field",
  );
}

/**
 * The values of one per-CPU map element, indexed by CPU, with aggregate helpers.
 *
 * @example Sum a per-CPU counter
 * ```ts
 * import { PerCpu } from "./per_cpu.ts";
 * const v = PerCpu.from([3n, 4n]) as PerCpu<bigint>;
 * v.sum(); // 7n
 * ```
 */
export class PerCpu<T> extends Array<T> {
  /**
   * `map`/`filter` give plain arrays.
   *
   * @example map gives an Array
   * ```ts
   * import { BPF, type PerCpu } from "bpf";
   * using b = await BPF.load({ file: "./percpu.bpf.c" });
   * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
   * const doubled: bigint[] = perCpu.map((v) => v * 2n);
   * ```
   */
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  /**
   * The sum over CPUs (bigint if the values are bigints).
   *
   * @param fn picks the number to add from a struct value
   * @returns the sum
   *
   * @example Total over CPUs
   * ```ts
   * import { BPF, type PerCpu } from "bpf";
   * using b = await BPF.load({ file: "./percpu.bpf.c" });
   * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
   * console.log(perCpu.sum());
   * ```
   */
  sum(fn?: (v: T) => PerCpuNumber): PerCpuNumber {
    let acc: PerCpuNumber | undefined;
    for (const v of this) {
      const x = pick(v, fn);
      acc = acc === undefined
        ? x
        : typeof x === "bigint"
        ? (acc as bigint) + x
        : (acc as number) + x;
    }
    return acc ?? 0;
  }

  /**
   * The largest value over CPUs.
   *
   * @param fn picks the number from a struct value
   * @returns the maximum
   *
   * @example Busiest CPU's value
   * ```ts
   * import { BPF, type PerCpu } from "bpf";
   * using b = await BPF.load({ file: "./percpu.bpf.c" });
   * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
   * console.log(perCpu.max());
   * ```
   */
  max(fn?: (v: T) => PerCpuNumber): PerCpuNumber {
    let acc: PerCpuNumber | undefined;
    for (const v of this) {
      const x = pick(v, fn);
      if (acc === undefined || x > acc) acc = x;
    }
    return acc ?? 0;
  }

  /**
   * The smallest value over CPUs.
   *
   * @param fn picks the number from a struct value
   * @returns the minimum
   *
   * @example Idlest CPU's value
   * ```ts
   * import { BPF, type PerCpu } from "bpf";
   * using b = await BPF.load({ file: "./percpu.bpf.c" });
   * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
   * console.log(perCpu.min());
   * ```
   */
  min(fn?: (v: T) => PerCpuNumber): PerCpuNumber {
    let acc: PerCpuNumber | undefined;
    for (const v of this) {
      const x = pick(v, fn);
      if (acc === undefined || x < acc) acc = x;
    }
    return acc ?? 0;
  }

  /**
   * The mean over CPUs, as a number.
   *
   * @param fn picks the number from a struct value
   * @returns the average (0 for no CPUs)
   *
   * @example Mean over CPUs
   * ```ts
   * import { BPF, type PerCpu } from "bpf";
   * using b = await BPF.load({ file: "./percpu.bpf.c" });
   * const perCpu = b.map<number, PerCpu<bigint>>("counts").get(0)!;
   * console.log(perCpu.avg());
   * ```
   */
  avg(fn?: (v: T) => PerCpuNumber): number {
    return this.length === 0 ? 0 : Number(this.sum(fn)) / this.length;
  }
}

/**
 * A codec for a whole per-CPU value: `cpus` slots of `element`, each 8-byte aligned. Decodes
 * to a {@link PerCpu}; encodes an array of `cpus` values or one value written to every CPU.
 *
 * @param element the codec of one CPU's value
 * @param cpus the number of possible CPUs
 * @returns the codec
 *
 * @example
 * ```ts
 * import { perCpuCodec } from "./per_cpu.ts";
 * import { u64 } from "../btf/codec.ts";
 * const c = perCpuCodec(u64, 2); // 16 bytes
 * ```
 */
export function perCpuCodec<T, E = T>(
  element: Codec<T, E>,
  cpus: number,
): Codec<PerCpu<T>, E | readonly E[]> & {
  element: Codec<T, E>;
  stride: number;
  cpus: number;
} {
  const stride = (element.size + 7) & ~7;
  return {
    size: stride * cpus,
    align: 8,
    describe: `${element.describe} per CPU x ${cpus}`,
    element,
    stride,
    cpus,
    decode(view, offset) {
      const out = new PerCpu<T>();
      for (let i = 0; i < cpus; i++) {
        out.push(element.decode(view, offset + i * stride));
      }
      return out;
    },
    encode(value, view, offset) {
      const all = Array.isArray(value) ? value : null;
      if (all && all.length !== cpus) {
        throw new RangeError(
          `A per-CPU value needs ${cpus} entries (one per possible CPU), got ${all.length}`,
        );
      }
      for (let i = 0; i < cpus; i++) {
        const at = offset + i * stride;
        for (let b = element.size; b < stride; b++) view.setUint8(at + b, 0);
        element.encode(all ? all[i] : (value as E), view, at);
      }
    },
  };
}
