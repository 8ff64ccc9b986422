/**
 * `deno task bench install`: installs a package with 10 dependencies from a local registry
 * (the bpfpm registry, in this process, on 127.0.0.1), cold (empty cache, no lockfile) and
 * warm (cache filled, lockfile present, install dir removed), with `bpfpm install` and with
 * `npm install`, `pnpm install` and `bun install` of the same package.json from the same
 * registry, in the same run, interleaved run by run. All are timed as whole CLI processes.
 * pnpm and bun come from npm: the bench installs them itself into a tools directory
 * (`BPFPM_BENCH_TOOLS`, default /var/tmp/bpfpm-bench-tools), once (a second run finds them).
 * Prints medians and ends with `result install cold_ratio=… warm_ratio=…` (ours / npm) and
 * `result install_fastest cold_vs_pnpm=… warm_vs_pnpm=… cold_vs_bun=… warm_vs_bun=…`.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createTarball } from "../registry/pack/mod.ts";
import { publishDocument } from "../registry/common/publish_document.ts";
import { startRegistry } from "../registry/server/cli.ts";
import { bpfpmCli } from "./_sandbox.ts";

const DEPS = 10;
/** The pnpm and bun the bench compares with (pnpm 11 and later need Node 22; this has 20). */
const TOOLS = { pnpm: "10.34.9", bun: "1.4.4" } as const;
const FILES_PER_PACKAGE = 20;

async function publish(
  registry: string,
  token: string,
  pkg: { name: string; version: string; dependencies?: Record<string, string> },
  files: Record<string, string>,
) {
  const tgz = await createTarball({
    "package.json": JSON.stringify(pkg, null, 2),
    ...files,
  });
  const body = publishDocument({ manifest: pkg, tarball: tgz, registry });
  const r = await fetch(registry + pkg.name, {
    method: "PUT",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    },
    body: JSON.stringify(body),
  });
  if (!r.ok) {
    throw new Error(
      `publish ${pkg.name} failed: ${r.status} ${await r.text()}`,
    );
  }
  await r.body?.cancel();
}

const TIME = "/usr/bin/time";
const HAS_TIME = existsSync(TIME);

/** Wall milliseconds and, when GNU time is installed, CPU (user + sys) milliseconds. */
interface Timing {
  wall: number;
  cpu?: number;
}

