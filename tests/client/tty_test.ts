/** On a terminal (a pty from util-linux `script`), install asks and draws a progress bar. */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createTarball } from "../../registry/pack/mod.ts";
import { fakeRegistry } from "./_fake_registry.ts";
import { CLI_ARGV, sandbox } from "./_helpers.ts";

async function onTty(
  cmd: string[],
  answer: string,
  cwd: string,
  env: Record<string, string>,
) {
  const line = cmd.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", line, "/dev/null"],
    cwd,
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  // Answer once the question is on screen; script passes our bytes to the pty.
  await new Promise((r) => setTimeout(r, 1000));
  await w.write(new TextEncoder().encode(answer));
  await w.close();
  const out = await child.output();
  return {
    code: out.code,
    text: new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr),
  };
}

Deno.test({
  name:
    "install asks on a TTY and draws progress; no means nothing is installed",
  ignore: !existsSync("/usr/bin/script"),
  async fn() {
    const pj = {
      name: "ttyprobe",
      version: "1.0.0",
      bpf: {
        entry: "mod.ts",
        grants: {
          attach: [{ kind: "tracepoint", target: "sched:sched_switch" }],
        },
        deno: ["--allow-net=127.0.0.1"],
      },
    };
    const tgz = await createTarball({
      "package.json": JSON.stringify(pj),
      "mod.ts": "console.log(1)",
    });
    await using reg = await fakeRegistry([{
      name: "ttyprobe",
      version: "1.0.0",
      tarball: tgz,
    }]);
    await using s = await sandbox(reg.url);
    const cmd = [
      ...CLI_ARGV,
      "install",
      "ttyprobe",
    ];
    const env = {
      ...s.env,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      TERM: "dumb",
      NO_COLOR: "1",
    };
    const no = await onTty(cmd, "n\n", s.project, env);
    assert.match(no.text, /attach tracepoint sched:sched_switch/);
    assert.match(no.text, /Grant these permissions\? \[y\/N\]/);
    assert.match(no.text, /Permissions not accepted; nothing was installed/);
    assert.ok(!existsSync(join(s.project, "bpf_modules")));
    const yes = await onTty(cmd, "y\n", s.project, env);
    assert.equal(yes.code, 0, yes.text);
    assert.match(yes.text, /fetch \[#+\] 1\/1/);
    assert.equal(
      JSON.parse(
        await Deno.readTextFile(
          join(s.project, "bpf_modules", "ttyprobe", "package.json"),
        ),
      ).name,
      "ttyprobe",
    );
  },
});
