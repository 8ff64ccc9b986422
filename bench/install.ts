/**
 * `deno task bench install`: installs a package with 10 dependencies from a local registry
 * (the bpfpm registry, in this process, on 127.0.0.1), cold (empty cache, no lockfile) and
 * warm (cache filled, lockfile present, install dir removed), with `bpfpm install` and with
 * `npm install` of the same package.json from the same registry, in the same run. Both are
 * timed as whole CLI processes. Prints medians and ends with
 * `result install cold_ratio=… warm_ratio=…` (ours / npm).
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
    const results = {
      ours: { cold: [] as Timing[], warm: [] as Timing[] },
      npm: { cold: [] as Timing[], warm: [] as Timing[] },
    };
    for (let r = 0; r < runs; r++) {
      // Ours.
      const oursDir = join(root, `ours-${r}`);
      await Deno.mkdir(oursDir);
      await Deno.writeTextFile(join(oursDir, "package.json"), manifest);
      const oursEnv = {
        ...env,
        BPFPM_CACHE_DIR: join(root, `ours-cache-${r}`),
        BPFPM_CONFIG_DIR: join(root, "ours-config"),
        BPFPM_REGISTRY: registry,
      };
      results.ours.cold.push(
        await timed(Deno.execPath(), bpfpmArgs, oursDir, oursEnv),
      );
      await Deno.remove(join(oursDir, "bpf_modules"));
      await Deno.remove(join(oursDir, ".bpfpm"), { recursive: true });
      results.ours.warm.push(
        await timed(Deno.execPath(), bpfpmArgs, oursDir, oursEnv),
      );
      // npm.
      const npmDir = join(root, `npm-${r}`);
      await Deno.mkdir(npmDir);
      await Deno.writeTextFile(join(npmDir, "package.json"), manifest);
      const npmCache = join(root, `npm-cache-${r}`);
      results.npm.cold.push(await timed("npm", npmArgs(npmCache), npmDir, env));
      await Deno.remove(join(npmDir, "node_modules"), { recursive: true });
      results.npm.warm.push(await timed("npm", npmArgs(npmCache), npmDir, env));
    }
    const wall = (xs: Timing[]) => median(xs.map((x) => x.wall));
    const cpu = (xs: Timing[]) =>
      xs.every((x) => x.cpu !== undefined)
        ? median(xs.map((x) => x.cpu!))
        : NaN;
    const oursCold = wall(results.ours.cold);
    const oursWarm = wall(results.ours.warm);
    const npmCold = wall(results.npm.cold);
    const npmWarm = wall(results.npm.warm);
    const f = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(0)).padStart(7);
    const load = (await Deno.readTextFile("/proc/loadavg").catch(() =>
      "?"
    )).split(" ")[0];
    console.log(
      `medians, ms (load average ${load} on ${navigator.hardwareConcurrency} CPUs)`,
    );
    console.log("                 cold wall  warm wall   cold cpu  warm cpu");
    for (
      const [label, r] of [["bpfpm install", results.ours], [
        "npm install  ",
        results.npm,
      ]] as const
    ) {
      console.log(
        `${label}    ${f(wall(r.cold))}    ${f(wall(r.warm))}    ${
          f(cpu(r.cold))
        }   ${f(cpu(r.warm))}`,
      );
    }
    console.log(
      `cpu install cold_cpu_ratio=${
        (cpu(results.ours.cold) / cpu(results.npm.cold)).toFixed(3)
      } warm_cpu_ratio=${
        (cpu(results.ours.warm) / cpu(results.npm.warm)).toFixed(3)
      }`,
    );
    console.log(
      `result install cold_ratio=${
        (oursCold / npmCold).toFixed(3)
      } warm_ratio=${(oursWarm / npmWarm).toFixed(3)}`,
    );
    return 0;
  } finally {
    await reg.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
