/**
 * The TCP probes, run for real against loopback connections this test makes with
 * Deno.listen and Deno.connect.
 */
import assert from "node:assert/strict";
import { startProbe } from "./_helpers.ts";

/** One loopback session: the client sends `up` bytes, the server answers `down`, both close. */
export async function loopbackSession(
  up: number,
  down: number,
): Promise<{ port: number; clientPort: number }> {
  using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  const served = (async () => {
    using c = await l.accept();
    const buf = new Uint8Array(65536);
    let n = 0;
    while (n < up) {
      const r = await c.read(buf);
      if (r === null) break;
      n += r;
    }
    await c.write(new Uint8Array(down));
    return n;
  })();
  using c = await Deno.connect({ hostname: "127.0.0.1", port });
  const clientPort = (c.localAddr as Deno.NetAddr).port;
  await c.write(new Uint8Array(up));
  const buf = new Uint8Array(65536);
  let got = 0;
  while (got < down) {
    const r = await c.read(buf);
    if (r === null) break;
    got += r;
  }
  assert.equal(await served, up);
  assert.equal(got, down);
  return { port, clientPort };
}

interface LifeRow {
  pid: number;
  comm: string;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  tx_b: number;
  rx_b: number;
  tx_kb: number;
  rx_kb: number;
  ms: number;
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
    assert.equal(r.pid, Deno.pid);
    assert.equal(r.laddr, "127.0.0.1");
    assert.equal(r.raddr, "127.0.0.1");
    assert.ok(r.ms > 0 && r.ms < wall + 1000, `ms ${r.ms}, wall ${wall}`);
  }
  // bytes_acked counts the SYN and FIN too; bytes_received the FIN.
  assert.ok(client.tx_b >= 20_000 && client.tx_b <= 20_002, `${client.tx_b}`);
  assert.ok(client.rx_b >= 3_000 && client.rx_b <= 3_001, `${client.rx_b}`);
  assert.ok(server.rx_b >= 20_000 && server.rx_b <= 20_001, `${server.rx_b}`);
  assert.ok(server.tx_b >= 3_000 && server.tx_b <= 3_002, `${server.tx_b}`);
  assert.deepEqual([client.tx_kb, client.rx_kb], [19, 2]);
  assert.equal((await p.stop()).code, 0, p.stderr);
  p.assertUnloaded();
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
