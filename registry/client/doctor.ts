/**
 * `bpfpm doctor`: what this machine can do with BPF and what is in the way, one line per
 * check with the fix: kernel and BTF, capabilities, tracefs and bpffs, the program, map and
 * attach kinds that work (from the runtime's `features()`), the compiler and its PCH, the
 * caches, and the registry (reachable, and who the saved token is).
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { features } from "../../runtime/features.ts";
import {
  cacheRoot,
  checkRootOwnership,
  compilerIdentity,
  kernelBtfHash,
} from "../../runtime/compile/_cache.ts";
import { compilerLibPath } from "../../runtime/compile/_ffi.ts";
import { pchPath } from "../../runtime/compile/_pch.ts";
import { type ClientConfig, tokenFor } from "./config.ts";
import { RegistryClient } from "./registry.ts";

/** How a check came out. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of the report. */
export interface Check {
  /** The area: kernel, capabilities, filesystems, attach, compiler, cache, registry. */
  area: string;
  /** What was checked. */
  name: string;
  /** ok; warn (works, with a limit); fail (bpfpm cannot do this here). */
  status: CheckStatus;
  /** What was found, and the fix when it is not ok. */
  detail: string;
}

/** Capability bits that matter to BPF (linux/capability.h). */
const CAPS: [name: string, bit: number, why: string][] = [
  ["CAP_BPF", 39, "load programs and create maps"],
  ["CAP_PERFMON", 38, "attach tracing programs and read kernel memory"],
  ["CAP_NET_ADMIN", 12, "attach XDP and TC programs"],
  [
    "CAP_SYS_ADMIN",
    21,
    "some program kinds (and everything on kernels before 5.8)",
  ],
  [
    "CAP_SYS_RESOURCE",
    24,
    "raise RLIMIT_MEMLOCK (not needed with memcg accounting, 5.11+)",
  ],
];

function mounts(): { dir: string; type: string }[] {
  try {
    return Deno.readTextFileSync("/proc/self/mounts").split("\n").filter(
      Boolean,
    ).map((l) => {
      const f = l.split(" ");
      return { dir: f[1], type: f[2] };
    });
  } catch {
    return [];
  }
}

function effectiveCaps(): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(
      Deno.readTextFileSync("/proc/self/status"),
    );
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

function kernelChecks(): Check[] {
  const out: Check[] = [{
    area: "kernel",
    name: "release",
    status: "ok",
    detail: Deno.osRelease(),
  }];
  const btf = "/sys/kernel/btf/vmlinux";
  out.push(
    existsSync(btf)
      ? {
        area: "kernel",
        name: "BTF",
        status: "ok",
        detail: `${btf} (${Math.round(statSync(btf).size / 1024)} KiB)`,
      }
      : {
        area: "kernel",
        name: "BTF",
        status: "fail",
        detail:
          `${btf} is missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y (or set BPFPM_BTF_PATH to a BTF file for it)`,
      },
  );
  return out;
}

function capabilityChecks(): Check[] {
  const eff = effectiveCaps();
  if (eff === undefined) {
    return [{
      area: "capabilities",
      name: "effective",
      status: "warn",
      detail: "cannot read /proc/self/status",
    }];
  }
  const has = (bit: number) => ((eff >> BigInt(bit)) & 1n) === 1n;
  // Before CAP_BPF and CAP_PERFMON existed (5.8), CAP_SYS_ADMIN covered both.
  const required = new Set(["CAP_BPF", "CAP_PERFMON"]);
  return CAPS.map(([name, bit, why]): Check => {
    if (has(bit)) {
      return {
        area: "capabilities",
        name,
        status: "ok",
        detail: `present (${why})`,
      };
    }
    if (required.has(name) && has(21)) {
      return {
        area: "capabilities",
        name,
        status: "ok",
        detail: `missing, but CAP_SYS_ADMIN covers it (${why})`,
      };
    }
    return {
      area: "capabilities",
      name,
      status: required.has(name) ? "fail" : "warn",
      detail:
        `missing: needed to ${why}; run as root or grant it (setcap, or the container's capabilities)`,
    };
  });
}

