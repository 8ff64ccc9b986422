/**
 * Shell completion for `bpfpm`: `bpfpm completion bash|zsh|fish` prints a script built
 * from the CLI's own command table (names, aliases, options, subcommands), so a new
 * command or flag completes without editing the scripts.
 *
 * @module
 */

/** What completion needs to know about one command. */
export interface CompletionCommand {
  /** The command's name. */
  name: string;
  /** One line saying what it does. */
  summary: string;
  /** Other names for it. */
  aliases: string[];
  /** Its options: long name and optional one-letter short name. */
  options: { long: string; short?: string }[];
  /** Words accepted as its first argument (`cache verify`, `dist-tag add`, …). */
  subcommands: string[];
  /** What its other arguments are: installed packages, directories, or anything. */
  args: "packages" | "dirs" | "none";
}

/** The shells completion scripts are made for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;
/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

const flags = (c: CompletionCommand) =>
  c.options.flatMap((
    o,
  ) => [`--${o.long}`, ...(o.short ? [`-${o.short}`] : [])]);

// Installed package names: the project's bpf_modules (the nearest one up the tree).
const BASH_PACKAGES =
  `local d=$PWD; while [ "$d" != / ] && [ ! -d "$d/bpf_modules" ]; do d=$(dirname "$d"); done; ` +
  `[ -d "$d/bpf_modules" ] && (cd "$d/bpf_modules" && ls -d * @*/* 2>/dev/null)`;

function bash(cmds: CompletionCommand[]): string {
  const names = cmds.flatMap((c) => [c.name, ...c.aliases]);
  const cases = cmds.map((c) =>
    `    ${[c.name, ...c.aliases].join("|")}) opts="${
      flags(c).join(" ")
    }"; subs="${c.subcommands.join(" ")}"; args=${c.args} ;;`
  );
  return `# bpfpm completion for bash: source <(bpfpm completion bash)
_bpfpm() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} opts="" subs="" args=none
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${names.join(" ")} --help --version" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases.join("\n")}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ] && [ -n "$subs" ]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [ "$args" = packages ]; then
    COMPREPLY=($(compgen -W "$(${BASH_PACKAGES})" -- "$cur") $(compgen -d -- "$cur"))
  elif [ "$args" = dirs ]; then
    COMPREPLY=($(compgen -d -- "$cur"))
  fi
}
complete -F _bpfpm bpfpm
`;
}

const zq = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

function zsh(cmds: CompletionCommand[]): string {
  const described = cmds.flatMap((c) =>
    [c.name, ...c.aliases].map((n) => zq(`${n}:${c.summary}`))
  );
  const cases = cmds.map((c) =>
    `    ${[c.name, ...c.aliases].join("|")}) opts=(${
      flags(c).join(" ")
    }); subs=(${c.subcommands.join(" ")}); args=${c.args} ;;`
  );
  return `#compdef bpfpm
# bpfpm completion for zsh: source <(bpfpm completion zsh)
_bpfpm() {
  local -a cmds opts subs
  local args=none
  cmds=(${described.join(" ")})
  if (( CURRENT == 2 )); then
    _describe 'bpfpm command' cmds
    return
  fi
  case $words[2] in
${cases.join("\n")}
  esac
  if [[ $PREFIX == -* ]]; then
    compadd -- $opts
  elif (( CURRENT == 3 && $#subs )); then
    compadd -- $subs
  elif [[ $args == packages ]]; then
    local d=$PWD
    while [[ $d != / && ! -d $d/bpf_modules ]]; do d=\${d:h}; done
    [[ -d $d/bpf_modules ]] && compadd -- $d/bpf_modules/*(N:t) $d/bpf_modules/@*/*(N:h:t/:t)
    _files -/
  elif [[ $args == dirs ]]; then
    _files -/
  fi
}
if (( $+functions[compdef] )); then compdef _bpfpm bpfpm; fi
`;
}

const fq = (s: string) =>
  `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;

function fish(cmds: CompletionCommand[]): string {
  const lines = [
    "# bpfpm completion for fish: bpfpm completion fish | source",
    "complete -c bpfpm -f",
  ];
  for (const c of cmds) {
    for (const n of [c.name, ...c.aliases]) {
      lines.push(
        `complete -c bpfpm -n __fish_use_subcommand -a ${fq(n)} -d ${
          fq(c.summary)
        }`,
      );
    }
    const seen = `'__fish_seen_subcommand_from ${
      [c.name, ...c.aliases].join(" ")
    }'`;
    for (const o of c.options) {
      lines.push(
        `complete -c bpfpm -n ${seen} -l ${o.long}${
          o.short ? ` -s ${o.short}` : ""
        }`,
      );
    }
    if (c.subcommands.length) {
      lines.push(
        `complete -c bpfpm -n ${seen} -a ${fq(c.subcommands.join(" "))}`,
      );
    }
    if (c.args === "packages") {
      lines.push(
        `complete -c bpfpm -n ${seen} -a '(command ls bpf_modules 2>/dev/null)' -F`,
      );
    } else if (c.args === "dirs") {
      lines.push(`complete -c bpfpm -n ${seen} -F`);
    }
  }
  return lines.join("\n") + "\n";
}

/**
 * The completion script for one shell.
 *
 * @example
 * ```ts
 * import { completionScript } from "./completion.ts";
 * console.log(completionScript("bash", [{
 *   name: "install", summary: "install packages", aliases: ["i"],
 *   options: [{ long: "yes", short: "y" }], subcommands: [], args: "packages",
 * }]));
 * ```
 */
export function completionScript(
  shell: string,
  commands: CompletionCommand[],
): string {
  switch (shell) {
    case "bash":
      return bash(commands);
    case "zsh":
      return zsh(commands);
    case "fish":
      return fish(commands);
  }
  throw new TypeError(
    `No completion for ${
      JSON.stringify(shell)
    }; use bpfpm completion bash, zsh or fish`,
  );
}
