/**
 * A BCC program typed at attach time fails to load the way `BPF.load` does: the one
 * load-failure classifier (runtime/_load_error.ts) names the program, the kind it was
 * loaded as, the verifier's reason, and keeps the log and the errno.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { VerifierError } from "../../runtime/errors.ts";
import { thrown } from "./_helpers.ts";

Deno.test("a late program the verifier rejects as a tracepoint: VerifierError naming the kind, with the log", async () => {
  using b = await BPF.load({
    text: `
    BPF_HASH(seen, u32, u64);
    int on_bad(void *ctx) {
      u64 *p = (u64 *)(long)bpf_get_current_pid_tgid();
      u32 k = 0;
      u64 v = *p;
      seen.update(&k, &v);
      return 0;
    }`,
    autoAttach: false,
  });
  assert.equal(b.programs.get("on_bad")?.section, "bcc/late");
  const e = thrown(
    () => b.attachTracepoint("on_bad", "syscalls:sys_enter_getppid"),
    VerifierError,
  );
  assert.equal(e.program, "on_bad");
  assert.match(
    e.message,
    /program 'on_bad' loaded as tracepoint at attach time/,
  );
  assert.match(e.message, /as a tracepoint program/);
  assert.match(e.log, /invalid mem access/);
  assert.equal(e.errno, 13); // EACCES, the verifier's
  assert.equal(b.links.length, 0);
});
