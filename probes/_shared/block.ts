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
 * The packed device number (major << 20 | minor) of `-d DISK`: `MAJ:MIN` as lsblk shows it,
 * or a name such as `vda`, looked up in sysfs. Deno lets a script read /sys only with
 * --allow-all, so a probe run by `bpfpm run` (sandboxed) takes `MAJ:MIN`.
 *
 * @example
 * ```ts
 * import { diskDev } from "./block.ts";
 * diskDev("254:0"); // 266338304
 * diskDev("vda"); // the same, where /sys may be read
 * ```
 */
export function diskDev(disk: string): number {
  let text = disk;
  if (!/^\d+:\d+$/.test(disk)) {
    try {
      text = Deno.readTextFileSync(`/sys/class/block/${disk}/dev`);
    } catch (cause) {
      throw new UsageError(
        cause instanceof Deno.errors.NotCapable
          ? `-d ${disk}: this process may not read /sys to find the disk; pass its MAJ:MIN instead: -d $(lsblk -dno MAJ:MIN /dev/${disk})`
          : `No block device named ${JSON.stringify(disk)} (${
            (cause as Error).message
          }): use a name or MAJ:MIN from lsblk, e.g. vda or 254:0`,
      );
    }
  }
  const [major, minor] = text.trim().split(":").map(Number);
  return major * 2 ** 20 + minor;
}
