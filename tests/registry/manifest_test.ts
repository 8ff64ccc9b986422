import { assert, assertEquals } from "./_assert.ts";
import {
  ATTACH_KINDS,
  parseMapMemory,
  RISKY_HELPERS,
  validateBpfManifest,
} from "../../registry/manifest.ts";
import schema from "../../registry/bpf-manifest.schema.json" with {
  type: "json",
};
import { ATTACH_KINDS as RUNTIME_ATTACH_KINDS } from "../../runtime/spec/section_kinds.ts";
import {
  MAP_MEMORY_UNITS,
  mapMemoryBytes,
  RISKY_HELPERS as RUNTIME_RISKY_HELPERS,
  validateGrants,
} from "../../runtime/policy/grants.ts";
import { throws } from "node:assert/strict";

const DOC_EXAMPLE = {
  entry: "mod.ts",
  sources: ["tcplife.bpf.c"],
  kernel: {
    btf: true,
    minVersion: "5.8",
    tracepoints: ["sock:inet_sock_set_state"],
  },
  grants: {
    attach: [{ kind: "tracepoint", target: "sock:inet_sock_set_state" }],
    helpers: [],
    mapMemory: "16MiB",
  },
  deno: ["--allow-net=127.0.0.1:9100"],
};

Deno.test("the example in docs/manifest.md is valid", () => {
  assertEquals(validateBpfManifest(DOC_EXAMPLE), { ok: true });
  assertEquals(validateBpfManifest({ entry: "mod.ts" }), { ok: true });
  assertEquals(
    validateBpfManifest({
      entry: "bin/x.ts",
      grants: {
        attach: [{ kind: "uprobe", target: "/bin/bash:readline" }, {
          kind: "xdp",
        }],
        helpers: ["send_signal", "packet_drop"],
        mapMemory: 1048576,
      },
    }),
    { ok: true },
  );
});

Deno.test("validateBpfManifest names every problem", () => {
  const cases: [unknown, RegExp][] = [
    [null, /bpf: must be object/],
    [{}, /required property 'entry'/],
    [{ entry: "/abs.ts" }, /bpf\.entry: must be a relative path/],
    [{ entry: "../up.ts" }, /bpf\.entry: must be a relative path/],
    [{ entry: "a.ts", extra: 1 }, /unknown field "extra"/],
    [
      { entry: "a.ts", grants: { attach: [{ kind: "kprobe2" }] } },
      /attach\[0\]\.kind: must be one of tracepoint/,
    ],
    [
      { entry: "a.ts", grants: { helpers: ["bpf_probe_write_user"] } },
      /helpers\[0\]: must be one of probe_write_user/,
    ],
    [
      { entry: "a.ts", grants: { mapMemory: "lots" } },
      /mapMemory: must be bytes or a size/,
    ],
    [{ entry: "a.ts", grants: { mapMemory: -1 } }, /mapMemory/],
    [
      { entry: "a.ts", grants: { attach: [{ kind: "xdp" }], surprise: true } },
      /grants: unknown field "surprise"/,
    ],
    [
      { entry: "a.ts", deno: ["-A"] },
      /deno\[0\]: "-A" gives the package native code/,
    ],
    [
      { entry: "a.ts", deno: ["--allow-all"] },
      /deno\[0\]: "--allow-all" gives the package native code/,
    ],
    [
      { entry: "a.ts", kernel: { minVersion: "5" } },
      /minVersion: must be major\.minor/,
    ],
    [
      { entry: "a.ts", kernel: { tracepoints: ["sys_enter_open"] } },
      /tracepoints\[0\]: must be category:event/,
    ],
    [{ entry: "a.ts", kernel: { btf: "yes" } }, /btf: must be boolean/],
  ];
  for (const [value, re] of cases) {
    const r = validateBpfManifest(value);
    assert(!r.ok, `accepted ${JSON.stringify(value)}`);
    assert(
      r.errors.some((e) => re.test(e)),
      `${JSON.stringify(value)}: ${r.errors.join("; ")}`,
    );
  }
});

Deno.test("parseMapMemory understands sizes", () => {
  assertEquals(parseMapMemory("16MiB"), 16 * 1024 * 1024);
  assertEquals(parseMapMemory("1GB"), 1e9);
  assertEquals(parseMapMemory(4096), 4096);
});

