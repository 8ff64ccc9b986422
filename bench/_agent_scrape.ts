/**
 * The agent bench's scraper, in a process of its own so that what the bench process does
 * meanwhile (walking /proc for its figures, decoding OTLP pushes) does not delay the reading
 * of a response: `deno run -A bench/_agent_scrape.ts URL EVERY_MS BURST BURST_MS` scrapes
 * `URL/metrics` every EVERY_MS until a line arrives on stdin, then BURST more times BURST_MS
 * apart, printing one JSON line per scrape: `{ "ms": time to the last byte, "series": n }`.
 * It asks for `URL/healthz` once before the first scrape: a fresh process's first `fetch`
 * (its HTTP client and connection made, its code still cold) takes 6 to 9 ms more here,
 * which is the scraper's start, not the agent's answer (a Prometheus server scrapes with
 * a warm client).
 *
 * @module
 */
const [url, every, burst, burstMs] = Deno.args;

async function scrape(): Promise<void> {
  const t0 = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  const ms = performance.now() - t0;
  let series = 0;
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c !== 35 && c !== 10) series++; // not a # comment, not an empty line
    const nl = text.indexOf("\n", i);
    i = nl < 0 ? text.length : nl + 1;
  }
  console.log(JSON.stringify({ ms, series }));
}

await (await fetch(`${url}/healthz`)).arrayBuffer();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let told = false;
const tell = (async () => {
  for await (const _ of Deno.stdin.readable) break;
  told = true;
})();
while (!told) {
  await scrape();
  await Promise.race([sleep(Number(every)), tell]);
}
for (let i = 0; i < Number(burst); i++) {
  await scrape();
  await sleep(Number(burstMs));
}
Deno.exit(0);
