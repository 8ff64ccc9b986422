/**
 * The BCC passes in the order they must run, before the core's TRACEPOINT_PROBE pass.
 *
 * @module
 */
import type { RewritePass } from "../rewrite.ts";
import { bccMaps } from "./maps.ts";
import { bccShadowedTypes } from "./shadowed_types.ts";
import { bccKernelHeaders } from "./kernel_headers.ts";
import { bccKernelConfig } from "./kernel_config.ts";
import { bccMethods } from "./methods.ts";
import { bccProbes } from "./probes.ts";
import { bccKernelReads } from "./kernel_reads.ts";
import { bccPrelude, bccPrintk } from "./printk.ts";
import { bccKeepTypes } from "./keep_types.ts";
import { BccRewriteError } from "../../errors.ts";
import { bccState } from "./_state.ts";

/**
 * Map macros, methods, probe forms, kernel reads, printk checks, event types, BCC's header.
 * A construct that cannot be rewritten is reported at its place in the caller's .ts file.
 */
export const bccPasses: RewritePass[] = [
  bccKernelHeaders,
  bccKernelConfig,
  bccShadowedTypes,
  bccMaps,
  bccMethods,
  bccProbes,
  bccKernelReads,
  bccPrintk,
  bccKeepTypes,
  bccPrelude,
].map((pass) => ({
  name: pass.name,
  run(ctx) {
    try {
      pass.run(ctx);
    } catch (e) {
      if (e instanceof BccRewriteError) throw e.locate(bccState(ctx).source);
      throw e;
    }
  },
}));
