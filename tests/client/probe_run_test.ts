/**
 * The whole path with the real runtime and kernel: `bpfpm init` scaffolds a probe,
 * `publish` compiles and bundles it into the bpfpm registry, `install` fetches it, and
 * `run` starts it with its grants, which the runtime enforces.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startRegistry } from "../../registry/server/cli.ts";
import { bpfpm, sandbox } from "./_helpers.ts";

Deno.test({
  name:
    "init, publish, install and run a real probe; grants it lacks are refused",
  ignore: Deno.uid() !== 0,
  async fn() {
    const reg = await startRegistry({ port: 0, db: ":memory:", quiet: true });
    try {
      await using s = await sandbox(reg.url + "/");
      const cli = async (args: string[], expect = 0) => {
        const r = await bpfpm(args, { cwd: s.project, env: s.env });
        assert.equal(
          r.code,
          expect,
          `bpfpm ${args.join(" ")}: ${r.stderr}${r.stdout}`,
        );
        return r;
      };
      const pkg = join(s.root, "execcount");
      await cli(["init", pkg]);
      await cli([
        "adduser",
        "--user",
        "probe-author",
        "--password",
        "probe-author-pw",
      ]);
      await cli(["publish", pkg]);
      await cli(["install", "execcount", "--yes"]);

      const run = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          "--config",
          join(new URL("../../", import.meta.url).pathname, "deno.json"),
          join(new URL("../../scripts/bpfpm.ts", import.meta.url).pathname),
          "run",
          "execcount",
          "--yes",
          "--",
          "3",
        ],
        cwd: s.project,
        env: s.env,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // execve a few processes while the probe counts; their pids must show up.
      const pids: number[] = [];
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 400));
        const t = new Deno.Command("/bin/true").spawn();
        pids.push(t.pid);
        await t.status;
      }
      const out = await run.output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.ok(
        pids.some((p) => stdout.includes(`pid ${p}: 1 execve`)),
        `none of ${pids} in:\n${stdout}`,
      );

      // The same package with a grant that does not cover its tracepoint: the runtime refuses.
      const installed = join(
        s.project,
        "bpf_modules",
        "execcount",
        "package.json",
      );
      const pj = JSON.parse(await Deno.readTextFile(installed));
      pj.bpf.grants.attach = [{ kind: "tracepoint", target: "sched:*" }];
      const narrowed = join(s.root, "narrowed");
      await Deno.mkdir(narrowed);
      for (const f of ["probe.bpf.c", pj.bpf.entry]) {
        await Deno.copyFile(
          join(s.project, "bpf_modules", "execcount", f),
          join(narrowed, f),
        );
      }
      await Deno.writeTextFile(
        join(narrowed, "package.json"),
        JSON.stringify(pj),
      );
      const refused = await bpfpm(["run", narrowed, "--yes", "--", "1"], {
        cwd: s.project,
        env: s.env,
      });
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        /PermissionDeniedError: .*"on_execve" attaches to tracepoint syscalls:sys_enter_execve, outside the granted targets \(sched:\*\)/,
      );
    } finally {
      await reg.close();
    }
  },
});
