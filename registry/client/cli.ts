/**
 * The `bpfpm` command line: parses arguments, prints `--help` per command, and maps every
 * domain error to one readable line and a non-zero exit status.
 *
 * @module
 */
import { join, resolve } from "../../runtime/_path.ts";
import { type ArgOption, parseArgs } from "./_args.ts";
import { loadConfig } from "./config.ts";
import { ClientError, exitCodeOf } from "./errors.ts";
import type { CompletionCommand } from "./completion.ts";
import { readLockfile } from "./lockfile.ts";
import { findProjectDir, isApproved } from "./project.ts";
import { Ui } from "./ui.ts";
import { importLater } from "../../runtime/_import_later.ts";

/** A command's module, imported when the command runs (runtime/_import_later.ts says why). */
function later<M>(path: string): Promise<M> {
  return importLater<M>(new URL(path, import.meta.url));
}

type OptSpec = Record<string, ArgOption>;

interface Command {
  usage: string;
  summary: string;
  options: OptSpec;
  help: string[];
  /** Words its first argument may be (for completion). */
  subcommands?: string[];
  /** What its other arguments are (for completion); none by default. */
  args?: "packages" | "dirs";
}

const COMMON: OptSpec = {
  registry: { type: "string" },
  "fetch-timeout": { type: "string" },
  help: { type: "boolean", short: "h" },
  quiet: { type: "boolean", short: "q" },
};
const GLOBAL: OptSpec = {
  global: { type: "boolean", short: "g" },
  prefix: { type: "string" },
};
const INSTALLISH: OptSpec = {
  ...GLOBAL,
  yes: { type: "boolean", short: "y" },
  "frozen-lockfile": { type: "boolean" },
  offline: { type: "boolean" },
  "prefer-offline": { type: "boolean" },
  "require-signed": { type: "boolean" },
};

