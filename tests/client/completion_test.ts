/**
 * Shell completion as a user loads it (`source <(bpfpm completion bash)`) and `--help`
 * for every command.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bpfpm, CLI_ARGV, run, sandbox } from "./_helpers.ts";

const COMMAND_LIST = /^ {2}([a-z-]+) {2,}/gm;

async function commands(cwd: string, env: Record<string, string>) {
  const r = await bpfpm(["--help"], { cwd, env });
  assert.equal(r.code, 0);
  return [...r.stdout.matchAll(COMMAND_LIST)].map((m) => m[1]);
}

Deno.test("every command has --help: its usage line and exit 0; help NAME says the same", async () => {
  await using s = await sandbox();
  const names = await commands(s.project, s.env);
  for (const n of ["install", "run", "login", "adduser", "dist-tag", "owner"]) {
    assert.ok(names.includes(n), `${n} missing from --help: ${names}`);
  }
  await Promise.all(
    names.filter((n) => n !== "registry").map(async (n) => {
      const r = await bpfpm([n, "--help"], { cwd: s.project, env: s.env });
      assert.equal(r.code, 0, `${n} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^bpfpm ${n}\\b`), `${n} --help`);
      const h = await bpfpm(["help", n], { cwd: s.project, env: s.env });
      assert.equal(h.stdout, r.stdout);
    }),
  );
  const bad = await bpfpm(["help", "instal"], { cwd: s.project, env: s.env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^Unknown command "instal"; bpfpm --help/);
});

/** Runs bash with the completion loaded, completes `line`, prints COMPREPLY. */
async function complete(
  line: string,
  cwd: string,
  env: Record<string, string>,
) {
  const words = line.split(" ");
  const cmd = [...CLI_ARGV, "completion", "bash"].map((a) => `'${a}'`).join(
    " ",
  );
  const script = `source <(${cmd}) || exit 9
complete -p bpfpm || exit 8
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})
COMP_CWORD=${words.length - 1}
COMP_LINE='${line}'
COMP_POINT=${line.length}
_bpfpm bpfpm '${words.at(-1)}' '${words.at(-2) ?? ""}'
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = await run(["bash", "-c", script], {
    cwd,
    env: { ...env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
  });
  assert.equal(out.code, 0, out.stderr);
  const text = out.stdout;
  const [spec, ...reply] = text.trimEnd().split("\n");
  return { spec, reply: reply.filter(Boolean).sort() };
}

Deno.test("bash loads the completion and completes commands, options, subcommands and installed packages", async () => {
  await using s = await sandbox();
  let r = await complete("bpfpm ins", s.project, s.env);
  assert.equal(r.spec, "complete -F _bpfpm bpfpm");
  assert.deepEqual(r.reply, ["install"]);
  r = await complete("bpfpm de", s.project, s.env);
  assert.deepEqual(r.reply, ["deprecate"]);
  r = await complete("bpfpm install --fro", s.project, s.env);
  assert.deepEqual(r.reply, ["--frozen-lockfile"]);
  r = await complete("bpfpm i --y", s.project, s.env);
  assert.deepEqual(r.reply, ["--yes"]);
  r = await complete("bpfpm dist-tag ", s.project, s.env);
  assert.deepEqual(r.reply, ["add", "ls", "rm"]);
  r = await complete("bpfpm completion ", s.project, s.env);
  assert.deepEqual(r.reply, ["bash", "fish", "zsh"]);
  // Installed packages, found from a subdirectory of the project.
  await Deno.mkdir(join(s.project, "bpf_modules", "tcplife"), {
    recursive: true,
  });
  await Deno.mkdir(join(s.project, "bpf_modules", "tcpstates"));
  await Deno.mkdir(join(s.project, "src", "deep"), { recursive: true });
  r = await complete("bpfpm run tcp", join(s.project, "src", "deep"), s.env);
  assert.deepEqual(r.reply, ["tcplife", "tcpstates"]);
});

Deno.test({
  name: "zsh and fish accept their completion scripts",
  ignore: !existsSync("/usr/bin/zsh") || !existsSync("/usr/bin/fish"),
  async fn() {
    await using s = await sandbox();
    for (const [shell, check] of [["zsh", "zsh"], ["fish", "fish"]]) {
      const r = await bpfpm(["completion", shell], {
        cwd: s.project,
        env: s.env,
      });
      assert.equal(r.code, 0, r.stderr);
      const file = join(s.root, `completion.${shell}`);
      await Deno.writeTextFile(file, r.stdout);
      const syntax = await new Deno.Command(check, {
        args: ["-n", file],
        stderr: "piped",
      }).output();
      assert.equal(
        syntax.code,
        0,
        `${shell}: ${new TextDecoder().decode(syntax.stderr)}`,
      );
    }
    // fish: the loaded completions offer the commands.
    const cmd = CLI_ARGV;
    const fish = await new Deno.Command("fish", {
      args: [
        "--no-config",
        "-c",
        `${
          cmd.map((a) => `'${a}'`).join(" ")
        } completion fish | source; complete -C 'bpfpm dist'`,
      ],
      env: { ...s.env, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.match(new TextDecoder().decode(fish.stdout), /^dist-tag\t/m);
    const bad = await bpfpm(["completion", "tcsh"], {
      cwd: s.project,
      env: s.env,
    });
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /No completion for "tcsh"; use bpfpm completion bash, zsh or fish/,
    );
  },
});
