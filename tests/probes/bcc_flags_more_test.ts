/**
 * BCC's flags added last, run for real through `bpfpm run` and asserted on what the probe
 * prints: execsnoop -C (CPU) and -M (the parent's command), profile -A (addresses),
 * offcputime -s (offsets), opensnoop -b (ring pages), tcpconnect -d (DNS queries) and
 * tcpstates -Y (the journal).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  offcpuOfBlockedReader,
  runCmd,
  spawnBusyDd,
  startProbe,
} from "./_helpers.ts";

/** The comms of this process's threads (the parent of a child is the thread that forked it). */
function threadComms(): Set<string> {
  const out = new Set<string>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    out.add(Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).trim());
  }
  return out;
}

Deno.test("execsnoop -C -M: the CPU the exec ran on and the parent's command", async () => {
  await using p = startProbe("execsnoop", ["-C", "-M", "-P", String(Deno.pid)]);
  await p.attached();
  // taskset pins itself to CPU 1, then execs true there: true's row says CPU 1, and its
  // parent is this test process (the thread of it that forked taskset).
  const ran = await runCmd("taskset", ["-c", "1", "true"]);
  assert.equal(ran.code, 0, ran.stderr);
  const row = new RegExp(
    `^true +${ran.pid} +(\\S+) +${Deno.pid} +1 +0 +\\S*true$`,
    "m",
  );
  await p.until(() => row.test(p.stdout), 30_000, "true's row");
  const parent = row.exec(p.stdout)![1];
  assert.ok(
    threadComms().has(parent),
    `PCOMM ${parent} is not a thread of this process: ${[...threadComms()]}`,
  );
  assert.match(
    p.stdout.split("\n")[0],
    /^PCOMM +PID +PCOMM +PPID +CPU +RET +ARGS$/,
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("profile -A: each frame's raw address, then its symbol with offset and module", async () => {
  const dd = spawnBusyDd();
  try {
    await using p = startProbe("profile", [
      "-A",
      "-F",
      "99",
      "-p",
      String(dd.pid),
      "2",
    ]);
    assert.equal((await p.exited()).code, 0, p.stderr);
    const frames = p.stdout.split("\n").filter((l) => /^ {4}0x/.test(l));
    // Kernel frames: "0x%-16x name+0xoff [kernel]"; user frames: "0x%016x name+0xoff [file]".
    const kernel = frames.filter((l) => l.endsWith(" [kernel]"));
    const user = frames.filter((l) => !l.endsWith(" [kernel]"));
    assert.ok(kernel.length > 0, p.stdout);
    for (const l of kernel) {
      assert.match(l, /^ {4}0xffff[0-9a-f]{12} +\S+\+0x[0-9a-f]+ \[kernel\]$/);
    }
    assert.ok(
      kernel.some((l) => /(entry_SYSCALL|do_syscall)\S*\+0x/.test(l)),
      kernel.join("\n"),
    );
    for (const l of user) {
      assert.match(
        l,
        /^ {4}0x[0-9a-f]{16} (\S+\+0x[0-9a-f]+ \[\S+\]|\[unknown\])$/,
      );
    }
    // The addresses are the symbols': a kernel address resolves to its printed symbol.
    const { ksym } = await import("../../mod.ts");
    const [, addr, name] = /^ {4}(0x[0-9a-f]+) +(\S+) /.exec(kernel[0])!;
    assert.equal(ksym(BigInt(addr), { offset: true }), name);
  } finally {
    dd.kill("SIGKILL");
    await dd.status;
  }
});

Deno.test("offcputime -s: symbols with offsets; -s with -f is refused", async () => {
  const { stdout } = await offcpuOfBlockedReader(["-s", "-K"]);
  const frames = stdout.split("\n").filter((l) =>
    /^ {4}[A-Za-z_.]/.test(l) && !l.trim().startsWith("-")
  );
  assert.ok(frames.length > 0, stdout);
  for (const f of frames) {
    assert.match(f, /^ {4}\S+\+0x[0-9a-f]+$|^ {4}\[unknown\]$/);
  }
  assert.ok(frames.some((f) => /^ {4}schedule\+0x/.test(f)), stdout);
  await using q = startProbe("offcputime", ["-s", "-f", "1"]);
  assert.equal((await q.exited()).code, 2, q.stderr);
  assert.match(q.stderr, /-f and -s exclude each other/);
});

/** The ring buffer maps the probe's programs use, with their sizes (bpftool). */
async function ringSizes(progIds: number[]): Promise<number[]> {
  const json = async (args: string[]) =>
    JSON.parse((await runCmd("bpftool", ["-j", ...args])).stdout);
  const mapIds = new Set<number>();
  for (const id of progIds) {
    for (
      const m of (await json(["prog", "show", "id", String(id)])).map_ids ?? []
    ) {
      mapIds.add(m);
    }
  }
  const sizes: number[] = [];
  for (const id of mapIds) {
    const m = await json(["map", "show", "id", String(id)]);
    if (m.type === "ringbuf") sizes.push(m.max_entries);
  }
  return sizes;
}

Deno.test("opensnoop -b: the ring buffer's size in pages; not a power of two is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bpfpm-opensnoop-b-" });
  try {
    const missing = join(dir, "missing");
    await using p = startProbe("opensnoop", ["--json", "-b", "8"]);
    await p.attached();
    assert.deepEqual(await ringSizes(p.progIds), [8 * 4096]);
    // An unfiltered opensnoop sees every open on the machine, and a 32 KiB buffer can drop
    // a record in a burst of them (a CI run lost one): each cat is another chance, and a
    // row of one of them must come.
    const cats = new Set<number>();
    let row: { pid: number; path: string; err: number } | undefined;
    for (let i = 0; i < 5 && !row; i++) {
      const cat = await runCmd("cat", [missing]);
      assert.notEqual(cat.code, 0);
      cats.add(cat.pid);
      row = await p.row<{ pid: number; path: string; err: number }>(
        (r) => cats.has(r.pid) && r.path === missing,
        3_000,
      ).catch(() => undefined);
    }
    assert.ok(row, `no row for ${missing} from any of 5 cats: ${p.stderr}`);
    assert.equal(row.err, 2);
    assert.equal((await p.stop()).code, 0, p.stderr);
    await p.assertUnloaded();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await using q = startProbe("opensnoop", ["-b", "12"]);
  assert.equal((await q.exited()).code, 2, q.stderr);
  assert.match(
    q.stderr,
    /-b BUFFER_PAGES must be a power of two, got 12: try 16/,
  );
});

/**
 * A resolver on 127.77.0.1:53 answering `name` with 127.77.0.2, a client that asks it
 * and then connects to the answer (where a listener waits): python3, one process.
 */
const DNS_CLIENT = `
import socket, struct, sys, threading
name = sys.argv[1]
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
srv.bind(("127.77.0.1", 53))
lst = socket.socket(); lst.bind(("127.77.0.2", 0)); lst.listen(1)
port = lst.getsockname()[1]
def serve():
    q, peer = srv.recvfrom(512)
    qend = 12 + q[12:].index(0) + 5
    ans = b"\\xc0\\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("127.77.0.2")
    srv.sendto(q[:2] + b"\\x81\\x80" + q[4:6] + b"\\x00\\x01\\x00\\x00\\x00\\x00" + q[12:qend] + ans, peer)
threading.Thread(target=serve).start()
qname = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\x00"
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00" + qname + b"\\x00\\x01\\x00\\x01", ("127.77.0.1", 53))
reply, _ = c.recvfrom(512)
addr = socket.inet_ntoa(reply[-4:])
t = socket.create_connection((addr, port)); lst.accept()[0].close(); t.close()
print(addr, port)
`;

Deno.test("tcpconnect -d: the DNS query whose answer the connect went to", async () => {
  const name = `svc-${Deno.pid}.bpfpm.test`;
  await using p = startProbe("tcpconnect", ["-d"]);
  await p.attached();
  const py = await runCmd("python3", ["-c", DNS_CLIENT, name]);
  assert.equal(py.code, 0, py.stderr);
  const [addr, port] = py.stdout.trim().split(" ");
  assert.equal(addr, "127.77.0.2");
  const row = new RegExp(
    `^${py.pid} +python3 +4 +\\S+ +127\\.77\\.0\\.2 +${port} +${
      name.replaceAll(".", "\\.")
    }$`,
    "m",
  );
  await p.until(() => row.test(p.stdout), 15_000, "the connect's row");
  assert.match(
    p.stdout.split("\n")[0],
    /^PID +COMM +IP +SADDR +DADDR +DPORT +QUERY$/,
  );
  // A connect no DNS reply named.
  using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const plain = (server.addr as Deno.NetAddr).port;
  const accepted = server.accept();
  const c = await Deno.connect({ hostname: "127.0.0.1", port: plain });
  (await accepted).close();
  c.close();
  await p.until(
    () => new RegExp(` ${plain} +No DNS Query$`, "m").test(p.stdout),
    15_000,
    "the plain connect's row",
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

const JOURNAL_DIR = "/run/systemd/journal";

Deno.test({
  name:
    "tcpstates -Y: each state change logged to the journal's stream socket as BCC words it",
  // A stand-in journald on journald's own socket path: only where no journald runs.
  ignore: (() => {
    try {
      Deno.statSync(JOURNAL_DIR);
      return true;
    } catch {
      return false;
    }
  })(),
  async fn() {
    // Only what this test makes is removed after it: the journal directory, and /run/systemd
    // if it was not there.
    let madeParent = false;
    try {
      Deno.statSync("/run/systemd");
    } catch {
      madeParent = true;
    }
    await Deno.mkdir(JOURNAL_DIR, { recursive: true });
    const journal = Deno.listen({
      transport: "unix",
      path: `${JOURNAL_DIR}/stdout`,
    });
    // As journald makes it: any user may log (a sandboxed package runs as nobody).
    await Deno.chmod(`${JOURNAL_DIR}/stdout`, 0o666);
    let received = "";
    const reading = (async () => {
      const conn = await journal.accept();
      const dec = new TextDecoder();
      for await (const chunk of conn.readable) received += dec.decode(chunk);
    })();
    reading.catch(() => {}); // the listener closed before a connection: the test fails anyway
    try {
      using server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (server.addr as Deno.NetAddr).port;
      await using p = startProbe("tcpstates", ["-Y", "-D", String(port)]);
      await p.attached();
      const accepted = server.accept();
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      (await accepted).close();
      c.close();
      const line = new RegExp(
        `^\\S+ 127\\.0\\.0\\.1 \\d+ → 127\\.0\\.0\\.1 ${port} CLOSE → SYN_SENT$`,
        "m",
      );
      await p.until(() => line.test(received), 15_000, "the journal's line");
      // The stream header: identifier tcpstates, no unit, priority 5 (BCC's), no prefixes.
      assert.ok(
        received.startsWith("tcpstates\n\n5\n0\n0\n0\n0\n"),
        JSON.stringify(received.slice(0, 40)),
      );
      // The table is printed as without -Y.
      assert.match(p.stdout, new RegExp(` ${port} +CLOSE +-> SYN_SENT `));
      assert.equal((await p.stop()).code, 0, p.stderr);
      await p.assertUnloaded();
      await reading;
    } finally {
      journal.close();
      await Deno.remove(JOURNAL_DIR, { recursive: true });
      if (madeParent) await Deno.remove("/run/systemd");
    }
  },
});

/** Whether journald's stream socket exists here. */
function journalRuns(): boolean {
  try {
    Deno.statSync(`${JOURNAL_DIR}/stdout`);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "tcpstates -Y without a journal: one line naming the socket, exit 1",
  ignore: journalRuns(),
}, async () => {
  await using p = startProbe("tcpstates", ["-Y"]);
  assert.equal((await p.exited()).code, 1, p.stderr);
  assert.match(
    p.stderr,
    /-Y: cannot reach the journal at \/run\/systemd\/journal\/stdout \(.*\): is systemd-journald running\?/,
  );
});
