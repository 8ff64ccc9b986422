/**
 * The TCP probes, run for real against loopback connections this test makes with
 * Deno.listen and Deno.connect.
 */
import assert from "node:assert/strict";
import { assertEventTime, loopbackSession, startProbe } from "./_helpers.ts";

interface LifeRow {
  time: string;
  pid: number;
  comm: string;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  tx_bytes: number;
  rx_bytes: number;
  duration_ms: number;
}

Deno.test("tcplife: both ends of a loopback session, with pid, ports, bytes and duration", async () => {
  await using p = startProbe("tcplife", ["--json"]);
  await p.attached();
  const t0 = performance.now();
  const { port, clientPort } = await loopbackSession(20_000, 3_000);
  const wall = performance.now() - t0;
  const client = await p.row<LifeRow>((r) =>
    r.lport === clientPort && r.rport === port
  );
  const server = await p.row<LifeRow>((r) =>
    r.lport === port && r.rport === clientPort
  );
  for (const r of [client, server]) {
    assertEventTime(r);
    // The KB columns are the table's; JSON has the exact byte counts.
    assert.deepEqual(Object.keys(r), [
      "time",
      "pid",
      "comm",
      "laddr",
      "lport",
      "raddr",
      "rport",
      "duration_ms",
      "ip",
      "tx_bytes",
      "rx_bytes",
    ]);
    assert.equal(r.pid, Deno.pid);
    assert.equal(r.laddr, "127.0.0.1");
    assert.equal(r.raddr, "127.0.0.1");
    assert.ok(
      r.duration_ms > 0 && r.duration_ms < wall + 1000,
      `duration ${r.duration_ms} ms, wall ${wall}`,
    );
  }
  // bytes_acked counts the SYN and FIN too; bytes_received the FIN.
  const { tx_bytes: ctx, rx_bytes: crx } = client;
  const { tx_bytes: stx, rx_bytes: srx } = server;
  assert.ok(ctx >= 20_000 && ctx <= 20_002, `${ctx}`);
  assert.ok(crx >= 3_000 && crx <= 3_001, `${crx}`);
  assert.ok(srx >= 20_000 && srx <= 20_001, `${srx}`);
  assert.ok(stx >= 3_000 && stx <= 3_002, `${stx}`);
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("tcplife: -L keeps only the listed local port", async () => {
  using holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = (holder.addr as Deno.NetAddr).port;
  // The port is reserved by the holder, so the session below uses another one.
  await using p = startProbe("tcplife", ["--json", "-L", String(other)]);
  await p.attached();
  const { port } = await loopbackSession(100, 100);
  await loopbackSessionOn(holder);
  await p.row<LifeRow>((r) => r.lport === other);
  assert.equal(p.rows<LifeRow>().filter((r) => r.lport !== other).length, 0);
  assert.ok(!p.rows<LifeRow>().some((r) => r.lport === port));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

async function loopbackSessionOn(l: Deno.Listener): Promise<void> {
  const port = (l.addr as Deno.NetAddr).port;
  const served = l.accept().then(async (c) => {
    await c.read(new Uint8Array(10));
    c.close();
  });
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(new Uint8Array(10));
  await served;
  c.close();
}

Deno.test("tcpstates: the client's and the server's state sequences of one session", async () => {
  await using p = startProbe("tcpstates", ["--json"]);
  await p.attached();
  const { port, clientPort } = await loopbackSession(1000, 1000);
  interface Row {
    skaddr: string;
    pid: number;
    lport: number;
    rport: number;
    oldstate: string;
    newstate: string;
    delta_ms: number;
  }
  const moves = (rows: Row[]) =>
    rows.map((r) => `${r.oldstate}->${r.newstate}`);
  const sides = () => {
    const rows = p.rows<Row>();
    const client = rows.find((r) => r.lport === clientPort && r.rport === port);
    return {
      client: client ? rows.filter((r) => r.skaddr === client.skaddr) : [],
      server: rows.filter((r) => r.lport === port && r.rport === clientPort),
    };
  };
  // Either end may close first; the one that closes second (CLOSE_WAIT) ends in CLOSE at
  // once, the other goes through FIN_WAIT2 (and TIME_WAIT, which may outlast the test).
  await p.until(
    () => {
      const { client, server } = sides();
      const all = [...moves(client), ...moves(server)];
      return all.includes("LAST_ACK->CLOSE") &&
        all.includes("FIN_WAIT1->FIN_WAIT2");
    },
    15_000,
    "both ends closing",
  );
  const { client, server } = sides();
  assert.deepEqual(moves(client).slice(0, 2), [
    "CLOSE->SYN_SENT",
    "SYN_SENT->ESTABLISHED",
  ]);
  assert.equal(client[0].pid, Deno.pid);
  assert.equal(client[0].lport, 0, "no local port is bound yet at SYN_SENT");
  assert.deepEqual(moves(server).slice(0, 2), [
    "LISTEN->SYN_RECV",
    "SYN_RECV->ESTABLISHED",
  ]);
  const active = moves(client)[2] === "ESTABLISHED->FIN_WAIT1"
    ? client
    : server;
  const passive = active === client ? server : client;
  // The kernel may set FIN_WAIT1 twice (tcp_close, then tcp_send_fin): both are reported.
  assert.equal(moves(active)[2], "ESTABLISHED->FIN_WAIT1");
  assert.ok(moves(active).includes("FIN_WAIT1->FIN_WAIT2"), `${moves(active)}`);
  assert.deepEqual(moves(passive).slice(2), [
    "ESTABLISHED->CLOSE_WAIT",
    "CLOSE_WAIT->LAST_ACK",
    "LAST_ACK->CLOSE",
  ]);
  assert.ok(
    [...client, ...server].every((r) => r.delta_ms >= 0 && r.delta_ms < 15_000),
  );
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("tcpconnect: a loopback connect() with pid, addresses and port; -P filters", async () => {
  using other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const otherPort = (other.addr as Deno.NetAddr).port;
  await using p = startProbe("tcpconnect", ["--json", "-P", String(otherPort)]);
  await p.attached();
  const { port } = await loopbackSession(10, 10);
  const accepted = other.accept();
  const c = await Deno.connect({ hostname: "127.0.0.1", port: otherPort });
  (await accepted).close();
  c.close();
  interface Row {
    pid: number;
    ip: number;
    saddr: string;
    daddr: string;
    dport: number;
  }
  const row = await p.row<Row>((r) => r.dport === otherPort);
  assert.deepEqual([row.pid, row.ip, row.saddr, row.daddr], [
    Deno.pid,
    4,
    "127.0.0.1",
    "127.0.0.1",
  ]);
  assert.ok(!p.rows<Row>().some((r) => r.dport === port));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("tcplife: BCC's columns in table mode", async () => {
  await using p = startProbe("tcplife", []);
  await p.attached();
  const { port, clientPort } = await loopbackSession(5000, 2048);
  await p.until(
    () => p.stdout.split("\n").some((l) => l.includes(` ${clientPort} `)),
    15_000,
    "the client's line",
  );
  const lines = p.stdout.split("\n");
  assert.equal(
    lines[0],
    "PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS",
  );
  // The client's end: local port first; 5000 bytes out and 2048 in are 4 and 2 KB.
  const client = new RegExp(
    `^${Deno.pid} +\\S+ +127\\.0\\.0\\.1 +${clientPort} 127\\.0\\.0\\.1 +${port} +4 +2 \\d+\\.\\d\\d$`,
  );
  assert.ok(lines.some((l) => client.test(l)), lines.join("\n"));
  assert.equal((await p.stop()).code, 0, p.stderr);
  await p.assertUnloaded();
});

Deno.test("tcplife -s: BCC's CSV header, then one row per end of a loopback session", async () => {
  await using p = startProbe("tcplife", ["-s"]);
  await p.attached();
  const { port, clientPort } = await loopbackSession(5_000, 2_048);
  const line = (lport: number, rport: number) =>
    p.stdout.split("\n").find((l) => {
      const f = l.split(",");
      return f[4] === String(lport) && f[6] === String(rport);
    });
  await p.until(
    () => !!line(clientPort, port) && !!line(port, clientPort),
    10_000,
    "both CSV rows",
  );
  assert.equal(
    p.stdout.split("\n")[0],
    "PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS",
  );
  const client = line(clientPort, port)!.split(",");
  const server = line(port, clientPort)!.split(",");
  // COMM is whichever of the process's threads ended the session.
  assert.deepEqual([client[0], ...client.slice(2, 9)], [
    String(Deno.pid),
    "4",
    "127.0.0.1",
    String(clientPort),
    "127.0.0.1",
    String(port),
    "4",
    "2",
  ]);
  assert.deepEqual([server[0], ...server.slice(2, 9)], [
    String(Deno.pid),
    "4",
    "127.0.0.1",
    String(port),
    "127.0.0.1",
    String(clientPort),
    "2",
    "4",
  ]);
  for (const r of [client, server]) {
    assert.match(r[1], /^\S+$/);
    assert.match(r[9], /^\d+\.\d\d$/);
  }
  assert.equal((await p.stop()).code, 0, p.stderr);
});
