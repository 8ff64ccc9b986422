/**
 * Everything is detached and unloaded on every way out: dispose, close, normal exit, SIGINT,
 * SIGTERM and an uncaught error.
 */
import assert from "node:assert/strict";
import { BPF } from "../../mod.ts";
import { spawnFixture, uniqueName, waitGone } from "./_helpers.ts";

/** Starts the fixture, waits for READY, returns its program ids and the child. */
async function startFixture(after: string) {
  const { child, reader, out } = await spawnFixture(
    ["ok", uniqueName(), after],
    "\n",
  );
  const m = /READY (\{.*\})/.exec(out);
  if (!m) {
    const err = await new Response(child.stderr).text();
    throw new Error(`fixture did not get ready: ${out} ${err}`);
  }
  const { ids } = JSON.parse(m[1]) as { ids: number[] };
  return { child, ids, reader, first: out };
}

/** Waits (up to 3 s) until process `pid` has trace_pipe open. */
async function holdsTracePipe(pid: number): Promise<void> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        if (
          Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`).endsWith("/trace_pipe")
        ) return;
      } catch {
        // The fd closed while listing.
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`process ${pid} never opened trace_pipe`);
}

async function finish(
  started: Awaited<ReturnType<typeof startFixture>>,
): Promise<Deno.CommandStatus> {
  const status = await started.child.status;
  await started.reader.cancel();
  await started.child.stderr.cancel();
  return status;
}

for (
  const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const
) {
  Deno.test(`${signal}: the handler detaches and unloads, then exits ${code}`, async () => {
    const started = await startFixture("wait");
    assert.ok(started.ids.length > 0);
    for (const id of started.ids) {
      const out = await new Deno.Command("bpftool", {
        args: ["prog", "show", "id", String(id)],
      })
        .output();
      assert.equal(
        out.code,
        0,
        `program ${id} should be loaded while the script runs`,
      );
    }
    started.child.kill(signal);
    const status = await finish(started);
    assert.equal(status.code, code);
    assert.deepEqual(await waitGone(started.ids), []);
  });
}

Deno.test("an uncaught error: non-zero exit, nothing left loaded", async () => {
  const started = await startFixture("throw");
  const status = await finish(started);
  assert.equal(status.code, 1);
  assert.deepEqual(await waitGone(started.ids), []);
});

Deno.test("normal exit: exit 0, nothing left loaded", async () => {
  const started = await startFixture("exit");
  const status = await finish(started);
  assert.equal(status.code, 0);
  assert.deepEqual(await waitGone(started.ids), []);
});

Deno.test("dispose: leaving a using block detaches and unloads; close() is idempotent", async () => {
  const name = uniqueName();
  let ids: number[];
  let b: BPF;
  {
    using loaded = await BPF.load({
      text:
        `SEC("tracepoint/syscalls/sys_enter_getppid") int ${name}(void *ctx) { return 0; }`,
    });
    b = loaded;
    ids = [...loaded.programs.values()].map((p) => p.id);
    assert.equal(loaded.links.length, 1);
    assert.ok(loaded.loaded);
  }
  assert.equal(b.loaded, false);
  assert.equal(b.links[0].attached, false);
  b.close();
  assert.deepEqual(await waitGone(ids), []);
  assert.throws(
    () => b.tracePrint(),
    /This BPF object is closed: load it again to use it/,
  );
});

Deno.test("interrupted(): Ctrl-C resolves it with the programs still loaded, then exit detaches", async () => {
  const started = await startFixture("interrupted");
  started.child.kill("SIGINT");
  let out = started.first;
  while (!out.includes("INTERRUPTED")) {
    const { value, done } = await started.reader.read();
    if (done) break;
    out += value;
  }
  const status = await finish(started);
  assert.match(out, /INTERRUPTED SIGINT true/);
  assert.equal(status.code, 0);
  assert.deepEqual(await waitGone(started.ids), []);
});

Deno.test("trace_pipe held by another process: the reader is named, nothing is left open", async () => {
  const started = await startFixture("wait");
  const name = uniqueName();
  try {
    await holdsTracePipe(started.child.pid);
    using b = await BPF.load({
      text:
        `SEC("tracepoint/syscalls/sys_enter_getppid") int ${name}(void *ctx) { return 0; }`,
    });
    await assert.rejects(
      () => b.tracePrint().next(),
      /Cannot read \/sys\/kernel\/tracing\/trace_pipe: another process is reading it \(the kernel allows one reader at a time\)/,
    );
  } finally {
    started.child.kill("SIGTERM");
    await finish(started);
  }
  assert.deepEqual(await waitGone(started.ids), []);
});
