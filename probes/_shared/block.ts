/**
 * Block device names and request flags for the block probes.
 *
 * @module
 */
import { UsageError } from "./cli.ts";

const OPS = [
  "Read",
  "Write",
  "Flush",
  "Discard",
  "",
  "SecureErase",
  "",
  "",
  "",
  "WriteZeroes",
];

/**
 * A request's op and flags (as the block probes pack them: op | sync << 8 | fua << 9 |
 * meta << 10 | preflush << 11) in BCC's words, e.g. `Sync-Write`.
 *
 * @example
 * ```ts
 * import { flagsText } from "./block.ts";
 * flagsText(1 | 1 << 8); // "Sync-Write"
 * ```
 */
export function flagsText(flags: number): string {
  const parts: string[] = [];
  if (flags & (1 << 11)) parts.push("Preflush");
  if (flags & (1 << 10)) parts.push("Metadata");
  if (flags & (1 << 8)) parts.push("Sync");
  if (flags & (1 << 9)) parts.push("ForcedUnitAccess");
  parts.push(OPS[flags & 0xff] || `Op${flags & 0xff}`);
  return parts.join("-");
}

/**
 * The packed device number (major << 20 | minor) of a disk name such as `vda`, from sysfs.
 *
 * @example
 * ```ts
 * import { diskDev } from "./block.ts";
 * diskDev("vda"); // 266338304 (254:0)
 * ```
 */
export function diskDev(name: string): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/sys/class/block/${name}/dev`);
  } catch (cause) {
    throw new UsageError(
      `No block device named ${JSON.stringify(name)} (${
        (cause as Error).message
      }): use a name from lsblk, e.g. vda`,
    );
  }
  const [major, minor] = text.trim().split(":").map(Number);
  return major * 2 ** 20 + minor;
}
