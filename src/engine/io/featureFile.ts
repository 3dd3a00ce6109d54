// Loads an external feature matrix (e.g. precomputed image embeddings) from .npy, .safetensors or
// HDF5, always as float32 C-order. HDF5 goes through h5wasm (a wasm build of libhdf5), which is
// only imported when an .h5 file is actually read: it is ~4 MB of JS and ESM-only.

import * as fs from 'node:fs/promises';
import * as nodePath from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { decodeNpy } from './npy';
import { decodeSafetensors } from './safetensors';
import { describeFsError } from './atomic';

export interface FeatureArray {
  shape: number[];
  data: Float32Array;
  /** Human-readable origin, e.g. "/data/feats.h5:resnet18/224/feat". */
  source: string;
}

export const DEFAULT_H5_KEY = 'resnet18/224/feat';

type H5 = typeof import('h5wasm');

let h5Promise: Promise<H5> | undefined;

/** Loads h5wasm's Node build once. */
function loadH5wasm(): Promise<H5> {
  h5Promise ??= (async () => {
    // A string variable keeps tsc (module: commonjs) from rewriting this into require(), which the
    // package's ESM-only "exports" would refuse; esbuild/tsx keep a real import() for Node.
    // Bundled (the extension, the built CLI): out/h5wasm.mjs next to this bundle; from source: the package.
    const bundled = nodePath.join(__dirname, 'h5wasm.mjs');
    const spec = existsSync(bundled) ? pathToFileURL(bundled).href : 'h5wasm/node';
    // Emscripten mistakes Electron/Node >= 21 (which define `navigator`) for a browser; hide it
    // while the module initialises, as the h5wasm README recommends.
    const nav = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    if (nav?.configurable) Object.defineProperty(globalThis, 'navigator', { value: undefined, configurable: true });
    try {
      const h5 = (await import(spec)) as H5;
      await h5.ready;
      return h5;
    } finally {
      if (nav?.configurable) Object.defineProperty(globalThis, 'navigator', nav);
    }
  })();
  h5Promise.catch(() => {
    h5Promise = undefined;
  }); // allow a retry after a failed load
  return h5Promise;
}

/** For tests/exports: the same lazily loaded h5wasm module. */
export function h5wasmModule(): Promise<H5> {
  return loadH5wasm();
}

function toFloat32(data: ArrayLike<number>): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

function listPreview(keys: string[]): string {
  const max = 20;
  if (keys.length === 0) return '(none)';
  return keys.slice(0, max).join(', ') + (keys.length > max ? `, … (${keys.length - max} more)` : '');
}

async function readNpy(file: string): Promise<FeatureArray> {
  const { shape, data, descr } = decodeNpy(await fs.readFile(file), file);
  if (!/^[<|=]?f[248]$/.test(descr))
    throw new Error(`${file}: feature data must be floating point, got numpy dtype '${descr}'`);
  return { shape, data, source: file };
}

async function readSafetensors(file: string, key?: string): Promise<FeatureArray> {
  const { tensors } = decodeSafetensors(await fs.readFile(file), file);
  const names = [...tensors.keys()].sort();
  if (names.length === 0) throw new Error(`${file}: the file holds no tensors`);
  // No key: take the only tensor, or the first by name (deterministic across writers).
  const name = key ?? names[0];
  const t = tensors.get(name);
  if (!t) throw new Error(`${file}: tensor "${name}" not found; available: ${listPreview(names)}`);
  if (!['F32', 'F64', 'F16', 'BF16'].includes(t.dtype)) {
    throw new Error(`${file}:${name}: feature data must be floating point, got ${t.dtype}`);
  }
  return { shape: t.shape, data: toFloat32(t.data as Float32Array | Float64Array), source: `${file}:${name}` };
}

/** Every dataset path in the file, for "key not found" messages. */
function datasetPaths(h5: H5, root: InstanceType<H5['Group']>): string[] {
  const out: string[] = [];
  const walk = (g: InstanceType<H5['Group']>, prefix: string): void => {
    for (const k of g.keys()) {
      const child = g.get(k);
      const p = prefix ? `${prefix}/${k}` : k;
      if (child instanceof h5.Dataset) out.push(p);
      else if (child instanceof h5.Group) walk(child, p);
    }
  };
  walk(root, '');
  return out;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]); // \x89HDF\r\n\x1a\n

/**
 * HDF5 puts its signature at byte 0 or after a user block of 512, 1024, 2048, ... bytes. Checking it
 * ourselves gives a clean error instead of libhdf5's multi-line diagnostic dump on stderr. Returns the
 * signature's offset, or -1.
 */
async function hdf5SignatureAt(fh: fs.FileHandle, size: number): Promise<number> {
  const buf = Buffer.alloc(8);
  for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
    await fh.read(buf, 0, 8, off);
    if (buf.equals(HDF5_SIGNATURE)) return off;
  }
  return -1;
}

/**
 * The end-of-file address the superblock records (absolute, i.e. plus its base address), or null if the
 * superblock is of an unknown version or the address is undefined. Layouts from the HDF5 file format
 * spec: versions 0/1 keep the addresses after 16 (v1: 20) bytes of version and size fields; versions 2/3
 * after 4 bytes.
 */
