/**
 * The Prometheus text (format 0.0.4) of `/metrics`, kept between scrapes. A scrape still
 * reads every declared map (what it shows is what the kernel counted up to that moment),
 * but text is made only for what changed: each series keeps its lines and rebuilds them
 * when its value changes; each probe version's metric keeps its block, encoded, and reuses
 * it whole when none of its series changed. A probe with 10,000 mostly idle series costs a
 * map dump and a pass over it, not 10,000 lines formatted and encoded anew. The text comes
 * out as the blocks' bytes, which a response streams without joining them.
 *
 * @module
 */
import type { MetricDeclaration } from "../manifest.ts";
import {
  bucketBounds,
  histogramSum,
  metricName,
  SeriesTable,
} from "./series.ts";

/** One declared metric of one running probe version, with its map read now. */
export interface MetricSource {
  /** The package name (the `probe` label). */
  probe: string;
  /** Its version (the `probe_version` label). */
  version: string;
  /** The declaration. */
  declaration: MetricDeclaration;
  /** The declared map's `[key, value]` pairs. */
  entries: [unknown, unknown][];
}

/** A metric or label name with what Prometheus does not allow replaced by `_`. */
function name(text: string): string {
  const s = text.replace(/[^a-zA-Z0-9_:]/g, "_");
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** What a label value must escape. */
const ESCAPED = /[\\\n"]/;

/** A label value as Prometheus text quotes it. */
function quoted(value: string): string {
  if (!ESCAPED.test(value)) return `"${value}"`;
  return `"${
    value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
  }"`;
}

/** A sample value as Prometheus text writes it. */
function number(v: number): string {
  return Number.isNaN(v)
    ? "NaN"
    : v === Infinity
    ? "+Inf"
    : v === -Infinity
    ? "-Inf"
    : String(v);
}

const utf8 = new TextEncoder();

/** What a source keeps between scrapes. */
interface Kept {
  table: SeriesTable;
  /** The labels every series of the source starts with (`probe`, `probe_version`). */
  prefix: string;
  /** Its series' lines, joined and encoded; undefined until made. */
  block?: Uint8Array;
  epoch: number;
}

/**
 * Prometheus text of declared metrics, with the node's labels on every series and a
 * `target_info` series for the node.
 *
 * @example
 * ```ts
 * import { PrometheusText } from "./prometheus.ts";
 * const p = new PrometheusText({ "host.name": "n1" }, ["host.name"]);
 * const chunks = p.render([{
 *   probe: "syscount", version: "1.0.0", entries: [[59, { count: 3n }]],
 *   declaration: { map: "data", name: "syscount_syscalls", kind: "counter", value: "value.count",
 *     labels: [{ name: "syscall", from: "key", format: "syscall" }] },
 * }]);
 * chunks.map((c) => new TextDecoder().decode(c)).join("");
 * // ...syscount_syscalls_total{probe="syscount",probe_version="1.0.0",syscall="execve",host_name="n1"} 3
 * ```
 */
export class PrometheusText {
  #kept = new Map<string, Kept>();
  #epoch = 0;
  #suffix: string;
  #targetInfo: Uint8Array;
  /** Each family's `# HELP` and `# TYPE` lines, encoded. */
  #headers = new Map<string, Uint8Array>();
  #made = 0;

  /**
   * How many series' texts were made so far: a series' text is made when it appears (a
   * histogram's also when a slot changed), and a render of unchanged series makes none.
   */
  get made(): number {
    return this.#made;
  }

  /**
   * @param resource the node's attributes (`host.name`, `kernel.release`, ...), which
   *   `target_info` carries
   * @param constant the attributes that are labels of every series too
   */
  constructor(resource: Record<string, string>, constant: string[]) {
    const labels = (keys: string[]) =>
      keys.map((k) => `${name(k)}=${quoted(resource[k])}`).join(",");
    this.#suffix = labels(constant.filter((k) => k in resource));
    this.#targetInfo = utf8.encode(
      "# HELP target_info Target metadata\n" +
        "# TYPE target_info gauge\n" +
        `target_info{${labels(Object.keys(resource))}} 1\n`,
    );
  }

  /**
   * The text of every source now, as UTF-8 chunks that end at line ends. Sources of the
   * same metric name (two versions of one probe during an upgrade) share one family; a
   * source absent from a call is forgotten.
   *
   * @param sources every running probe version's declared metrics, their maps read now
   * @returns the text's chunks, in order
   */
  render(sources: Iterable<MetricSource>): Uint8Array[] {
    const epoch = ++this.#epoch;
    const families = new Map<
      string,
      { d: MetricDeclaration; blocks: Uint8Array[] }
    >();
    for (const src of sources) {
      const d = src.declaration;
      const id =
        `${src.probe}\u0000${src.version}\u0000${d.name}\u0000${d.map}`;
      let k = this.#kept.get(id);
      if (!k) {
        k = {
          table: new SeriesTable(d),
          prefix: `probe=${quoted(src.probe)},probe_version=${
            quoted(src.version)
          }`,
          epoch,
        };
        this.#kept.set(id, k);
      }
      k.epoch = epoch;
      const family = this.#family(d);
      let f = families.get(family);
      if (!f) families.set(family, f = { d, blocks: [] });
      else if (f.d.kind !== d.kind) continue; // one family has one type
      if (k.table.read(src.entries) || k.block === undefined) {
        k.block = this.#block(k, family);
      }
      f.blocks.push(k.block);
    }
    for (const [id, k] of this.#kept) {
      if (k.epoch !== epoch) this.#kept.delete(id);
    }
    const chunks = [this.#targetInfo];
    for (const [family, { d, blocks }] of families) {
      const key = `${family}\u0000${d.kind}\u0000${d.help ?? ""}`;
      let header = this.#headers.get(key);
      if (!header) {
        header = utf8.encode(
          `# HELP ${family} ${
            (d.help ?? "").replace(/\\/g, "\\\\").replace(/\n/g, "\\n")
          }\n# TYPE ${family} ${d.kind}\n`,
        );
        this.#headers.set(key, header);
      }
      chunks.push(header, ...blocks);
    }
    return chunks;
  }

  /** The family name: the exported name, `_total` on counters. */
  #family(d: MetricDeclaration): string {
    const n = name(metricName(d));
    return d.kind === "counter" && !n.endsWith("_total") ? `${n}_total` : n;
  }

  /**
   * A source's lines. A counter's or gauge's series keeps only its label values, quoted
   * (short flat strings, made once: labels never change); its lines are joined from those,
   * the parts every series shares and the values, in one pass: 10,000 new series make no
   * line strings that live on. A histogram's series keeps its lines, rebuilt when a slot
   * changed.
   */
  #block(k: Kept, family: string): Uint8Array {
    const d = k.table.declaration;
    const labels = (d.labels ?? []).map((l) => name(l.name));
    const parts: string[] = [];
    if (d.kind !== "histogram") {
      // `family{probe="…",probe_version="…",first=` … `,host_name="…"} `
      const head = `${family}{${k.prefix}${
        labels.length ? `,${labels[0]}=` : ""
      }`;
      const tail = `${this.#suffix ? `,${this.#suffix}` : ""}} `;
      for (const s of k.table.series.values()) {
        if (s.text === undefined) {
          let t = labels.length ? quoted(s.labels[0]) : "";
          for (let i = 1; i < labels.length; i++) {
            t += `,${labels[i]}=${quoted(s.labels[i])}`;
          }
          s.text = t;
          this.#made++;
        }
        parts.push(head, s.text, tail, number(s.value), "\n");
      }
      return utf8.encode(parts.join(""));
    }
    for (const s of k.table.series.values()) {
      if (s.changed || s.text === undefined) {
        let set = k.prefix;
        for (let i = 0; i < labels.length; i++) {
          set += `,${labels[i]}=${quoted(s.labels[i])}`;
        }
        if (this.#suffix) set += `,${this.#suffix}`;
        const counts = s.counts!;
        const bounds = bucketBounds(d, counts.length);
        let lines = "";
        let cumulative = 0;
        for (let i = 0; i < counts.length; i++) {
          cumulative += counts[i];
          lines += `${family}_bucket{${set},le="${
            i < bounds.length ? number(bounds[i]) : "+Inf"
          }"} ${cumulative}\n`;
        }
        s.text = lines +
          `${family}_sum{${set}} ${number(histogramSum(bounds, counts))}\n` +
          `${family}_count{${set}} ${s.value}\n`;
        this.#made++;
      }
      parts.push(s.text);
    }
    return utf8.encode(parts.join(""));
  }
}
