/**
 * `bpfpm doctor` on this machine, as a user runs it: what the kernel offers (the missing
 * kinds named with their reason, as features() finds them), and the registry's state.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { features } from "../../runtime/features.ts";
import { startRegistry } from "../../registry/server/cli.ts";
import { bpfpm, freePort, sandbox } from "./_helpers.ts";

interface Check {
  area: string;
  name: string;
  status: string;
  detail: string;
}

Deno.test("doctor names what works and what is missing here, and the registry's state", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-doctor-" });
  const reg = await startRegistry({ db: join(dir, "registry.db") });
  try {
    await using s = await sandbox(`${reg.url}/`);
    const cli = (args: string[], env: Record<string, string> = {}) =>
      bpfpm(args, { cwd: s.project, env: { ...s.env, ...env } });
    const f = features();

    let r = await cli(["doctor"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const kprobe = f.attach.kprobe;
    if (kprobe.supported) assert.match(r.stdout, /^ {2}ok {4}kprobe: works$/m);
    else {
      // This machine: CONFIG_KPROBES is not set.
      assert.match(
        r.stdout,
        /^ {2}warn {2}kprobe: missing \(.*CONFIG_KPROBES is not set.*\)$/m,
      );
      assert.ok(r.stdout.includes(`kprobe: missing (${kprobe.reason})`));
    }
    for (const [kind, sup] of Object.entries(f.attach)) {
      assert.ok(
        r.stdout.includes(
          `${kind}: ${sup.supported ? "works" : `missing (${sup.reason})`}`,
        ),
        `${kind} not reported as features() says`,
      );
    }
    assert.match(r.stdout, /BTF: \/sys\/kernel\/btf\/vmlinux/);
    assert.match(r.stdout, /tracefs: mounted|tracefs: not mounted/);
    assert.match(r.stdout, /CAP_BPF: /);
    assert.match(r.stdout, /compile cache: .* \((writable|not created yet)\)/);
    assert.match(r.stdout, new RegExp(`ok {4}${reg.url}/: reachable`));
    assert.match(r.stdout, /warn {2}auth: not logged in/);

    r = await cli(["adduser", "--user", "doc", "--password", "doctor-pw-1"]);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(["doctor", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const checks: Check[] = JSON.parse(r.stdout);
    const find = (area: string, name: string) =>
      checks.find((c) => c.area === area && c.name === name)!;
    assert.equal(find("registry", "auth").detail, "logged in as doc");
    assert.equal(
      find("attach", "kprobe").status,
      kprobe.supported ? "ok" : "warn",
    );
    assert.equal(find("attach", "tracepoint").status, "ok");

    // A registry that is not there: one failed check, exit 1.
    r = await cli(["doctor", "--registry", `http://127.0.0.1:${freePort()}/`]);
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /FAIL {2}http:\/\/127\.0\.0\.1:\d+\/: Cannot reach the registry/,
    );
    assert.match(r.stdout, /checks: 1 failed/);
  } finally {
    await reg.close();
    await Deno.remove(dir, { recursive: true });
  }
});