function filesystemChecks(): Check[] {
  const m = mounts();
  const at = (dir: string, type: string) =>
    m.some((x) => x.dir === dir && x.type === type);
  const tracefs = at("/sys/kernel/tracing", "tracefs") ||
    at("/sys/kernel/debug/tracing", "tracefs");
  return [
    tracefs
      ? {
        area: "filesystems",
        name: "tracefs",
        status: "ok",
        detail: "mounted at /sys/kernel/tracing (trace_pipe, tracepoint ids)",
      }
      : {
        area: "filesystems",
        name: "tracefs",
        status: "fail",
        detail:
          "not mounted: tracePrint and tracepoint ids need it; mount -t tracefs tracefs /sys/kernel/tracing",
      },
    at("/sys/fs/bpf", "bpf")
      ? {
        area: "filesystems",
        name: "bpffs",
        status: "ok",
        detail: "mounted at /sys/fs/bpf (pins)",
      }
      : {
        area: "filesystems",
        name: "bpffs",
        status: "warn",
        detail:
          "not mounted: pinning maps and links needs it; mount -t bpf bpf /sys/fs/bpf",
      },
  ];
}

function featureChecks(): Check[] {
  let f;
  try {
    f = features();
  } catch (e) {
    return [{
      area: "attach",
      name: "features",
      status: "fail",
      detail: `cannot probe the kernel: ${(e as Error).message.split("\n")[0]}`,
    }];
  }
  const summary = (
    area: string,
    name: string,
    found: Record<string, boolean>,
    verb: string,
  ): Check => {
    const yes = Object.keys(found).filter((k) => found[k]);
    const no = Object.keys(found).filter((k) => !found[k]);
    return {
      area,
      name,
      status: yes.length ? "ok" : "fail",
      detail: `${yes.length} of ${yes.length + no.length} ${verb}${
        no.length ? `; missing: ${no.join(", ")}` : ""
      }`,
    };
  };
  const out: Check[] = [
    summary("programs", "program types", f.programTypes, "load"),
    summary("maps", "map types", f.mapTypes, "work"),
  ];
  for (const [kind, s] of Object.entries(f.attach)) {
    out.push({
      area: "attach",
      name: kind,
      status: s.supported ? "ok" : "warn",
      detail: s.supported ? "works" : `missing (${s.reason})`,
    });
  }
  out.push({
    area: "attach",
    name: "tcx",
    status: f.tcx ? "ok" : "warn",
    detail: f.tcx
      ? "tc attaches as a link"
      : "missing (kernel before 6.6): tc attaches as a clsact filter",
  });
  return out;
}

async function compilerChecks(): Promise<Check[]> {
  const lib = compilerLibPath();
  if (!existsSync(lib)) {
    return [{
      area: "compiler",
      name: "library",
      status: "fail",
      detail:
        `${lib} is missing: BPF C cannot be compiled; build it with make -C native (or reinstall bpfpm)`,
    }];
  }
  const out: Check[] = [{
    area: "compiler",
    name: "library",
    status: "ok",
    detail: lib,
  }];
  try {
    const root = cacheRoot();
    const { btf } = await kernelBtfHash(root);
    const pch = await pchPath(root, btf, compilerIdentity(lib));
    out.push(
      existsSync(pch)
        ? {
          area: "compiler",
          name: "PCH",
          status: "ok",
          detail: `${pch} (vmlinux.h precompiled for this kernel)`,
        }
        : {
          area: "compiler",
          name: "PCH",
          status: "warn",
          detail:
            `not built yet for this kernel and compiler: the first compile builds it (about 0.6 s); to do it now: deno run -A runtime/compile/prepare.ts`,
        },
    );
  } catch (e) {
    out.push({
      area: "compiler",
      name: "PCH",
      status: "fail",
      detail: (e as Error).message.split("\n")[0],
    });
  }
  return out;
}