const COMMANDS: Record<string, Command> = {
  init: {
    usage: "bpfpm init [dir] [--name NAME]",
    summary: "scaffold a probe package",
    args: "dirs",
    options: { name: { type: "string" } },
    help: [
      "Writes package.json (with a bpf manifest), probe.bpf.c, mod.ts and README.md.",
    ],
  },
  install: {
    usage:
      "bpfpm install [pkg[@range|@tag]...] [--yes] [--frozen-lockfile] [--offline] [--require-signed]",
    summary: "install packages (no args: from package.json and bpfpm.lock)",
    args: "packages",
    options: INSTALLISH,
    help: [
      "Resolves ranges, verifies sha512 integrity and signatures, shows each package's grants",
      "and what changed since the locked version, then switches bpf_modules atomically.",
      "Accepting the grants is recorded: bpfpm run does not ask again until they change.",
      "  -g, --global        install as commands: <prefix>/bin/NAME runs the package as",
      "                      bpfpm run does (packages live in <prefix>/lib/bpfpm/global)",
      "  --prefix DIR        the prefix for -g (default BPFPM_PREFIX, else /usr/local)",
      "  --yes               accept new permissions without asking (needed when not on a TTY)",
      "  --frozen-lockfile   install bpfpm.lock exactly; fail if it does not match package.json",
      "  --offline           use only the cache;  --prefer-offline: skip metadata revalidation",
      "  --require-signed    refuse packages without a trusted publisher signature",
    ],
  },
  uninstall: {
    usage: "bpfpm uninstall <pkg...> [-g [--prefix DIR]]",
    summary: "remove packages",
    args: "packages",
    options: INSTALLISH,
    help: [
      "Removes the packages from package.json and reinstalls the rest atomically; with -g,",
      "removes global packages and their commands.",
    ],
  },
  update: {
    usage: "bpfpm update [pkg...]",
    summary: "move packages to the newest versions their ranges allow",
    args: "packages",
    options: INSTALLISH,
    help: ["Without names, updates every package."],
  },
  list: {
    usage: "bpfpm list [--json] [-g [--prefix DIR]]",
    summary: "list installed packages and their grants",
    options: { ...GLOBAL, json: { type: "boolean" } },
    help: [],
  },
  outdated: {
    usage: "bpfpm outdated [--json]",
    summary: "show direct dependencies with newer versions",
    options: { json: { type: "boolean" } },
    help: [],
  },
  run: {
    usage: "bpfpm run <pkg|dir> [--yes] [-g [--prefix DIR]] [-- args...]",
    summary: "run a probe with exactly its declared grants and Deno flags",
    args: "packages",
    options: {
      ...GLOBAL,
      yes: { type: "boolean", short: "y" },
      output: { type: "string" },
      fields: { type: "string" },
    },
    help: [
      "--output table|json|ndjson [--fields a,b] runs the probe from its manifest's declarations",
      "alone (no package code): declared events as they come, declared metrics at Ctrl-C;",
      "the declared parameters are its flags after --. RFC 3339 times, units in field names.",
      "Finds the project from a subdirectory (the nearest bpfpm.lock, bpf_modules or",
      "package.json); -g runs a global package. Grants accepted at install are not asked again.",
      "Starts `deno run --no-prompt <declared flags> --config <bpfpm>/deno.json <entry> args`",
      "with BPFPM_GRANTS set to the declared grants; asks first on a TTY unless --yes.",
    ],
  },
  agent: {
    usage: "bpfpm agent --config FILE [--yes]",
    summary:
      "run probes on this node, follow their dist-tags, export to Prometheus and OTLP",
    options: {
      config: { type: "string" },
      yes: { type: "boolean", short: "y" },
    },
    help: [
      "Installs each configured probe (locked, verified), runs it as bpfpm run does, restarts",
      "it on failure and upgrades it when its range or dist-tag moves (wider grants are held).",
      "Serves /metrics, /healthz and /status; pushes OTLP/HTTP. See docs/fleet.md.",
    ],
  },
  x: {
    usage: "bpfpm x [--yes] <pkg[@range]> [args...]",
    summary: "fetch, verify and run a package without a project (as npx does)",
    options: { yes: { type: "boolean", short: "y" } },
    help: [
      "Installs into a project of its own under the cache (integrity and signatures checked,",
      "grants shown and asked for on a terminal, or --yes) and runs it as bpfpm run does.",
      "Everything after the package goes to the package: bpfpm x tcplife -p 42",
    ],
  },
  info: {
    usage: "bpfpm info <pkg[@range]> [--json]",
    summary: "show a package's versions, tags and grants",
    options: { json: { type: "boolean" } },
    help: [],
  },
  search: {
    usage: "bpfpm search <text> [--json]",
    summary: "search the registry",
    options: { json: { type: "boolean" } },
    help: [],
  },
  publish: {
    usage: "bpfpm publish [dir] [--tag TAG] [--no-sign] [--dry-run]",
    summary: "validate, compile, bundle, sign and upload a probe package",
    args: "dirs",
    options: {
      tag: { type: "string" },
      "no-sign": { type: "boolean" },
      "dry-run": { type: "boolean" },
      json: { type: "boolean" },
    },
    help: [
      "Packs by `files` and ignore rules, validates the bpf manifest, compiles each BPF source",
      "(no root needed), bundles the entry with esbuild-wasm (bpf stays external), signs with",
      "your ed25519 publisher key and uploads. Prints files, sizes and grants.",
    ],
  },
  pack: {
    usage: "bpfpm pack [dir] [--out FILE]",
    summary: "write the tarball publish would upload",
    args: "dirs",
    options: {
      out: { type: "string" },
      "no-sign": { type: "boolean" },
      json: { type: "boolean" },
    },
    help: [],
  },
  login: {
    usage: "bpfpm login [--user NAME] [--password PW]",
    summary:
      "log in to an existing account and save its token for one registry",
    options: {
      user: { type: "string" },
      password: { type: "string" },
    },
    help: [
      "Asks for the user name and, with echo off, the password on a terminal; the password",
      "may also come from BPFPM_PASSWORD. An unknown user name is an error: create accounts",
      "with bpfpm adduser.",
    ],
  },
  adduser: {
    usage: "bpfpm adduser [--user NAME] [--password PW] [--email E]",
    summary: "create an account at the registry and save its token",
    options: {
      user: { type: "string" },
      password: { type: "string" },
      email: { type: "string" },
    },
    help: [
      "As npm adduser: the name must be new (log in to existing accounts with bpfpm login).",
      "Asks on a terminal as login does; the password may come from BPFPM_PASSWORD.",
    ],
  },
  "dist-tag": {
    usage:
      "bpfpm dist-tag add <pkg@version> <tag> | dist-tag rm <pkg> <tag> | dist-tag ls <pkg>",
    summary: "point, remove or list a package's dist-tags",
    subcommands: ["add", "rm", "ls"],
    options: { json: { type: "boolean" } },
    help: [
      "Tags name versions: bpfpm install pkg@stable installs what stable points at. latest",
      "cannot be removed, only moved.",
    ],
  },
  deprecate: {
    usage: "bpfpm deprecate <pkg[@range]> <message>",
    summary: "mark versions deprecated (an empty message undeprecates)",
    options: {},
    help: [
      'Installers see the message. Example: bpfpm deprecate tcplife@"<1.1" "use 1.1: IPv6 fix"',
    ],
  },
  owner: {
    usage:
      "bpfpm owner add <user> <pkg> | owner rm <user> <pkg> | owner ls <pkg>",
    summary: "manage who may publish a package",
    subcommands: ["add", "rm", "ls"],
    options: { json: { type: "boolean" } },
    help: [
      "Owners may publish, tag, deprecate and unpublish. The last cannot be removed.",
    ],
  },
  unpublish: {
    usage: "bpfpm unpublish <pkg@version> | unpublish <pkg> --force",
    summary:
      "remove a version (or, with --force, the whole package) from the registry",
    options: { force: { type: "boolean", short: "f" } },
    help: [
      "The registry may refuse old versions (deprecate those instead). Tags on the removed",
      "version move to the newest one left.",
    ],
  },
  logout: {
    usage: "bpfpm logout",
    summary: "revoke and forget the registry's token",
    options: {},
    help: [],
  },
  whoami: {
    usage: "bpfpm whoami",
    summary: "print the user the registry knows you as",
    options: {},
    help: [],
  },
  cache: {
    usage: "bpfpm cache verify|clean|dir",
    summary: "check or empty the content-addressed cache",
    subcommands: ["verify", "clean", "dir"],
    options: {},
    help: [
      "verify re-hashes every tarball and drops corrupt ones; clean removes the cache.",
    ],
  },
  trust: {
    usage: "bpfpm trust [keyid...] [--remove]",
    summary: "trust publisher keys for --require-signed (no args: list them)",
    options: { remove: { type: "boolean" } },
    help: [
      "Key ids are printed by bpfpm publish (signed by: ed25519:…). Without arguments, prints",
      "your own publisher key id (if you have published) and the keys you trust.",
    ],
  },
  keys: {
    usage:
      "bpfpm keys [--user NAME] [--json] | keys register | keys revoke <keyid>",
    summary: "list, register or revoke publisher keys at the registry",
    subcommands: ["register", "revoke"],
    options: { user: { type: "string" }, json: { type: "boolean" } },
    help: [
      "Without a subcommand, lists the keys registered to you (or NAME), revoked ones marked.",
      "register: registers your key now (publish does it anyway).",
      "revoke:   installers with --require-signed then refuse what the key signed; move",
      "          publisher_ed25519.pem out of your config dir so the next publish makes a new key.",
    ],
  },
  verify: {
    usage: "bpfpm verify [--json]",
    summary: "check installed files, integrity and signatures",
    options: { json: { type: "boolean" } },
    help: [],
  },
  doctor: {
    usage: "bpfpm doctor [--json]",
    summary: "check what BPF can do here and what is in the way",
    options: { json: { type: "boolean" } },
    help: [
      "Kernel and BTF, capabilities, tracefs and bpffs, the program, map and attach kinds that",
      "work (and why the others do not), the compiler and its PCH, the caches, and the registry",
      "(reachable, logged in as whom). Exits 1 when a check fails.",
    ],
  },
  "gen-types": {
    usage:
      "bpfpm gen-types <script.ts | probe.bpf.c | probe.bpf.o> [--out types.ts]",
    summary: "print TypeScript types for a probe's maps and structs",
    args: "dirs",
    options: { out: { type: "string" } },
    help: [
      "Reads the C a script passes to BPF.load (text: or file:), a .bpf.c, or a compiled .o, and",
      "prints interfaces for its map keys and values and the structs its C defines, for",
      "b.map<K, V>(name) and b.ringbuf<T>(name, { type }).",
    ],
  },
  completion: {
    usage: "bpfpm completion bash|zsh|fish",
    summary: "print a shell completion script",
    subcommands: ["bash", "zsh", "fish"],
    options: {},
    help: [
      "bash: source <(bpfpm completion bash)   (or save it in /etc/bash_completion.d/bpfpm)",
      "zsh:  source <(bpfpm completion zsh)    (or save it as _bpfpm in a directory on $fpath)",
      "fish: bpfpm completion fish | source    (or save it in ~/.config/fish/completions/bpfpm.fish)",
    ],
  },
  help: {
    usage: "bpfpm help [command]",
    summary: "show the commands, or one command's help",
    options: {},
    help: [],
  },
  registry: {
    usage: "bpfpm registry serve [--port 4873] [--db FILE]",
    summary: "run the bpfpm registry server",
    subcommands: ["serve"],
    options: {},
    help: [],
  },
};

