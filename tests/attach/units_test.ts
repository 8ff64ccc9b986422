import assert from "node:assert/strict";
import { syscallName } from "../../runtime/attach/kprobe.ts";
import { autoAttachRule } from "../../runtime/attach/auto.ts";
import {
  kindFromSection,
  SECTION_DEFS,
} from "../../runtime/spec/section_kinds.ts";
import {
  findLibrary,
  parseLdCache,
  resolveBinary,
} from "../../runtime/attach/find_library.ts";
import { symbolOffset } from "../../runtime/attach/uprobe.ts";
import { run } from "./_helpers.ts";

Deno.test("syscallName maps kernel syscall entry names to syscalls", () => {
  assert.equal(syscallName("__x64_sys_openat"), "openat");
  assert.equal(syscallName("__arm64_sys_clone"), "clone");
  assert.equal(syscallName("sys_clone"), "clone");
  assert.equal(syscallName("__se_sys_read"), "read");
  assert.equal(syscallName("do_sys_openat2"), undefined);
  assert.equal(syscallName("sys_"), undefined);
});

Deno.test("auto-attach and the grants check read one table: every auto-attached section is classified, the sleepable ones too", () => {
  const auto = SECTION_DEFS.filter((d) => d.autoAttach).map((d) => d.prefix);
  for (
    const prefix of ["uprobe.s", "uretprobe.s", "fentry.s", "fexit.s", "lsm.s"]
  ) {
    assert.ok(auto.includes(prefix), `${prefix} auto-attaches`);
  }
  for (const def of SECTION_DEFS) {
    const section = `${def.prefix}/some_target`;
    const rule = autoAttachRule(section);
    assert.equal(rule !== undefined, def.autoAttach !== undefined, section);
    // The kind the grants check sees is the table's, whatever the prefix.
    assert.equal(kindFromSection(section)?.kind, def.kind, section);
    if (rule) assert.equal(rule.target, "some_target");
  }
  // A section that names no target is attached by hand.
  assert.equal(autoAttachRule("uprobe.s"), undefined);
  assert.equal(autoAttachRule("tpx/foo"), undefined);
});

Deno.test("ld.so.cache parsing agrees with ldconfig -p", async () => {
  const entries = parseLdCache(Deno.readFileSync("/etc/ld.so.cache"));
  const listed = (await run("ldconfig", ["-p"])).split("\n").slice(1)
    .map((l) => /^\s*(\S+) \(([^)]*)\) => (\S+)$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => ({ name: m![1], path: m![3] }));
  assert.ok(listed.length > 10);
  assert.deepEqual(
    entries.map((e) => `${e.name} ${e.path}`),
    listed.map((e) => `${e.name} ${e.path}`),
  );
});

Deno.test("findLibrary resolves names like BCC's find_library", async () => {
  const libc = findLibrary("c")!;
  assert.match(libc, /\/libc\.so\.6$/);
  assert.equal(findLibrary("libc"), libc);
  assert.equal(findLibrary("libc.so.6"), libc);
  assert.equal(findLibrary("bpfpm_no_such_library"), undefined);
  assert.equal(
    resolveBinary("bash"),
    (await run("bash", ["-c", "command -v bash"])).trim(),
  );
  assert.throws(() => findLibrary("/lib/libc.so.6"), TypeError);
});

Deno.test("symbol offsets agree with nm for a PIE binary", async () => {
  const bash = resolveBinary("bash")!;
  const nm = await run("nm", ["-D", "--defined-only", bash]);
  const addr = BigInt(`0x${/^([0-9a-f]+) T readline$/m.exec(nm)![1]}`);
  const off = symbolOffset(bash, "readline");
  // In a PIE, text is mapped at vaddr = offset + (p_vaddr - p_offset) of its segment.
  const headers = await run("readelf", ["-lW", bash]);
  const load = [...headers.matchAll(
    /LOAD\s+0x([0-9a-f]+) 0x([0-9a-f]+) \S+ 0x([0-9a-f]+) 0x([0-9a-f]+) R E/g,
  )][0];
  const [pOff, pVaddr] = [BigInt(`0x${load[1]}`), BigInt(`0x${load[2]}`)];
  assert.equal(off, addr - pVaddr + pOff);
  assert.equal(symbolOffset(bash, "readline+0x4"), off + 4n);
});
