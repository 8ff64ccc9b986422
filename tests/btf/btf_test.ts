import assert from "node:assert/strict";
import { compileBpf } from "../spec/_clang.ts";
import { parseBtf, parseBtfExt } from "../../runtime/btf/btf.ts";
import { BtfFormatError } from "../../runtime/errors.ts";
import { layoutOf } from "../../runtime/btf/layout.ts";
import { readElf } from "../../runtime/spec/elf.ts";

async function bpftool(args: string[]): Promise<string> {
  const out = await new Deno.Command("bpftool", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "parseBtf reads the kernel's BTF as bpftool does",
  ignore: (() => {
    try {
      Deno.statSync("/sys/kernel/btf/vmlinux");
      return false;
    } catch {
      return true;
    }
  })(),
  async fn() {
    const btf = parseBtf(await Deno.readFile("/sys/kernel/btf/vmlinux"));
    const dump = await bpftool([
      "btf",
      "dump",
      "file",
      "/sys/kernel/btf/vmlinux",
    ]);
    const lines = dump.split("\n").filter((l) => l.startsWith("["));
    assert.equal(btf.types.length - 1, lines.length);
    for (const name of ["task_struct", "sk_buff", "file"]) {
      const line = lines.find((l) => l.includes(`STRUCT '${name}' size=`))!;
      const [, id, size] = /^\[(\d+)\] STRUCT '\w+' size=(\d+)/.exec(line)!;
      const t = btf.find(name, "struct")[0];
      assert.equal(t.id, Number(id), name);
      assert.equal(btf.sizeOf(t.id), Number(size), name);
      assert.equal(layoutOf(btf, t.id).size, Number(size), name);
    }
    const comm = btf.find("task_struct", "struct")[0];
    assert.ok(
      comm.kind === "struct" && comm.members.some((m) => m.name === "comm"),
    );
  },
});

Deno.test("parseBtfExt gives each program's function and source lines", async () => {
  const object = await compileBpf(`#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx) {
  return bpf_get_smp_processor_id() > 1000;
}
char LICENSE[] SEC("license") = "GPL";
`);
  const elf = readElf(object);
  const btf = parseBtf(elf.section(".BTF")!.bytes);
  const ext = parseBtfExt(elf.section(".BTF.ext")!.bytes, btf);
  const funcs = ext.funcInfo.get("tp/syscalls/sys_enter_getppid")!;
  assert.equal(funcs.length, 1);
  assert.equal(funcs[0].insnOffset, 0);
  assert.equal(btf.type(funcs[0].typeId).name, "on_getppid");
  const lines = ext.lineInfo.get("tp/syscalls/sys_enter_getppid")!;
  assert.ok(
    lines.some((l) =>
      l.line.includes("bpf_get_smp_processor_id() > 1000") && l.lineNumber === 5
    ),
  );
  assert.ok(lines.every((l) => l.fileName.endsWith("p.bpf.c")));
});

Deno.test("parseBtf rejects what is not BTF", () => {
  assert.throws(() => parseBtf(new Uint8Array(10)), {
    name: "BtfFormatError",
    message: /shorter than its 24-byte header/,
  });
  assert.throws(
    () => parseBtf(new Uint8Array(32)),
    (e) => e instanceof BtfFormatError && /magic 0xeb9f/.test(e.message),
  );
  const header = new Uint8Array(36);
  const dv = new DataView(header.buffer);
  dv.setUint16(0, 0xeb9f, true);
  header[2] = 1;
  dv.setUint32(4, 24, true);
  dv.setUint32(12, 12, true); // one 12-byte type
  dv.setUint32(16, 12, true);
  dv.setUint32(20, 0, true);
  dv.setUint32(24 + 4, 0x1f << 24, true); // kind 31 does not exist
  assert.throws(() => parseBtf(header), {
    name: "BtfFormatError",
    message: /unknown kind 31/,
  });
});