Deno.test("map memory sizes name a real unit, not an inherited property", () => {
  for (const bad of ["1toString", "2constructor", "3__proto__", "3T"]) {
    throws(() => parseMapMemory(bad), {
      name: "RangeError",
      message: /Invalid map memory/,
    });
    throws(() => mapMemoryBytes(bad), {
      name: "RangeError",
      message: /mapMemory must be/,
    });
  }
});

Deno.test("the schema's enums are the runtime's attach kinds and risky helpers", () => {
  const grants = schema.properties.grants.properties;
  assertEquals(grants.attach.items.properties.kind.enum, [
    ...RUNTIME_ATTACH_KINDS,
  ]);
  assertEquals(grants.helpers.items.enum, [...RUNTIME_RISKY_HELPERS]);
  assertEquals([...ATTACH_KINDS], [...RUNTIME_ATTACH_KINDS]);
  assertEquals([...RISKY_HELPERS], [...RUNTIME_RISKY_HELPERS]);
  for (const kind of RUNTIME_ATTACH_KINDS) {
    assertEquals(
      validateBpfManifest({ entry: "a.ts", grants: { attach: [{ kind }] } }),
      { ok: true },
    );
  }
  for (const helper of RUNTIME_RISKY_HELPERS) {
    assertEquals(
      validateBpfManifest({ entry: "a.ts", grants: { helpers: [helper] } }),
      { ok: true },
    );
  }
});

Deno.test("the schema's mapMemory sizes are the runtime's units", () => {
  for (const [unit, bytes] of Object.entries(MAP_MEMORY_UNITS)) {
    const mapMemory = `3${unit}`;
    assertEquals(
      validateBpfManifest({ entry: "a.ts", grants: { mapMemory } }),
      { ok: true },
      mapMemory,
    );
    assertEquals(parseMapMemory(mapMemory), 3 * bytes);
  }
  for (const mapMemory of ["3T", "3TiB", "3Ki", "3mb", "3b"]) {
    assert(!(mapMemory.slice(1) in MAP_MEMORY_UNITS));
    assert(
      !validateBpfManifest({ entry: "a.ts", grants: { mapMemory } }).ok,
      `accepted ${mapMemory}`,
    );
  }
});

Deno.test("kernel names and attach targets may be marked optional, one way everywhere", () => {
  const manifest = {
    entry: "a.ts",
    kernel: {
      tracepoints: ["sched:sched_switch", {
        name: "syscalls:sys_enter_open",
        optional: true,
      }],
      functions: ["tcp_v4_connect", { name: "tcp_v6_connect", optional: true }],
      btfTypes: ["struct request", { name: "task_struct" }],
    },
    grants: {
      attach: [{
        kind: "tracepoint",
        target: "syscalls:sys_enter_open",
        optional: true,
      }],
    },
  };
  assertEquals(validateBpfManifest(manifest), { ok: true });
  // The runtime reads the same grants (the lockfile's), optional included.
  assertEquals(validateGrants(manifest.grants).attach?.length, 1);
  const cases: [unknown, string][] = [
    [
      { tracepoints: ["sched_switch"] },
      "bpf.kernel.tracepoints[0]: must be category:event",
    ],
    [
      { tracepoints: [{ name: "sched_switch", optional: true }] },
      "bpf.kernel.tracepoints[0].name: must be category:event",
    ],
    [
      { functions: [{ name: "f", optional: "yes" }] },
      "bpf.kernel.functions[0].optional: must be boolean",
    ],
    [
      { functions: [7] },
      'bpf.kernel.functions[0]: must be a name, or { "name": NAME, "optional": true }',
    ],
    [
      { btfTypes: ["class request"] },
      "bpf.kernel.btfTypes[0]: must be a type name, such as struct request or task_struct",
    ],
    [
      { btfTypes: [{ name: "request", maybe: true }] },
      'bpf.kernel.btfTypes[0]: unknown field "maybe"',
    ],
  ];
  for (const [kernel, line] of cases) {
    assertEquals(validateBpfManifest({ entry: "a.ts", kernel }), {
      ok: false,
      errors: [line],
    });
  }
  assertEquals(
    validateBpfManifest({
      entry: "a.ts",
      grants: { attach: [{ kind: "xdp", optional: 1 }] },
    }),
    { ok: false, errors: ["bpf.grants.attach[0].optional: must be boolean"] },
  );
  throws(
    () => validateGrants({ attach: [{ kind: "xdp", optional: 1 }] }),
    {
      name: "TypeError",
      message: /attach\[0\]\.optional must be true or false/,
    },
  );
});