async function hdf5StoredEnd(fh: fs.FileHandle, at: number, size: number): Promise<number | null> {
  const head = Buffer.alloc(Math.min(96, size - at));
  await fh.read(head, 0, head.length, at);
  if (head.length < 16) return null;
  const version = head[8];
  let sizeOfOffsets: number, addrStart: number, eofIndex: number;
  if (version === 0 || version === 1) {
    sizeOfOffsets = head[13];
    addrStart = version === 0 ? 24 : 28;
    eofIndex = 2;
  } else if (version === 2 || version === 3) {
    sizeOfOffsets = head[9];
    addrStart = 12;
    eofIndex = 2;
  } else return null;
  if (sizeOfOffsets !== 8 && sizeOfOffsets !== 4) return null;
  const addr = (i: number): bigint | null => {
    const o = addrStart + i * sizeOfOffsets;
    if (o + sizeOfOffsets > head.length) return null;
    const v = sizeOfOffsets === 8 ? head.readBigUInt64LE(o) : BigInt(head.readUInt32LE(o));
    return v === (sizeOfOffsets === 8 ? 0xffffffffffffffffn : 0xffffffffn) ? null : v;
  };
  const base = addr(0),
    eof = addr(eofIndex);
  if (base === null || eof === null) return null;
  return Number(base + eof);
}

/** Checks the signature and, from the superblock, that the file is whole: one clear line instead of libhdf5's dump. */
async function checkHdf5(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const at = await hdf5SignatureAt(fh, size);
    if (at < 0) throw new Error(`${file}: not an HDF5 file (no HDF5 signature)`);
    const end = await hdf5StoredEnd(fh, at, size);
    if (end !== null && size < end)
      throw new Error(
        `${file}: truncated HDF5 file: ${size} bytes, but its superblock says ${end} (an interrupted copy or download?)`,
      );
  } finally {
    await fh.close();
  }
}

/**
 * Walks `key` one component at a time through group listings. Asking libhdf5 for a path whose
 * parent is missing or is a dataset makes it dump a long diagnostic on stderr; this never does.
 */
function resolvePath(
  h5: H5,
  root: InstanceType<H5['Group']>,
  key: string,
): ReturnType<InstanceType<H5['Group']>['get']> {
  const parts = key.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return null;
  let cur: ReturnType<InstanceType<H5['Group']>['get']> = root;
  for (const part of parts) {
    if (!(cur instanceof h5.Group) || !cur.keys().includes(part)) return null;
    cur = cur.get(part);
  }
  return cur;
}

async function readHdf5(file: string, key: string): Promise<FeatureArray> {
  await checkHdf5(file);
  const h5 = await loadH5wasm();
  // The Node build uses NODERAWFS: libhdf5 reads the host file directly, no copy into a memfs.
  const f = new h5.File(nodePath.resolve(file), 'r');
  if (f.file_id < 0n) throw new Error(`${file}: libhdf5 could not open the file (corrupt or unsupported HDF5)`);
  try {
    const ds = resolvePath(h5, f, key);
    if (!(ds instanceof h5.Dataset)) {
      const what = ds ? `is a ${ds.constructor.name}, not a dataset` : 'not found';
      throw new Error(`${file}: dataset "${key}" ${what}; available datasets: ${listPreview(datasetPaths(h5, f))}`);
    }
    const meta = ds.metadata;
    const H5T_FLOAT = 1; // HDF5 type class (H5T_INTEGER = 0)
    if (meta.type !== H5T_FLOAT) {
      throw new Error(
        `${file}:${key}: feature data must be floating point, got HDF5 type class ${meta.type} (${meta.size}-byte${meta.type === 0 ? ' integer' : ''})`,
      );
    }
    const shape = ds.shape ?? [];
    const value = ds.value;
    let data: Float32Array;
    if (value instanceof Float32Array || value instanceof Float64Array) data = toFloat32(value);
    else throw new Error(`${file}:${key}: unsupported ${meta.size * 8}-bit float dataset`);
    return { shape, data, source: `${file}:${key}` };
  } finally {
    f.close();
  }
}

/**
 * Reads a float feature array. `key` picks the tensor (.safetensors) or dataset path (.h5/.hdf5,
 * default "resnet18/224/feat"); .npy holds a single array and ignores it.
 */
export async function readFeatureFile(path: string, key?: string): Promise<FeatureArray> {
  try {
    const st = await fs.stat(path);
    if (!st.isFile()) throw new Error(`feature file ${path} is not a regular file`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`feature file not found: ${path}`);
    if ((err as NodeJS.ErrnoException).code)
      throw new Error(`cannot read feature file ${path}: ${describeFsError(err)}`);
    throw err;
  }
  const ext = nodePath.extname(path).toLowerCase();
  switch (ext) {
    case '.npy':
      return readNpy(path);
    case '.safetensors':
      return readSafetensors(path, key);
    case '.h5':
    case '.hdf5':
      return readHdf5(path, key ?? DEFAULT_H5_KEY);
    default:
      throw new Error(
        `feature file ${path}: unknown extension "${ext || '(none)'}"; expected .npy, .safetensors, .h5 or .hdf5`,
      );
  }
}
