// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian u64
// header length N, N bytes of UTF-8 JSON ({name: {dtype, shape, data_offsets}, __metadata__?}),
// then the raw little-endian tensor bytes. We write exactly what Python's `safetensors` accepts
// (contiguous data, no holes, header space-padded to 8 bytes) so checkpoints open in PyTorch too.

export type Dtype = 'F32' | 'F64' | 'I32' | 'I64' | 'U8' | 'F16' | 'BF16';
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor as stored. F16/BF16 tensors carry their values as a Float32Array in memory. */
export interface NamedTensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

/** A one-line "this file is broken and here is how" error; `source` is the file (or label) read. */
export class FormatError extends Error {
  constructor(
    readonly source: string,
    readonly problem: string,
    kind = 'safetensors',
  ) {
    super(`invalid ${kind} file ${source}: ${problem}`);
    this.name = 'FormatError';
  }
}

export const DTYPE_SIZE: Record<Dtype, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1, F16: 2, BF16: 2 };

/** Python refuses headers above 100 MB; so do we (a garbled length field usually lands far above). */
const MAX_HEADER = 100_000_000;

// Typed arrays use the host byte order; the format is little-endian. Every platform Node ships on is
// LE, so we check once rather than byte-swap everywhere.
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
function requireLittleEndian(): void {
  if (!HOST_LE) throw new Error('safetensors: big-endian hosts are not supported');
}

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Product of a shape; [] is a scalar (1 element). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Half-precision conversions (there is no Float16Array in Node 20).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 -> IEEE half with round-to-nearest-even (what numpy/torch do). */
export function f32ToF16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still correct
  return sign | h;
}

/** float32 -> bfloat16 (upper 16 bits) with round-to-nearest-even; NaN stays NaN. */
export function f32ToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// Encode

function expectedArray(dtype: Dtype): string {
  switch (dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
      return 'Float32Array';
    case 'F64':
      return 'Float64Array';
    case 'I32':
      return 'Int32Array';
    case 'I64':
      return 'BigInt64Array';
    case 'U8':
      return 'Uint8Array';
  }
}

function tensorBytes(name: string, t: NamedTensor): Uint8Array {
  const want = expectedArray(t.dtype);
  // Buffer is a Uint8Array subclass: accept it for U8.
  const ok = t.dtype === 'U8' ? t.data instanceof Uint8Array : t.data.constructor.name === want;
  if (!ok)
    throw new Error(
      `safetensors: tensor "${name}" is ${t.dtype} but its data is a ${t.data.constructor.name}, expected ${want}`,
    );
  if (t.dtype === 'F16' || t.dtype === 'BF16') {
    const src = t.data as Float32Array;
    const out = new Uint16Array(src.length);
    const conv = t.dtype === 'F16' ? f32ToF16 : f32ToBf16;
    for (let i = 0; i < src.length; i++) out[i] = conv(src[i]);
    return new Uint8Array(out.buffer);
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  requireLittleEndian();
  // Sorted by name so the file is deterministic (same tensors -> same bytes -> stable hashes/diffs).
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: metadata "${k}" must be a string, got ${typeof v}`);
    }
    header.__metadata__ = { ...metadata };
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    const t = tensors[name];
    if (!isDtype(t.dtype)) throw new Error(`safetensors: tensor "${name}" has unknown dtype ${String(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new Error(`safetensors: tensor "${name}" has an invalid shape ${JSON.stringify(t.shape)}`);
    }
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `safetensors: tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`,
      );
    }
    const bytes = tensorBytes(name, t);
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8; // 8 + N stays 8-aligned, so the data section is too
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.byteLength;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decode

interface Entry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(
  bytes: Uint8Array,
  source: string,
): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const fail = (problem: string): never => {
    throw new FormatError(source, problem);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  const room = BigInt(bytes.byteLength - 8);
  if (n > room) fail(`header length ${n} is beyond the end of the file (${room} bytes after the length field)`);
  if (n > BigInt(MAX_HEADER)) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit`);
  const len = Number(n);
  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + len));
    if (!text.startsWith('{')) fail('header JSON does not start with "{"');
    parsed = JSON.parse(text);
  } catch (e) {
    if (e instanceof FormatError) throw e;
    fail(`header is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('header JSON is not an object');
  const dataLen = bytes.byteLength - 8 - len;
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) fail(`tensor "${name}" entry is not an object`);
    if (info.dtype === undefined) fail(`tensor "${name}" has no dtype`);
    if (!isDtype(info.dtype)) fail(`tensor "${name}" has unknown dtype ${JSON.stringify(info.dtype)}`);
    const dtype = info.dtype as Dtype;
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [begin, end] = offs as number[];
    if (begin > end || end > dataLen) {
      fail(`tensor "${name}" data_offsets [${begin}, ${end}] are out of range (data section is ${dataLen} bytes)`);
    }
    const want = numel(shape as number[]) * DTYPE_SIZE[dtype];
    if (end - begin !== want) {
      fail(
        `tensor "${name}" spans ${end - begin} bytes but ${dtype} shape [${(shape as number[]).join(', ')}] needs ${want}`,
      );
    }
    entries.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }
  // Overlap check in offset order. Holes are tolerated on read (Python rejects them; we only never write them).
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1],
      cur = byOffset[i];
    if (cur.begin < prev.end)
      fail(
        `tensors "${prev.name}" and "${cur.name}" overlap ([${prev.begin}, ${prev.end}] vs [${cur.begin}, ${cur.end}])`,
      );
  }
  return { entries, metadata, dataStart: 8 + len };
}

function decodeData(dtype: Dtype, raw: Uint8Array): TensorData {
  // `raw` is a fresh copy, so its buffer starts at offset 0 and every view is aligned.
  switch (dtype) {
    case 'F32':
      return new Float32Array(raw.buffer);
    case 'F64':
      return new Float64Array(raw.buffer);
    case 'I32':
      return new Int32Array(raw.buffer);
    case 'I64':
      return new BigInt64Array(raw.buffer);
    case 'U8':
      return raw;
    case 'F16': {
      const h = new Uint16Array(raw.buffer);
      const out = new Float32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = f16ToF32(h[i]);
      return out;
    }
    case 'BF16': {
      const h = new Uint16Array(raw.buffer);
      const out = new Float32Array(h.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < h.length; i++) bits[i] = h[i] << 16;
      return out;
    }
  }
}

export function decodeSafetensors(
  bytes: Uint8Array,
  source: string,
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  requireLittleEndian();
  const { entries, metadata, dataStart } = parseHeader(bytes, source);
  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    // Copy (Buffer#slice would NOT copy): aligned for the typed view, detached from the file buffer.
    const raw = new Uint8Array(e.end - e.begin);
    raw.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeData(e.dtype, raw) });
  }
  return { tensors, metadata };
}
