/**
 * The web UI in headless Chromium (Debian's `chromium`): the package list, search, and a
 * package page with README, versions, declared grants and the install command; plus a
 * screenshot (kept in $BPFPM_UI_SCREENSHOT_DIR when set, else in a temp dir).
 */
import { assert, assertMatch } from "./_assert.ts";
import { publishDoc, req, signup } from "./_helpers.ts";
import { startRegistry } from "../../registry/server/cli.ts";

function hasChromium(): boolean {
  try {
    return new Deno.Command("chromium", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync()
      .success;
  } catch {
    return false;
  }
}

async function chromium(profile: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`chromium failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "web UI in headless Chromium: list, search, package page, screenshot",
  ignore: !hasChromium(),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bpfpm-ui-" });
    const reg = await startRegistry({ db: `${dir}/r.db` });
    try {
      const alice = await signup((r) => fetch(r), reg.url, "alice");
      const tcplife = {
        name: "tcplife",
        version: "1.2.0",
        description: "Trace TCP session lifespans",
        keywords: ["tcp", "network"],
        license: "Apache-2.0",
        bpf: {
          entry: "mod.ts",
          kernel: {
            btf: true,
            minVersion: "5.8",
            tracepoints: ["sock:inet_sock_set_state"],
          },
          grants: {
            attach: [{
              kind: "tracepoint",
              target: "sock:inet_sock_set_state",
            }],
            helpers: ["send_signal"],
            mapMemory: "16MiB",
          },
          deno: ["--allow-net=127.0.0.1"],
        },
      };
      const readme =
        "# tcplife\n\nShows **every TCP session** with its duration.\n\n```sh\nbpfpm run tcplife\n```\n\n<script>alert(1)</script>\n";
      for (const v of ["1.1.0", "1.2.0"]) {
        const doc = await publishDoc({ ...tcplife, version: v }, {
          "mod.ts": "",
          "README.md": readme,
        });
        const res = await fetch(
          req(reg.url, "PUT", "/tcplife", { token: alice, body: doc }),
        );
        assert(res.status === 201, await res.text());
      }
      const exec = await publishDoc({
        name: "execsnoop",
        version: "0.3.0",
        description: "Trace new processes",
      }, {});
      assert(
        (await fetch(
          req(reg.url, "PUT", "/execsnoop", { token: alice, body: exec }),
        )).status === 201,
      );

      const home = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/`,
      ]);
      assertMatch(home, /2 packages/);
      assertMatch(home, /href="\/-\/web\/package\/tcplife"/);
      assertMatch(home, /Trace new processes/);

      const search = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/?q=tcp`,
      ]);
      assertMatch(search, /1 package matching/);
      assert(
        !search.includes("execsnoop"),
        "search shows a package that does not match",
      );

      const page = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/-/web/package/tcplife`,
      ]);
      assertMatch(page, /<strong>every TCP session<\/strong>/);
      assertMatch(page, /bpfpm install tcplife/);
      assertMatch(page, /npm install tcplife --registry http:\/\/127\.0\.0\.1/);
      assertMatch(page, /class="risky">send_signal/);
      assertMatch(page, /sock:inet_sock_set_state/);
      assertMatch(page, /16MiB/);
      assertMatch(page, /1\.1\.0/);
      assertMatch(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert(
        !page.includes("<script>alert(1)</script>"),
        "README HTML was not escaped",
      );

      const shotDir = Deno.env.get("BPFPM_UI_SCREENSHOT_DIR") ?? dir;
      await Deno.mkdir(shotDir, { recursive: true });
      const shot = `${shotDir}/registry-package-page.png`;
      await chromium(`${dir}/profile`, [
        "--window-size=1280,900",
        `--screenshot=${shot}`,
        `${reg.url}/-/web/package/tcplife`,
      ]);
      const png = await Deno.readFile(shot);
      assert(png.length > 10_000, `screenshot is only ${png.length} bytes`);
      assert(
        png[0] === 0x89 && png[1] === 0x50 && png[2] === 0x4e &&
          png[3] === 0x47,
        "not a PNG",
      );
    } finally {
      await reg.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