const ALIASES: Record<string, string> = {
  i: "install",
  add: "install",
  rm: "uninstall",
  remove: "uninstall",
  ls: "list",
  up: "update",
  view: "info",
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    "bpfpm: install, lock, verify, run and publish BPF probe packages",
    "",
    "Usage: bpfpm <command> [options]   (bpfpm <command> --help for details)",
    "",
    ...Object.entries(COMMANDS).map(([k, c]) =>
      `  ${k.padEnd(width)}  ${c.summary}`
    ),
    "",
    "Common options: --registry URL (or BPFPM_REGISTRY), --fetch-timeout MS (or",
    "BPFPM_FETCH_TIMEOUT), --quiet, --help",
  ].join("\n");
}

/** Whether `target` is an installed package whose grants were accepted at install. */
async function approvedInstall(
  projectDir: string,
  target: string,
): Promise<boolean> {
  if (/^[./]/.test(target)) return false;
  const lock = readLockfile(projectDir);
  return lock ? await isApproved(projectDir, lock, target) : false;
}

function completionCommands(): CompletionCommand[] {
  return Object.entries(COMMANDS).map(([name, c]) => ({
    name,
    summary: c.summary,
    aliases: Object.keys(ALIASES).filter((a) => ALIASES[a] === name),
    options: Object.entries({ ...COMMON, ...c.options }).map(([long, o]) => ({
      long,
      short: o.short,
    })),
    subcommands: name === "help" ? Object.keys(COMMANDS) : c.subcommands ?? [],
    args: c.args ?? "none",
  }));
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return [
    `${c.usage}`,
    "",
    c.summary,
    ...(c.help.length ? ["", ...c.help] : []),
  ].join("\n");
}

