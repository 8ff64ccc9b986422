/**
 * The manifest's declared output and parameters (issue 17.1): the schema takes them and
 * names what is wrong; every shipped probe's declarations are valid and name maps,
 * buffers and config fields its BPF source really has.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BpfManifest,
  validateBpfManifest,
} from "../../registry/manifest.ts";
import { probeDirs } from "../../scripts/seed.ts";

function manifest(dir: string): BpfManifest {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).bpf;
}

Deno.test("metrics, events and parameters are validated with one line per problem", () => {
  const bad = validateBpfManifest({
    entry: "mod.ts",
    metrics: [
      { map: "h", name: "x_latency", kind: "histogram", value: "value.slots" },
      { map: "c", name: "x_latency", kind: "counter", value: "value.n" },
      { map: "c", name: "Bad-Name", kind: "summary", value: "count" },
    ],
    events: [{ buffer: "events", fields: [{ name: "ts", type: "u128" }] }],
    parameters: [
      {
        name: "pid",
        type: "integer",
        default: "1",
        description: "d",
        variable: "cfg.pid",
      },
      { name: "pid", type: "boolean", description: "d", variable: "x y" },
    ],
  });
  assert.equal(bad.ok, false);
  const errors = (bad as { errors: string[] }).errors;
  for (
    const want of [
      /^bpf\.metrics\[2\]\.name: /,
      /^bpf\.metrics\[2\]\.kind: must be one of counter, gauge, histogram$/,
      /^bpf\.metrics\[2\]\.value: /,
      /^bpf\.events\[0\]\.fields\[0\]\.type: must be one of u8, /,
      /^bpf\.parameters\[1\]\.variable: /,
    ]
  ) {
    assert.ok(
      errors.some((e) => want.test(e)),
      `${want} in ${errors.join("\n")}`,
    );
  }
  const semantic = validateBpfManifest({
    entry: "mod.ts",
    metrics: [
      { map: "h", name: "x_latency", kind: "histogram", value: "value.slots" },
      { map: "c", name: "x_latency", kind: "counter", value: "value.n" },
    ],
    parameters: [
      {
        name: "pid",
        type: "integer",
        default: "1",
        description: "d",
        variable: "cfg.pid",
        section: ".bss",
      },
      {
        name: "pid",
        type: "boolean",
        description: "d",
        variable: "cfg.x",
        section: ".data",
      },
      // .rodata (the default) is a const volatile global, set before load: not a field.
      { name: "tgid", type: "integer", description: "d", variable: "cfg.tgid" },
    ],
  });
  assert.deepEqual(semantic, {
    ok: false,
    errors: [
      "bpf.metrics[0].buckets: a histogram needs its bucket layout",
      "bpf.metrics[1].name: x_latency is declared twice",
      "bpf.parameters[0].default: must be of type integer",
      "bpf.parameters[1]: flag pid is declared twice",
      "bpf.parameters[2].variable: cfg.tgid is a field, but a .rodata parameter is a const volatile global set before load: name the global, or set section to .bss or .data",
    ],
  });
});

Deno.test("every shipped probe's manifest is valid, and its declarations name what its BPF source has", () => {
  const declared: string[] = [];
  for (const dir of probeDirs()) {
    const name = dir.split("/").pop()!;
    const m = manifest(dir);
    const v = validateBpfManifest(m);
    assert.deepEqual(v, { ok: true }, name);
    const source = (m.sources ?? []).map((s) =>
      readFileSync(join(dir, s), "utf8")
    )
      .join("\n");
    const maps = new Set(
      [...source.matchAll(/\}\s*(\w+)\s+SEC\("\.maps"\)/g)].map((x) => x[1]),
    );
    for (const d of m.metrics ?? []) {
      assert.ok(
        maps.has(d.map),
        `${name}: metric ${d.name} reads map ${d.map}`,
      );
    }
    for (const e of m.events ?? []) {
      assert.ok(maps.has(e.buffer), `${name}: events of buffer ${e.buffer}`);
    }
    const cfg = /struct config \{([^}]*)\}/.exec(source)?.[1] ?? "";
    for (const p of m.parameters ?? []) {
      const [root, field] = p.variable.split(".");
      if ((p.section ?? ".rodata") === ".rodata") {
        assert.match(
          source,
          new RegExp(`\\bconst volatile [^;]*\\b${root} =`),
          `${name}: ${p.variable} is a const volatile global`,
        );
      } else if (root === "cfg") {
        assert.match(cfg, new RegExp(`\\b${field};`), `${name}: ${p.variable}`);
      } else {
        assert.match(
          source,
          new RegExp(`\\b${root}\\b`),
          `${name}: ${p.variable}`,
        );
      }
    }
    if (m.metrics?.length || m.events?.length) declared.push(name);
  }
  // Every probe declares its output; runqlat and syscount their parameters in full.
  assert.deepEqual(declared, probeDirs().map((d) => d.split("/").pop()!));
  for (const n of ["runqlat", "syscount"]) {
    assert.ok(declared.includes(n), n);
    const m = manifest(probeDirs().find((d) => d.endsWith(`/${n}`))!);
    assert.ok(m.parameters!.length >= 4, n);
  }
});
