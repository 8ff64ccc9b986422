/**
 * Addresses and port lists for the TCP probes.
 *
 * @module
 */
import { type Column, UsageError } from "./cli.ts";

/** A TCP session's ends, as tcplife and tcpstates print them. */
export interface Endpoints {
  /** 4 or 6. */
  ip: 4 | 6;
  /** The local address. */
  laddr: string;
  /** The local port. */
  lport: number;
  /** The remote address. */
  raddr: string;
  /** The remote port. */
  rport: number;
}

/**
 * A session's ends from a probe's record: the family, the 16 address bytes and the port of
 * each side.
 *
 * @example
 * ```ts
 * import { endpoints } from "./net.ts";
 * const lo = new Uint8Array([127, 0, 0, 1, ...new Array(12).fill(0)]);
 * endpoints(2, { addr: lo, port: 22 }, { addr: lo, port: 40000 }).laddr; // "127.0.0.1"
 * ```
 */
export function endpoints(
  family: number,
  local: { addr: Uint8Array; port: number },
  remote: { addr: Uint8Array; port: number },
): Endpoints {
  return {
    ip: family === 2 ? 4 : 6,
    laddr: formatAddr(family, local.addr),
    lport: local.port,
    raddr: formatAddr(family, remote.addr),
    rport: remote.port,
  };
}

/**
 * The `IP LADDR LPORT RADDR RPORT` columns (`IP` only with `withIp`: BCC's `-w` and `-s`).
 *
 * @example
 * ```ts
 * import type { Column } from "./cli.ts";
 * import { type Endpoints, endpointColumns } from "./net.ts";
 * const columns: Column<Endpoints>[] = endpointColumns(15, false);
 * ```
 */
export function endpointColumns<R extends Endpoints>(
  addrWidth: number,
  withIp: boolean,
): Column<R>[] {
  const columns: Column<R>[] = [];
  if (withIp) columns.push({ header: "IP", key: "ip", width: 2 });
  columns.push(
    { header: "LADDR", key: "laddr", width: addrWidth },
    { header: "LPORT", key: "lport", width: 5 },
    { header: "RADDR", key: "raddr", width: addrWidth },
    { header: "RPORT", key: "rport", width: 5 },
  );
  return columns;
}

/**
 * An address from the 16 bytes a probe copies (IPv4 in the first 4).
 *
 * @example
 * ```ts
 * import { formatAddr } from "./net.ts";
 * formatAddr(2, new Uint8Array([127, 0, 0, 1, ...new Array(12).fill(0)])); // "127.0.0.1"
 * ```
 */
export function formatAddr(family: number, bytes: Uint8Array): string {
  if (family === 2) return [...bytes.subarray(0, 4)].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  }
  // The longest run of zero groups (two or more) becomes "::".
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${
    groups.slice(best + bestLen).join(":")
  }`;
}

/**
 * The address family `-4` or `-6` asks for (2 or 10; 0 for both), as the TCP probes'
 * `cfg.family`.
 *
 * @example
 * ```ts
 * import { familyFilter } from "./net.ts";
 * familyFilter({ ipv6: true }); // 10
 * ```
 */
export function familyFilter(values: Record<string, unknown>): number {
  if (values.ipv4 && values.ipv6) {
    throw new UsageError("-4 and -6 exclude each other");
  }
  return values.ipv4 ? 2 : values.ipv6 ? 10 : 0;
}

/**
 * A comma-separated port list (`-L 80,81`), or undefined when absent.
 *
 * @example
 * ```ts
 * import { portList } from "./net.ts";
 * portList("22,80", "-L"); // Set {22, 80}
 * ```
 */
export function portList(
  value: unknown,
  what: string,
): Set<number> | undefined {
  if (value === undefined) return undefined;
  const ports = new Set<number>();
  for (const p of String(value).split(",")) {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 1 || n > 65535) {
      throw new UsageError(
        `${what} takes ports 1-65535 separated by commas, got ${
          JSON.stringify(value)
        }`,
      );
    }
    ports.add(n);
  }
  return ports;
}