/** Commands the `bpfpm` entry composes in from outside the client. */
export interface ComposedCommands {
  /** `bpfpm registry …`: the registry server's command (it lives in registry/server). */
  registry?: (args: string[]) => Promise<number>;
}

/**
 * Runs the CLI.
 *
 * @param argv the arguments after `bpfpm`
 * @param composed commands from outside the client (scripts/bpfpm.ts passes the server's)
 * @returns the exit status
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * Deno.exit(await main(["list", "--json"]));
 * ```
 */
export async function main(
  argv: string[],
  composed: ComposedCommands = {},
): Promise<number> {
  const [first, ...rest] = argv;
  if (!first || first === "--help" || first === "-h") {
    console.log(usage());
    return first ? 0 : 2;
  }
  if (first === "--version" || first === "-v") {
    console.log("0.1.0");
    return 0;
  }
  const name = ALIASES[first] ?? first;
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(
      `Unknown command ${
        JSON.stringify(first)
      }; bpfpm --help lists the commands`,
    );
    return 2;
  }
  if (name === "registry") {
    if (!composed.registry) {
      throw new ClientError(
        "ENOSERVER",
        "This bpfpm has no registry server: run scripts/bpfpm.ts, which composes it in",
      );
    }
    return await composed.registry(rest);
  }
  let dash = rest.indexOf("--");
  if (name === "x") {
    // Everything after the package belongs to the package, as with npx.
    const takesValue = new Set(
      Object.entries({ ...COMMON, ...cmd.options }).filter(([, o]) =>
        o.type === "string"
      ).map(([k]) => `--${k}`),
    );
    for (let i = 0; i < rest.length && (dash < 0 || i < dash); i++) {
      if (takesValue.has(rest[i])) i++;
      else if (!rest[i].startsWith("-")) {
        rest.splice(i + 1, 0, "--");
        dash = i + 1;
        break;
      }
    }
  }
  const own = dash < 0 ? rest : rest.slice(0, dash);
  const passthrough = dash < 0 ? [] : rest.slice(dash + 1);
  let parsed;
  try {
    parsed = parseArgs(own, { ...COMMON, ...cmd.options });
  } catch (e) {
    console.error(
      `${
        (e as Error).message.split("\n")[0].split(/\.\s/)[0].replace(/\.$/, "")
      }; bpfpm ${name} --help shows the options`,
    );
    return 2;
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  const pos = parsed.positionals;
  if (v.help) {
    console.log(commandHelp(name));
    return 0;
  }
  if (name === "help") {
    const about = pos[0] && (ALIASES[pos[0]] ?? pos[0]);
    if (about && !COMMANDS[about]) {
      console.error(
        `Unknown command ${
          JSON.stringify(pos[0])
        }; bpfpm --help lists the commands`,
      );
      return 2;
    }
    console.log(about ? commandHelp(about) : usage());
    return 0;
  }
  if (name === "completion") {
    if (pos.length !== 1) {
      console.error(`usage: ${COMMANDS.completion.usage}`);
      return 2;
    }
    const { completionScript } = await later<typeof import("./completion.ts")>(
      "./completion.ts",
    );
    try {
      Deno.stdout.writeSync(
        new TextEncoder().encode(
          completionScript(pos[0], completionCommands()),
        ),
      );
    } catch (e) {
      console.error(`bpfpm completion: ${(e as Error).message}`);
      return 2;
    }
    return 0;
  }
  const ui = new Ui({ quiet: v.quiet as boolean | undefined });
  const json = (x: unknown) => ui.out(JSON.stringify(x, null, 2));
  try {
    const layout = v.global || v.prefix
      ? (await later<typeof import("./global.ts")>("./global.ts"))
        .globalLayout(v.prefix as string | undefined)
      : undefined;
    const config = loadConfig({
      cwd: layout?.projectDir ?? findProjectDir(Deno.cwd()),
      registry: v.registry as string | undefined,
      fetchTimeout: v["fetch-timeout"] as string | undefined,
    });
    // Global packages and their cache belong to the prefix, not to whoever runs them.
    if (layout) config.cacheDir = layout.cacheDir;
    switch (name) {
      case "init": {
        const { initPackage } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const dir = resolve(pos[0] ?? ".");
        const files = initPackage(dir, v.name as string | undefined);
        ui.out(`Created ${files.join(", ")} in ${dir}`);
        return 0;
      }
      case "install":
      case "uninstall":
      case "update": {
        if (name === "uninstall" && !pos.length) {
          throw new TypeError("uninstall needs at least one package name");
        }
        if (layout && name === "install" && !pos.length) {
          throw new TypeError(
            "install -g needs package names: bpfpm install -g tcplife",
          );
        }
        const t0 = performance.now();
        if (layout && name === "install") {
          const { parseSpec } = await later<typeof import("./resolve.ts")>(
            "./resolve.ts",
          );
          const g = await later<typeof import("./global.ts")>("./global.ts");
          for (const p of pos) g.checkLauncher(layout, parseSpec(p).name);
        }
        const { install } = await later<typeof import("./install.ts")>(
          "./install.ts",
        );
        const { recordApprovals } = await later<typeof import("./project.ts")>(
          "./project.ts",
        );
        const r = await install(config, {
          add: name === "install" ? pos : undefined,
          remove: name === "uninstall" ? pos : undefined,
          update: name === "update" ? (pos.length ? pos : "all") : undefined,
          yes: v.yes as boolean,
          frozenLockfile: v["frozen-lockfile"] as boolean,
          offline: v.offline as boolean,
          preferOffline: v["prefer-offline"] as boolean,
          requireSigned: v["require-signed"] as boolean,
          ui,
        });
        await recordApprovals(
          config.projectDir,
          r.lock,
          !!v.yes || ui.confirmed,
        );
        if (name !== "uninstall") {
          const { packageKernelReport } = await later<
            typeof import("./kernel_check.ts")
          >("./kernel_check.ts");
          const { parseSpec } = await later<typeof import("./resolve.ts")>(
            "./resolve.ts",
          );
          for (const p of pos) {
            const dir = join(
              config.projectDir,
              "bpf_modules",
              parseSpec(p).name,
            );
            const kernel = await packageKernelReport(dir);
            for (const line of [...kernel.problems, ...kernel.notes]) {
              ui.warn(line);
            }
          }
        }
        if (layout) {
          const { parseSpec } = await later<typeof import("./resolve.ts")>(
            "./resolve.ts",
          );
          const g = await later<typeof import("./global.ts")>("./global.ts");
          for (const p of pos.map((x) => parseSpec(x).name)) {
            if (name === "uninstall") {
              if (g.removeLauncher(layout, p)) {
                ui.info(`removed ${join(layout.binDir, g.commandName(p))}`);
              }
            } else {
              ui.info(`${g.writeLauncher(layout, p)} runs ${p}`);
            }
          }
          const path = (Deno.env.get("PATH") ?? "").split(":");
          if (name === "install" && !path.includes(layout.binDir)) {
            ui.warn(
              `${layout.binDir} is not on PATH: add it (export PATH="${layout.binDir}:$PATH") to run the commands by name`,
            );
          }
        }
        for (const a of r.added) ui.info(`+ ${a}`);
        for (const a of r.removed) ui.info(`- ${a}`);
        const n = Object.keys(r.lock.packages).length;
        ui.info(
          `${n} package${
            n === 1 ? "" : "s"
          } installed (${r.downloaded} downloaded) in ${
            Math.round(performance.now() - t0)
          } ms`,
        );
        return 0;
      }
      case "list": {
        const { listInstalled } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const list = listInstalled(config);
        if (v.json) json(list);
        else {
          for (const p of list) {
            ui.out(
              `${p.direct ? "" : "  "}${p.name}@${p.version}${
                p.grants.length ? "  [" + p.grants.join(", ") + "]" : ""
              }`,
            );
          }
        }
        return 0;
      }
      case "outdated": {
        const { outdated } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const rows = await outdated(config);
        if (v.json) json(rows);
        else {for (const r of rows) {
            ui.out(
              `${r.name}  current ${r.current ?? "-"}  wanted ${
                r.wanted ?? "-"
              }  latest ${r.latest ?? "-"}`,
            );
          }}
        return 0;
      }
      case "run": {
        if (!pos[0]) {
          throw new TypeError(
            "run needs a package name or directory: bpfpm run <pkg|dir> [-- args]",
          );
        }
        const target = /^[./]/.test(pos[0])
          ? resolve(Deno.cwd(), pos[0])
          : pos[0];
        // Both check the kernel for the package (checkKernel): a sandboxed run while its
        // child starts.
        if (v.output || v.fields) {
          const { runDeclared } = await later<
            typeof import("../render/mod.ts")
          >("../render/mod.ts");
          return await runDeclared(config, target, [
            ...pos.slice(1),
            ...passthrough,
          ], {
            output: (v.output ?? "table") as "table",
            fields: (v.fields as string | undefined)?.split(",").filter(
              Boolean,
            ),
            yes: !!v.yes || await approvedInstall(config.projectDir, target),
            ui,
          });
        }
        const { runPackage } = await later<typeof import("./run.ts")>(
          "./run.ts",
        );
        return await runPackage(config, target, [
          ...pos.slice(1),
          ...passthrough,
        ], {
          yes: !!v.yes || await approvedInstall(config.projectDir, target),
          ui,
        });
      }
      case "agent": {
        const { agentCommand } = await later<typeof import("../agent/mod.ts")>(
          "../agent/mod.ts",
        );
        return await agentCommand({
          config: v.config as string | undefined,
          yes: !!v.yes,
          ui,
        });
      }
      case "gen-types": {
        const { main } = await later<
          typeof import("../../runtime/btf/gen_types_cli.ts")
        >("../../runtime/btf/gen_types_cli.ts");
        return await main([
          ...pos,
          ...(v.out !== undefined ? ["--out", v.out as string] : []),
        ]);
      }
      case "doctor": {
        const { doctor, formatReport } = await later<
          typeof import("./doctor.ts")
        >("./doctor.ts");
        const checks = await doctor(config);
        if (v.json) json(checks);
        else ui.out(formatReport(checks));
        return checks.some((c) => c.status === "fail") ? 1 : 0;
      }
      case "x": {
        if (!pos[0]) {
          throw new TypeError(`usage: ${COMMANDS.x.usage}`);
        }
        const { execPackage } = await later<typeof import("./exec.ts")>(
          "./exec.ts",
        );
        return await execPackage(config, pos[0], [
          ...pos.slice(1),
          ...passthrough,
        ], { yes: v.yes as boolean, ui });
      }
      case "info": {
        if (!pos[0]) throw new TypeError("info needs a package name");
        const { info } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const i = await info(config, pos[0]);
        if (v.json) json(i);
        else {
          ui.out(
            `${i.name}@${i.version}${
              i.description ? ": " + i.description : ""
            }`,
          );
          ui.out(
            `dist-tags: ${
              Object.entries(i["dist-tags"] as Record<string, string>).map((
                [k, x],
              ) => `${k}=${x}`).join(" ")
            }`,
          );
          ui.out(`versions: ${(i.versions as string[]).join(", ")}`);
          for (const g of i.grants as string[]) ui.out(`  ${g}`);
          ui.out(`tarball: ${i.tarball}`);
        }
        return 0;
      }
      case "search": {
        if (!pos.length) throw new TypeError("search needs some text");
        const { search } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const hits = await search(config, pos.join(" "));
        if (v.json) json(hits);
        else if (!hits.length) {
          ui.out(
            `No packages match ${
              JSON.stringify(pos.join(" "))
            } at ${config.registry}`,
          );
        } else {for (const h of hits) {
            ui.out(
              `${h.name}@${h.version}${
                h.description ? "  " + h.description : ""
              }`,
            );
          }}
        return 0;
      }
      case "publish":
      case "pack": {
        const { pack, publish, stopBundler } = await later<
          typeof import("./publish.ts")
        >("./publish.ts");
        const dir = resolve(pos[0] ?? ".");
        try {
          if (name === "pack") {
            const r = await pack(config, dir, {
              sign: !v["no-sign"],
              out: v.out as string | undefined,
              write: true,
              ui,
            });
            if (v.json) json({ ...r.summary, path: r.path });
            else ui.out(r.path!);
            return 0;
          }
          const r = await publish(config, dir, {
            tag: v.tag as string | undefined,
            sign: !v["no-sign"],
            dryRun: v["dry-run"] as boolean,
            ui,
          });
          if (v.json) json(r);
          return 0;
        } finally {
          await stopBundler();
        }
      }
      case "login":
      case "adduser": {
        if (pos.length) {
          throw new TypeError(
            `${name} takes no positional arguments; pass the name with --user NAME`,
          );
        }
        const user = (v.user as string | undefined) ?? ui.ask("Username:");
        if (!user) {
          throw new TypeError(
            `${name} needs --user NAME (or a terminal to ask on)`,
          );
        }
        const password = (v.password as string | undefined) ??
          Deno.env.get("BPFPM_PASSWORD") ?? await ui.secret("Password:");
        if (!password) {
          throw new TypeError(
            `${name} needs a password: type it on a terminal, or set BPFPM_PASSWORD`,
          );
        }
        const commands = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        if (name === "login") {
          await commands.login(config, user, password);
          ui.out(`Logged in as ${user} at ${config.registry}`);
        } else {
          await commands.adduser(config, user, password, {
            email: v.email as string | undefined,
          });
          ui.out(`Created ${user} at ${config.registry} and logged in`);
        }
        return 0;
      }
      case "dist-tag": {
        const m = await later<typeof import("./maintain.ts")>("./maintain.ts");
        const [sub, a, b] = pos;
        if (sub === "add" && a && b && pos.length === 3) {
          await m.distTagAdd(config, a, b);
          ui.out(`+${b}: ${a}`);
        } else if ((sub === "rm" || sub === "remove") && a && b) {
          await m.distTagRemove(config, a, b);
          ui.out(`-${b}: ${a}`);
        } else if ((sub === "ls" || sub === "list") && a && pos.length === 2) {
          const { parseSpec } = await later<typeof import("./resolve.ts")>(
            "./resolve.ts",
          );
          const tags = await m.distTagList(config, parseSpec(a).name);
          if (v.json) json(tags);
          else for (const [t, x] of Object.entries(tags)) ui.out(`${t}: ${x}`);
        } else {
          throw new TypeError(`usage: ${COMMANDS[name].usage}`);
        }
        return 0;
      }
      case "deprecate": {
        if (pos.length !== 2) {
          throw new TypeError(`usage: ${COMMANDS[name].usage}`);
        }
        const { deprecate } = await later<typeof import("./maintain.ts")>(
          "./maintain.ts",
        );
        const changed = await deprecate(config, pos[0], pos[1]);
        ui.out(
          changed.length
            ? `${pos[1] ? "Deprecated" : "Undeprecated"} ${changed.join(", ")}`
            : "Nothing to change",
        );
        return 0;
      }
      case "owner": {
        const m = await later<typeof import("./maintain.ts")>("./maintain.ts");
        const [sub, a, b] = pos;
        let owners;
        if ((sub === "add" || sub === "rm" || sub === "remove") && a && b) {
          owners = await (sub === "add" ? m.ownerAdd : m.ownerRemove)(
            config,
            a,
            b,
          );
          ui.info(`${sub === "add" ? "+" : "-"} ${a} (${b})`);
        } else if ((sub === "ls" || sub === "list") && a && pos.length === 2) {
          owners = await m.ownerList(config, a);
        } else {
          throw new TypeError(`usage: ${COMMANDS[name].usage}`);
        }
        if (v.json) json(owners);
        else {
          for (const o of owners) {
            ui.out(`${o.name}${o.email ? ` <${o.email}>` : ""}`);
          }
        }
        return 0;
      }
      case "unpublish": {
        if (pos.length !== 1) {
          throw new TypeError(`usage: ${COMMANDS[name].usage}`);
        }
        const { unpublish } = await later<typeof import("./maintain.ts")>(
          "./maintain.ts",
        );
        const gone = await unpublish(config, pos[0], {
          force: v.force as boolean,
        });
        const { parseSpec } = await later<typeof import("./resolve.ts")>(
          "./resolve.ts",
        );
        for (const g of gone) ui.out(`- ${parseSpec(pos[0]).name}@${g}`);
        return 0;
      }
      case "logout": {
        const { logout } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        ui.out(
          (await logout(config))
            ? `Logged out of ${config.registry}`
            : `Not logged in to ${config.registry}`,
        );
        return 0;
      }
      case "whoami": {
        const { whoami } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        ui.out(await whoami(config));
        return 0;
      }
      case "cache": {
        const { ContentCache } = await later<typeof import("./cache.ts")>(
          "./cache.ts",
        );
        const cache = new ContentCache(config.cacheDir);
        if (pos[0] === "verify") {
          const r = await cache.verify();
          ui.out(
            `Checked ${r.checked} tarballs, removed ${r.removed} corrupt or orphaned entries`,
          );
        } else if (pos[0] === "clean") {
          cache.clean();
          ui.out(`Removed ${config.cacheDir}`);
        } else if (pos[0] === "dir") ui.out(config.cacheDir);
        else throw new TypeError("cache needs verify, clean or dir");
        return 0;
      }
      case "trust": {
        const { publisherKey, setTrustedKeys, trustedKeys } = await later<
          typeof import("./signatures.ts")
        >("./signatures.ts");
        if (pos.length) {
          const keys = setTrustedKeys(
            config.configDir,
            pos,
            v.remove as boolean,
          );
          ui.info(
            `${keys.length} trusted publisher key${
              keys.length === 1 ? "" : "s"
            }`,
          );
          return 0;
        }
        const own = publisherKey(config.configDir, false);
        if (own) ui.out(`own: ${own.keyid}`);
        for (const k of [...trustedKeys(config.configDir)].sort()) {
          ui.out(`trusted: ${k}`);
        }
        return 0;
      }
      case "keys": {
        const commands = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        if (pos[0] === "register") {
          const { registerPublisherKey } = await later<
            typeof import("./publish.ts")
          >("./publish.ts");
          const { RegistryClient } = await later<
            typeof import("./registry.ts")
          >("./registry.ts");
          const r = await registerPublisherKey(
            new RegistryClient(config),
            config,
            config.registry,
            ui,
          );
          if (r === "skipped") {
            throw new ClientError(
              "EAUTH",
              `Not logged in to ${config.registry}; run bpfpm login --registry ${config.registry}`,
            );
          }
          if (r === "known") ui.info("your publisher key is registered");
          return r === "unsupported" ? 1 : 0;
        }
        if (pos[0] === "revoke") {
          if (pos.length !== 2) {
            throw new TypeError("keys revoke needs one key id");
          }
          const k = await commands.revokePublisherKey(config, pos[1]);
          ui.out(`revoked: ${k.keyid} (${k.revoked ?? "now"})`);
          return 0;
        }
        if (pos.length) {
          throw new TypeError(
            `Unknown keys subcommand ${pos[0]}: use register or revoke`,
          );
        }
        const keys = await commands.listPublisherKeys(
          config,
          v.user as string | undefined,
        );
        if (v.json) json(keys);
        else {
          for (const k of keys) {
            ui.out(
              `${k.keyid}  ${k.user}  ${k.created}${
                k.revoked ? `  revoked ${k.revoked}` : ""
              }`,
            );
          }
        }
        return 0;
      }
      case "verify": {
        const { verifyInstalled } = await later<typeof import("./commands.ts")>(
          "./commands.ts",
        );
        const r = await verifyInstalled(config);
        if (v.json) json(r);
        else {
          for (const p of r.problems) ui.out(`${p.spec}: ${p.problem}`);
          ui.out(
            `${r.checked} packages checked: ${r.problems.length} problems, ${r.registrySigned} registry-signed, ${r.publisherSigned} publisher-signed`,
          );
          if (r.problems.length) {
            ui.info(
              "To repair: bpfpm cache verify, then bpfpm install --frozen-lockfile",
            );
          }
        }
        return r.problems.length ? 1 : 0;
      }
    }
    return 2;
  } catch (e) {
    // One line with the status docs/client.md gives (a bad argument, a TypeError, is a
    // usage error); anything else is a bug: its stack.
    const code = exitCodeOf(e) ??
      (e instanceof TypeError ? 2 : e instanceof RangeError ? 1 : undefined);
    if (code === undefined) throw e;
    console.error(`bpfpm ${name}: ${(e as Error).message}`);
    return code;
  }
}
