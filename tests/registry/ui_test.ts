/**
 * The web UI in headless Chromium (Debian's `chromium`): the package list, search, and a
 * package page with its README rendered from Markdown (tables, lists, relative links to
 * the repository or the package's own files, raw HTML shown as text), links for
 * versions, maintainers, keywords and repository, signatures, integrity, size,
 * dependencies, declared grants and the install command; plus a screenshot (kept in
 * $BPFPM_UI_SCREENSHOT_DIR when set, else in a temp dir).
 */
import { assert, assertMatch } from "./_assert.ts";
import {
  keyBody,
  newPublisherKey,
  publishDoc,
  req,
  signup,
} from "./_helpers.ts";
import { startRegistry } from "../../registry/server/cli.ts";
import { createTarball } from "../../registry/pack/mod.ts";
import { signPackage } from "../../registry/common/publisher_signature.ts";

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
        repository: {
          type: "git",
          url: "git+https://github.com/example/bpfpm.git",
          directory: "probes/tcplife",
        },
        dependencies: { execsnoop: "^0.3.0" },
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
      const readme = [
        "# tcplife",
        "",
        "Shows **every TCP session** with its duration, a port of BCC's tool for",
        "[bpfpm](../../README.md) ([flags](docs/flags.md#options)).",
        "",
        "| column | meaning |",
        "|--------|---------|",
        "| LADDR | local address |",
        "",
        "- first item",
        "- second item",
        "",
        "```sh",
        "bpfpm run tcplife",
        "```",
        "",
        "<script>alert(1)</script>",
        "",
        '[click](javascript:alert(1)) <img src=x onerror="alert(2)">',
        "",
      ].join("\n");
      // 1.1.0 is signed with alice's registered publisher key; 1.2.0 is not.
      const key = newPublisherKey();
      const put = await fetch(
        req(reg.url, "PUT", `/-/bpfpm/v1/keys/${key.keyid}`, {
          token: alice,
          body: keyBody(key, "alice"),
        }),
      );
      assert(put.status === 201, await put.text());
      for (const v of ["1.1.0", "1.2.0"]) {
        const enc = new TextEncoder();
        const files = [
          {
            path: "package.json",
            data: enc.encode(JSON.stringify({ ...tcplife, version: v })),
          },
          { path: "mod.ts", data: enc.encode("") },
          { path: "README.md", data: enc.encode(readme) },
        ];
        const tarball = await createTarball(
          v === "1.1.0"
            ? [...files, {
              path: "bpfpm-signature.json",
              data: enc.encode(signPackage("tcplife", v, files, key)),
            }]
            : files,
        );
        const doc = await publishDoc({ ...tcplife, version: v }, {}, {
          tarball,
        });
        const res = await fetch(
          req(reg.url, "PUT", "/tcplife", { token: alice, body: doc }),
        );
        assert(res.status === 201, await res.text());
      }
      // A package without a repository: its README's relative links open its own files.
      const exec = await publishDoc({
        name: "execsnoop",
        version: "0.3.0",
        description: "Trace new processes",
        keywords: ["process"],
      }, {
        "README.md":
          "# execsnoop\n\nSee [the usage notes](docs/usage.md) and [bpfpm](../../README.md).\n",
        "docs/usage.md":
          "## Usage\n\n1. run it\n2. read [back](../README.md)\n",
      });
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
      // Markdown: a table, a list, relative links resolved against the repository.
      assertMatch(page, /<th>column<\/th>/);
      assertMatch(page, /<td>local address<\/td>/);
      assertMatch(page, /<ul>\s*<li>first item<\/li>\s*<li>second item<\/li>/);
      assertMatch(
        page,
        /<a href="https:\/\/github\.com\/example\/bpfpm\/blob\/HEAD\/README\.md"[^>]*>bpfpm<\/a>/,
      );
      assertMatch(
        page,
        /href="https:\/\/github\.com\/example\/bpfpm\/blob\/HEAD\/probes\/tcplife\/docs\/flags\.md#options"/,
      );
      assert(!page.includes("](../../README.md)"), "a Markdown link shown raw");
      // Raw HTML is text; a javascript: link and an event handler do not survive.
      assertMatch(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
      assert(
        !page.includes("<script>alert(1)</script>"),
        "README HTML was not escaped",
      );
      assert(!/href="javascript:/i.test(page), "a javascript: link survived");
      assert(!/<img[^>]*onerror/i.test(page), "an event handler survived");
      assertMatch(
        page,
        /<pre class="install"><code>bpfpm install tcplife<\/code>/,
      );
      assertMatch(page, /class="risky">send_signal/);
      assertMatch(page, /sock:inet_sock_set_state/);
      assertMatch(page, /16MiB/);
      // Versions, maintainers, keywords, repository and dependencies are links.
      assertMatch(
        page,
        /<a href="\/-\/web\/package\/tcplife\?v=1\.1\.0">1\.1\.0<\/a>/,
      );
      assertMatch(page, /<a href="\/\?maintainer=alice">alice<\/a>/);
      assertMatch(
        page,
        /<a class="tag" href="\/\?keyword=network">network<\/a>/,
      );
      assertMatch(
        page,
        /<a class="repository" href="https:\/\/github\.com\/example\/bpfpm"/,
      );
      assertMatch(
        page,
        /<a href="\/-\/web\/package\/execsnoop">execsnoop<\/a>/,
      );
      assertMatch(page, /<code>\^0\.3\.0<\/code>/);
      // The latest (1.2.0) is unsigned by its publisher, signed by the registry.
      assertMatch(page, /No publisher signature/);
      assertMatch(page, /Registry signature: key <code>SHA256:/);
      assertMatch(page, /class="digest integrity">sha512-[A-Za-z0-9+/=]{20,}/);
      assertMatch(page, /\d+ B unpacked · 3 files · [\d.]+ (B|kB) tarball/);

      // 1.1.0's page: the publisher's signature and key, and its install command.
      const old = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/-/web/package/tcplife?v=1.1.0`,
      ]);
      assertMatch(
        old,
        new RegExp(
          `Signed by the publisher: key <code>${key.keyid}</code> of <a href="/\\?maintainer=alice">alice</a>`,
        ),
      );
      assertMatch(old, /bpfpm install tcplife@1\.1\.0/);
      assertMatch(old, /4 files/);

      // The keyword and maintainer links list the right packages.
      const byKeyword = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/?keyword=process`,
      ]);
      assertMatch(byKeyword, /1 package with keyword “process”/);
      assert(!byKeyword.includes("tcplife"), "keyword page lists tcplife");
      const byMaintainer = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/?maintainer=alice`,
      ]);
      assertMatch(byMaintainer, /2 packages maintained by alice/);
      const nobody = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/?maintainer=mallory`,
      ]);
      assertMatch(nobody, /0 packages maintained by mallory/);

      // Without a repository, a relative link opens the package's file; one that climbs
      // out of the package is text.
      const execPage = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/-/web/package/execsnoop`,
      ]);
      assertMatch(
        execPage,
        /<a href="\/-\/web\/file\/execsnoop\/0\.3\.0\/docs\/usage\.md">the usage notes<\/a>/,
      );
      assertMatch(
        execPage,
        /<span class="unlinked" title="\.\.\/\.\.\/README\.md">bpfpm<\/span>/,
      );
      const usage = await chromium(`${dir}/profile`, [
        "--dump-dom",
        `${reg.url}/-/web/file/execsnoop/0.3.0/docs/usage.md`,
      ]);
      assertMatch(usage, /<h3>Usage<\/h3>/);
      assertMatch(usage, /<ol>\s*<li>run it<\/li>/);
      assertMatch(
        usage,
        /<a href="\/-\/web\/file\/execsnoop\/0\.3\.0\/README\.md">back<\/a>/,
      );
      const missing = await fetch(
        `${reg.url}/-/web/file/execsnoop/0.3.0/docs/none.md`,
      );
      assert(missing.status === 404, `missing file: ${missing.status}`);
      await missing.body?.cancel();
      // The CSP is as strict as before: no script source at all.
      const headers = (await fetch(`${reg.url}/-/web/package/tcplife`)).headers;
      assert(
        headers.get("content-security-policy") ===
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        `CSP: ${headers.get("content-security-policy")}`,
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