async function timed(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<Timing> {
  const t0 = performance.now();
  const out = await new Deno.Command(HAS_TIME ? TIME : cmd, {
    args: HAS_TIME ? ["-f", "bpfpm-bench-cpu %U %S", cmd, ...args] : args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed in ${cwd}:\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  const m = /bpfpm-bench-cpu ([\d.]+) ([\d.]+)\s*$/.exec(
    new TextDecoder().decode(out.stderr),
  );
  return {
    wall: ms,
    cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : undefined,
  };
}

/**
 * pnpm and bun, installed from npm into the tools directory unless the wanted versions are
 * there already; returns their executables.
 */
async function benchTools(): Promise<{ pnpm: string; bun: string }> {
  const dir = Deno.env.get("BPFPM_BENCH_TOOLS") ?? "/var/tmp/bpfpm-bench-tools";
  const bin = (n: string) => join(dir, "node_modules", ".bin", n);
  const version = async (n: string) => {
    try {
      const out = await new Deno.Command(bin(n), {
        args: ["--version"],
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    } catch {
      return "";
    }
  };
  if (
    (await version("pnpm")) !== TOOLS.pnpm ||
    (await version("bun")) !== TOOLS.bun
  ) {
    await Deno.mkdir(dir, { recursive: true });
    const pj = join(dir, "package.json");
    if (!existsSync(pj)) await Deno.writeTextFile(pj, '{"private":true}\n');
    console.log(
      `installing pnpm@${TOOLS.pnpm} and bun@${TOOLS.bun} into ${dir}`,
    );
    const out = await new Deno.Command("npm", {
      args: [
        "install",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--save-exact",
        `pnpm@${TOOLS.pnpm}`,
        `bun@${TOOLS.bun}`,
      ],
      cwd: dir,
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) {
      throw new Error(
        `npm install pnpm bun in ${dir} failed: see above (set BPFPM_BENCH_TOOLS to another directory)`,
      );
    }
  }
  return { pnpm: bin("pnpm"), bun: bin("bun") };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs the benchmark; `--runs N` (default 5). */
export async function main(args: string[]): Promise<number> {
  const runsAt = args.indexOf("--runs");
  const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 5;
  const root = await Deno.makeTempDir({ prefix: "bpfpm-bench-install-" });
  const reg = await startRegistry({
    port: 0,
    db: join(root, "registry.db"),
    quiet: true,
  });
  try {
    const registry = reg.url + "/";
    const signup = await fetch(registry + "-/user/org.couchdb.user:bench", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        name: "bench",
        password: "bench-password-1",
        type: "user",
        roles: [],
      }),
    });
    const token = (await signup.json()).token as string;
    const deps: Record<string, string> = {};
    for (let i = 0; i < DEPS; i++) {
      const files: Record<string, string> = {};
      for (let f = 0; f < FILES_PER_PACKAGE; f++) {
        files[`lib/f${f}.js`] = `export const v${f} = ${
          JSON.stringify("x".repeat(1500 + i * 10 + f))
        };\n`;
      }
      await publish(registry, token, {
        name: `bench-dep-${i}`,
        version: "1.0.0",
      }, files);
      deps[`bench-dep-${i}`] = "^1.0.0";
    }
    await publish(registry, token, {
      name: "bench-app",
      version: "1.0.0",
      dependencies: deps,
    }, { "index.js": "export {};\n" });
    console.log(
      `registry ${registry}: bench-app with ${DEPS} dependencies of ${FILES_PER_PACKAGE} files each; ${runs} runs`,
    );

    const manifest = JSON.stringify({
      name: "bench-project",
      version: "1.0.0",
      private: true,
      dependencies: { "bench-app": "^1.0.0" },
    });
    const env = {
      ...Deno.env.toObject(),
      NO_COLOR: "1",
      npm_config_update_notifier: "false",
    };
    const bpfpmArgs = [
      ...bpfpmCli(),
      "install",
      "--yes",
      "--quiet",
    ];
    const npmArgs = (
      cache: string,
    ) => [
      "install",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      "--loglevel=error",
      "--cache",
      cache,
      "--registry",
      registry,
    ];
    const tools = await benchTools();
    /** One installer: its command line, and what a warm run removes first. */
    interface Installer {
      label: string;
      cmd: string;
      args: (r: number) => string[];
      env: (r: number) => Record<string, string>;
      installed: string[];
    }
    const installers: Installer[] = [
      {
        label: "bpfpm install",
        cmd: Deno.execPath(),
        args: () => bpfpmArgs,
        env: (r) => ({
          ...env,
          BPFPM_CACHE_DIR: join(root, `ours-cache-${r}`),
          BPFPM_CONFIG_DIR: join(root, "ours-config"),
          BPFPM_REGISTRY: registry,
        }),
        installed: ["bpf_modules", ".bpfpm"],
      },
      {
        label: "npm install",
        cmd: "npm",
        args: (r) => npmArgs(join(root, `npm-cache-${r}`)),
        env: () => env,
        installed: ["node_modules"],
      },
      {
        label: "pnpm install",
        cmd: tools.pnpm,
        args: (r) => [
          "install",
          "--ignore-scripts",
          "--reporter=silent",
          "--registry",
          registry,
          "--store-dir",
          join(root, `pnpm-store-${r}`),
          "--cache-dir",
          join(root, `pnpm-cache-${r}`),
        ],
        env: () => ({ ...env, CI: "1" }),
        installed: ["node_modules"],
      },
      {
        label: "bun install",
        cmd: tools.bun,
        args: () => [
          "install",
          "--ignore-scripts",
          "--silent",
          "--no-progress",
          "--registry",
          registry,
        ],
        env: (r) => ({
          ...env,
          BUN_INSTALL_CACHE_DIR: join(root, `bun-cache-${r}`),
          BUN_INSTALL: join(root, `bun-home-${r}`),
        }),
        installed: ["node_modules"],
      },
    ];
    const results = installers.map(() => ({
      cold: [] as Timing[],
      warm: [] as Timing[],
    }));
    // The floor under any bpfpm command: the Deno process starting the CLI.
    const floor: Timing[] = [];
    for (let r = 0; r < runs; r++) {
      floor.push(
        await timed(
          Deno.execPath(),
          [...bpfpmCli(), "--version"],
          root,
          env,
        ),
      );
      for (const [i, t] of installers.entries()) {
        const dir = join(root, `${t.label.split(" ")[0]}-${r}`);
        await Deno.mkdir(dir);
        await Deno.writeTextFile(join(dir, "package.json"), manifest);
        results[i].cold.push(await timed(t.cmd, t.args(r), dir, t.env(r)));
        for (const x of t.installed) {
          await Deno.remove(join(dir, x), { recursive: true });
        }
        results[i].warm.push(await timed(t.cmd, t.args(r), dir, t.env(r)));
      }
    }
    const wall = (xs: Timing[]) => median(xs.map((x) => x.wall));
    const cpu = (xs: Timing[]) =>
      xs.every((x) => x.cpu !== undefined)
        ? median(xs.map((x) => x.cpu!))
        : NaN;
    const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(0)).padStart(7);
    const load = (await Deno.readTextFile("/proc/loadavg").catch(() =>
      "?"
    )).split(" ")[0];
    console.log(
      `medians, ms (load average ${load} on ${navigator.hardwareConcurrency} CPUs)`,
    );
    console.log("                 cold wall  warm wall   cold cpu  warm cpu");
    for (const [i, t] of installers.entries()) {
      const r = results[i];
      console.log(
        `${t.label.padEnd(13)}    ${f(wall(r.cold))}    ${f(wall(r.warm))}    ${
          f(cpu(r.cold))
        }   ${f(cpu(r.warm))}`,
      );
    }
    console.log(
      `bpfpm --version  ${f(wall(floor))}               ${
        f(cpu(floor))
      }   (the CLI's start alone)`,
    );
    const [ours, npm, pnpm, bun] = results;
    const ratio = (a: Timing[], b: Timing[]) => (wall(a) / wall(b)).toFixed(3);
    const cpuRatio = (a: Timing[], b: Timing[]) => (cpu(a) / cpu(b)).toFixed(3);
    console.log(
      `cpu install cold_cpu_ratio=${
        cpuRatio(ours.cold, npm.cold)
      } warm_cpu_ratio=${cpuRatio(ours.warm, npm.warm)} cold_cpu_vs_pnpm=${
        cpuRatio(ours.cold, pnpm.cold)
      } warm_cpu_vs_pnpm=${cpuRatio(ours.warm, pnpm.warm)} cold_cpu_vs_bun=${
        cpuRatio(ours.cold, bun.cold)
      } warm_cpu_vs_bun=${cpuRatio(ours.warm, bun.warm)}`,
    );
    console.log(
      `result install cold_ratio=${ratio(ours.cold, npm.cold)} warm_ratio=${
        ratio(ours.warm, npm.warm)
      }`,
    );
    console.log(
      `result install_fastest cold_vs_pnpm=${
        ratio(ours.cold, pnpm.cold)
      } warm_vs_pnpm=${ratio(ours.warm, pnpm.warm)} cold_vs_bun=${
        ratio(ours.cold, bun.cold)
      } warm_vs_bun=${ratio(ours.warm, bun.warm)} (targets: each <= 1.0)`,
    );
    return 0;
  } finally {
    await reg.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
