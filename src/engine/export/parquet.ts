/**
 * The metrics table (export/columns.ts) as a Parquet file, written by hand so no native library is needed:
 * one row group, one PLAIN-encoded, uncompressed data page (v1) per column. `sequences` and `step` are
 * REQUIRED INT64; every other column is an OPTIONAL DOUBLE whose missing or non-finite cells are nulls
 * (definition levels in the RLE hybrid encoding, bit width 1). Metadata is Thrift's compact protocol
 * (parquet-format's parquet.thrift: FileMetaData, SchemaElement, RowGroup, ColumnChunk, ColumnMetaData,
 * PageHeader, DataPageHeader, KeyValue).
 *
 * File: "PAR1" · column chunks (PageHeader + page data each) · FileMetaData · u32le its length · "PAR1".
 */
import { writeFileAtomic } from '../io';
import { metricTable } from './columns';
import type { RunSnapshot } from './snapshot';

// Thrift compact protocol types.
const T = { I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;

class Compact {
  readonly out: number[] = [];
  private last = 0;
  private stack: number[] = [];

  private varint(n: bigint): void {
    while (n >= 0x80n) {
      this.out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.out.push(Number(n));
  }
  private zigzag(n: number | bigint): bigint {
    const b = BigInt(n);
    return b >= 0n ? b << 1n : (-b << 1n) - 1n;
  }
  private field(id: number, type: number): void {
    const delta = id - this.last;
    if (delta > 0 && delta <= 15) this.out.push((delta << 4) | type);
    else {
      this.out.push(type);
      this.varint(this.zigzag(id));
    }
    this.last = id;
  }
  i32(id: number, v: number): this {
    this.field(id, T.I32);
    this.varint(this.zigzag(v));
    return this;
  }
  i64(id: number, v: number): this {
    this.field(id, T.I64);
    this.varint(this.zigzag(v));
    return this;
  }
  binary(id: number, s: string): this {
    this.field(id, T.BINARY);
    this.rawString(s);
    return this;
  }
  private rawString(s: string): void {
    const b = new TextEncoder().encode(s);
    this.varint(BigInt(b.length));
    this.out.push(...b);
  }
  private listHeader(id: number, type: number, n: number): void {
    this.field(id, T.LIST);
    if (n < 15) this.out.push((n << 4) | type);
    else {
      this.out.push(0xf0 | type);
      this.varint(BigInt(n));
    }
  }
  i32List(id: number, vs: number[]): this {
    this.listHeader(id, T.I32, vs.length);
    for (const v of vs) this.varint(this.zigzag(v));
    return this;
  }
  stringList(id: number, vs: string[]): this {
    this.listHeader(id, T.BINARY, vs.length);
    for (const v of vs) this.rawString(v);
    return this;
  }
  structList<X>(id: number, xs: X[], each: (c: this, x: X) => void): this {
    this.listHeader(id, T.STRUCT, xs.length);
    for (const x of xs) {
      this.begin();
      each(this, x);
      this.end();
    }
    return this;
  }
  struct(id: number, each: (c: this) => void): this {
    this.field(id, T.STRUCT);
    this.begin();
    each(this);
    this.end();
    return this;
  }
  private begin(): void {
    this.stack.push(this.last);
    this.last = 0;
  }
  private end(): void {
    this.out.push(0);
    this.last = this.stack.pop()!;
  }
  /** A top-level struct is written without a field header: call this once after its fields. */
  stop(): Uint8Array {
    this.out.push(0);
    return Uint8Array.from(this.out);
  }
}

const TYPE = { INT64: 2, DOUBLE: 5 } as const;
const REQUIRED = 0,
  OPTIONAL = 1;
const PLAIN = 0,
  RLE = 3;

interface Column {
  name: string;
  type: number;
  repetition: number;
  values: number[];
}

/** Definition levels (1 = present) in the RLE/bit-packed hybrid: runs of (count << 1) then one byte. */
function definitionLevels(present: boolean[]): Uint8Array {
  const body: number[] = [];
  for (let i = 0; i < present.length;) {
    let j = i;
    while (j < present.length && present[j] === present[i]) j++;
    let h = (j - i) << 1;
    while (h >= 0x80) {
      body.push((h & 0x7f) | 0x80);
      h >>>= 7;
    }
    body.push(h);
    body.push(present[i] ? 1 : 0);
    i = j;
  }
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  return out;
}

function pageData(c: Column): Uint8Array {
  const present = c.values.map((v) => Number.isFinite(v));
  const kept = c.repetition === OPTIONAL ? c.values.filter((_, i) => present[i]) : c.values;
  const vals = new Uint8Array(kept.length * 8);
  const dv = new DataView(vals.buffer);
  kept.forEach((v, i) => {
    if (c.type === TYPE.INT64) dv.setBigInt64(i * 8, BigInt(Math.round(v)), true);
    else dv.setFloat64(i * 8, v, true);
  });
  if (c.repetition !== OPTIONAL) return vals;
  const levels = definitionLevels(present);
  const out = new Uint8Array(levels.length + vals.length);
  out.set(levels);
  out.set(vals, levels.length);
  return out;
}

export function encodeParquet(columns: Column[], rows: number, meta: Record<string, string>): Uint8Array {
  const chunks: Uint8Array[] = [new TextEncoder().encode('PAR1')];
  let offset = 4;
  const placed: Array<{ c: Column; offset: number; size: number }> = [];
  for (const c of columns) {
    const data = pageData(c);
    const header = new Compact()
      .i32(1, 0) // DATA_PAGE
      .i32(2, data.length)
      .i32(3, data.length)
      .struct(5, (h) => h.i32(1, rows).i32(2, PLAIN).i32(3, RLE).i32(4, RLE))
      .stop();
    placed.push({ c, offset, size: header.length + data.length });
    chunks.push(header, data);
    offset += header.length + data.length;
  }
  const footer = new Compact()
    .i32(1, 1)
    .structList(2, [null, ...columns], (e, c) => {
      if (c === null) {
        e.binary(4, 'schema').i32(5, columns.length);
        return;
      }
      e.i32(1, c.type).i32(3, c.repetition).binary(4, c.name);
    })
    .i64(3, rows)
    .structList(4, [placed], (g, cols) => {
      g.structList(1, cols, (cc, p) => {
        cc.i64(2, p.offset).struct(3, (m) =>
          m
            .i32(1, p.c.type)
            .i32List(2, [PLAIN, RLE])
            .stringList(3, [p.c.name])
            .i32(4, 0) // UNCOMPRESSED
            .i64(5, rows)
            .i64(6, p.size)
            .i64(7, p.size)
            .i64(9, p.offset),
        );
      });
      g.i64(
        2,
        cols.reduce((n, p) => n + p.size, 0),
      ).i64(3, rows);
    })
    .structList(5, Object.entries(meta), (kv, [k, v]) => kv.binary(1, k).binary(2, v))
    .binary(6, 'induction-lab export (hand-written Parquet writer)')
    .stop();
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, footer.length, true);
  chunks.push(footer, len, new TextEncoder().encode('PAR1'));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export function writeMetricsParquet(s: RunSnapshot, out: string): { rows: number; columns: number } {
  const { columns, rows } = metricTable(s.records, s.config.model.depth, s.config.train.lr);
  const ints = new Set(['sequences', 'step']);
  const cols: Column[] = columns.map((name, j) => ({
    name,
    type: ints.has(name) ? TYPE.INT64 : TYPE.DOUBLE,
    repetition: ints.has(name) ? REQUIRED : OPTIONAL,
    values: rows.map((r) => r[j]),
  }));
  const meta = { 'induction_lab.run': s.dir.id, 'induction_lab.status': String(s.runJson.status) };
  writeFileAtomic(out, encodeParquet(cols, rows.length, meta));
  return { rows: rows.length, columns: cols.length };
}