function dirCheck(name: string, dir: string, owned: boolean): Check {
  try {
    if (owned) checkRootOwnership(dir);
    if (!existsSync(dir)) {
      return {
        area: "cache",
        name,
        status: "ok",
        detail: `${dir} (not created yet)`,
      };
    }
    const probe = `${dir}/.doctor-${Deno.pid}`;
    Deno.writeTextFileSync(probe, "");
    Deno.removeSync(probe);
    return { area: "cache", name, status: "ok", detail: `${dir} (writable)` };
  } catch (e) {
    return {
      area: "cache",
      name,
      status: "fail",
      detail: `${dir}: ${
        (e as Error).message.split("\n")[0]
      }; fix its permissions or set BPFPM_CACHE_DIR`,
    };
  }
}

function cacheChecks(config: ClientConfig): Check[] {
  let compile: string;
  try {
    compile = cacheRoot();
  } catch (e) {
    return [{
      area: "cache",
      name: "location",
      status: "fail",
      detail: (e as Error).message,
    }];
  }
  const out = [dirCheck("compile cache", compile, true)];
  if (config.cacheDir !== compile) {
    out.push(dirCheck("package cache", config.cacheDir, false));
  }
  return out;
}

async function registryChecks(config: ClientConfig): Promise<Check[]> {
  const client = new RegistryClient(config, { timeoutMs: 5000 });
  const registry = config.registry;
  try {
    const res = await client.request(`${registry}-/ping`, {
      what: "Ping",
      allow: [404],
    });
    await res.body?.cancel();
  } catch (e) {
    return [{
      area: "registry",
      name: registry,
      status: "fail",
      detail: (e as Error).message,
    }];
  }
  const out: Check[] = [{
    area: "registry",
    name: registry,
    status: "ok",
    detail: "reachable",
  }];
  if (!tokenFor(config, registry)) {
    out.push({
      area: "registry",
      name: "auth",
      status: "warn",
      detail:
        `not logged in: installs work, publishing needs bpfpm login --registry ${registry}`,
    });
    return out;
  }
  try {
    const { body } = await client.json<{ username?: string }>(
      registry,
      "-/whoami",
      { what: "whoami" },
    );
    out.push({
      area: "registry",
      name: "auth",
      status: body.username ? "ok" : "fail",
      detail: body.username
        ? `logged in as ${body.username}`
        : "the registry did not name a user for the saved token; log in again",
    });
  } catch (e) {
    out.push({
      area: "registry",
      name: "auth",
      status: "fail",
      detail: (e as Error).message,
    });
  }
  return out;
}

/**
 * Runs every check.
 *
 * @returns the checks, in report order
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import { doctor } from "./doctor.ts";
 * for (const c of await doctor(loadConfig())) console.log(c.status, c.name, c.detail);
 * ```
 */
export async function doctor(config: ClientConfig): Promise<Check[]> {
  const registry = registryChecks(config);
  return [
    ...kernelChecks(),
    ...capabilityChecks(),
    ...filesystemChecks(),
    ...featureChecks(),
    ...await compilerChecks(),
    ...cacheChecks(config),
    ...await registry,
  ];
}

/**
 * The report as text: one line per check, grouped by area.
 *
 * @example
 * ```ts
 * import { formatReport } from "./doctor.ts";
 * formatReport([{ area: "attach", name: "kprobe", status: "warn", detail: "missing (CONFIG_KPROBES is not set)" }]);
 * ```
 */
export function formatReport(checks: Check[]): string {
  const mark = { ok: "ok  ", warn: "warn", fail: "FAIL" };
  const lines: string[] = [];
  let area = "";
  for (const c of checks) {
    if (c.area !== area) {
      area = c.area;
      lines.push(`${area}:`);
    }
    lines.push(`  ${mark[c.status]}  ${c.name}: ${c.detail}`);
  }
  const fails = checks.filter((c) => c.status === "fail").length;
  const warns = checks.filter((c) => c.status === "warn").length;
  lines.push(
    `${checks.length} checks: ${fails} failed, ${warns} with limits`,
  );
  return lines.join("\n");
}
