/**
 * An independent reader of TensorBoard event files for the tests (none of the writer's code): a bitwise
 * CRC-32C, a TFRecord walk that asserts both CRCs of every record, and a protobuf wire decoder.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';

export function bitwiseCrc32c(b: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
    c >>>= 0;
  }
  return ~c >>> 0;
}
export const mask = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

export function records(buf: Uint8Array): Uint8Array[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < buf.length) {
    const n = dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
    assert.equal(dv.getUint32(off + 8, true), mask(bitwiseCrc32c(buf.subarray(off, off + 8))), `length CRC at ${off}`);
    const data = buf.subarray(off + 12, off + 12 + n);
    assert.equal(dv.getUint32(off + 12 + n, true), mask(bitwiseCrc32c(data)), `data CRC at ${off}`);
    out.push(data);
    off += 16 + n;
  }
  assert.equal(off, buf.length, 'no trailing bytes');
  return out;
}

type Field = { no: number; wire: number; v: number | Uint8Array };
function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = () => {
    let r = 0,
      m = 1;
    for (;;) {
      const x = b[i++];
      r += (x & 0x7f) * m;
      m *= 128;
      if (!(x & 0x80)) return r;
    }
  };
  while (i < b.length) {
    const key = varint(),
      no = Math.floor(key / 8),
      wire = key % 8;
    if (wire === 0) out.push({ no, wire, v: varint() });
    else if (wire === 1) {
      out.push({ no, wire, v: b.subarray(i, i + 8) });
      i += 8;
    } else if (wire === 5) {
      out.push({ no, wire, v: b.subarray(i, i + 4) });
      i += 4;
    } else if (wire === 2) {
      const n = varint();
      out.push({ no, wire, v: b.subarray(i, i + n) });
      i += n;
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}
const bytesOf = (f: Field) => f.v as Uint8Array;
const f64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
const f32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

export interface Ev {
  wallTime: number;
  step: number;
  version?: string;
  scalars: Map<string, number>;
  texts: Map<string, string>;
  start?: boolean;
}
export function decodeEvent(b: Uint8Array): Ev {
  const ev: Ev = { wallTime: NaN, step: 0, scalars: new Map(), texts: new Map() };
  for (const f of fields(b)) {
    if (f.no === 1) ev.wallTime = f64(bytesOf(f));
    else if (f.no === 2) ev.step = f.v as number;
    else if (f.no === 3) ev.version = str(bytesOf(f));
    else if (f.no === 7) ev.start = fields(bytesOf(f)).some((g) => g.no === 1 && g.v === 1);
    else if (f.no === 5) {
      for (const val of fields(bytesOf(f)).filter((g) => g.no === 1)) {
        const vf = fields(bytesOf(val));
        const tag = str(bytesOf(vf.find((g) => g.no === 1)!));
        const simple = vf.find((g) => g.no === 2);
        if (simple) {
          assert.equal(simple.wire, 5, 'simple_value is a float');
          ev.scalars.set(tag, f32(bytesOf(simple)));
        }
        const tensor = vf.find((g) => g.no === 8);
        if (tensor) ev.texts.set(tag, str(bytesOf(fields(bytesOf(tensor)).find((g) => g.no === 8)!)));
      }
    }
  }
  return ev;
}
export const readEvents = (file: string) => records(new Uint8Array(fs.readFileSync(file))).map(decodeEvent);
