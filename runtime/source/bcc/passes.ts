/**
 * The BCC passes in the order they must run, before the core's TRACEPOINT_PROBE pass.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { bccMaps } from "./maps.ts";
import { bccMethods } from "./methods.ts";
import { bccProbes } from "./probes.ts";
import { bccKernelReads } from "./kernel_reads.ts";
import { bccPrelude, bccPrintk } from "./printk.ts";
import { bccKeepTypes } from "./keep_types.ts";

/** Map macros, methods, probe forms, kernel reads, printk checks, event types, BCC's header. */
export const bccPasses: RewritePass[] = [
  bccMaps,
  bccMethods,
  bccProbes,
  bccKernelReads,
  bccPrintk,
  bccKeepTypes,
  bccPrelude,
];
