// NumPy .npy reader/writer (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", major, minor, header length (u16 for v1, u32 for v2/v3), a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces + '\n', then data.
// Everything is widened/narrowed to Float32Array because that is what the engine computes in.

import { FormatError, f16ToF32, numel } from './safetensors';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type Reader = (dv: DataView, offset: number) => number;
const READERS: Record<string, { size: number; read: Reader }> = {
  '<f4': { size: 4, read: (dv, o) => dv.getFloat32(o, true) },
  '<f8': { size: 8, read: (dv, o) => dv.getFloat64(o, true) },
  '<f2': { size: 2, read: (dv, o) => f16ToF32(dv.getUint16(o, true)) },
  '|u1': { size: 1, read: (dv, o) => dv.getUint8(o) },
  '<u1': { size: 1, read: (dv, o) => dv.getUint8(o) },
  '<i4': { size: 4, read: (dv, o) => dv.getInt32(o, true) },
  '<i8': { size: 8, read: (dv, o) => Number(dv.getBigInt64(o, true)) },
};

function parseHeaderDict(
  text: string,
  fail: (p: string) => never,
): { descr: string; fortran: boolean; shape: number[] } {
  // The header is a Python literal, not JSON; these three keys are all numpy ever writes.
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeSrc = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined) return fail(`header has no 'descr': ${text.trim()}`);
  if (fortran === undefined) return fail(`header has no 'fortran_order': ${text.trim()}`);
  if (shapeSrc === undefined) return fail(`header has no 'shape' tuple: ${text.trim()}`);
  const parts = shapeSrc
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((p) => (/^\d+L?$/.test(p) ? parseInt(p, 10) : NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) return fail(`header has an invalid shape (${shapeSrc})`);
  return { descr, fortran: fortran === 'True', shape };
}

/** `descr` is the stored numpy dtype (e.g. '<f4'); `data` is always converted to float32. */
export function decodeNpy(bytes: Uint8Array, source: string): { shape: number[]; data: Float32Array; descr: string } {
  const fail = (problem: string): never => {
    throw new FormatError(source, problem, 'npy');
  };
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b))
    fail('missing the \\x93NUMPY magic (not a .npy file)');
  const major = bytes[6],
    minor = bytes[7];
  if (![1, 2, 3].includes(major)) fail(`unsupported format version ${major}.${minor}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenSize = major === 1 ? 2 : 4;
  if (bytes.byteLength < 8 + lenSize) fail('file ends inside the header length');
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const dataStart = 8 + lenSize + headerLen;
  if (dataStart > bytes.byteLength) fail(`header length ${headerLen} is beyond the end of the file`);
  // v1/v2 headers are latin1, v3 allows UTF-8 (only field names could differ; we match ASCII keys).
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lenSize, dataStart));
  const { descr, fortran, shape } = parseHeaderDict(text, fail);
  if (fortran) fail('fortran_order is True; only C-order arrays are supported (save with np.ascontiguousarray)');
  const reader = READERS[descr];
  if (!reader) fail(`unsupported dtype '${descr}' (supported: ${Object.keys(READERS).join(' ')})`);
  const count = numel(shape);
  const need = count * reader.size;
  const have = bytes.byteLength - dataStart;
  if (have < need)
    fail(`data is truncated: shape (${shape.join(', ')}) of '${descr}' needs ${need} bytes, file has ${have}`);
  const data = new Float32Array(count);
  if (descr === '<f4') {
    // Fast path: copy the bytes (also fixes alignment) instead of per-element DataView reads.
    new Uint8Array(data.buffer).set(bytes.subarray(dataStart, dataStart + need));
  } else {
    for (let i = 0, o = dataStart; i < count; i++, o += reader.size) data[i] = reader.read(dv, o);
  }
  return { shape, data, descr };
}

/** Writes a little-endian float32, C-order .npy (v1.0, or v2.0 if the header would not fit a u16). */
export function encodeNpy(shape: number[], data: Float32Array): Uint8Array {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw new Error(`npy: invalid shape ${JSON.stringify(shape)}`);
  if (numel(shape) !== data.length)
    throw new Error(`npy: ${data.length} values do not fill shape (${shape.join(', ')})`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  // numpy pads so the data starts on a 64-byte boundary, header terminated by '\n'.
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  for (let i = 0; i < data.length; i++) dv.setFloat32(total + i * 4, data[i], true);
  return out;
}
