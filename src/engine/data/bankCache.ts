/**
 * A disk cache of the synthetic stand-in banks (spec §1.5). Making one costs ≈ 1 s of CPU and every process
 * that trains or measures on synthetic features (each CLI command, each training child, each sweep worker)
 * made it again; reading the 16.6 MB back costs a few milliseconds. The cache is never part of a run folder:
 * it lives in `$INDUCTION_LAB_CACHE` (`off` turns it off) or else `<os temp dir>/induction-lab-cache/`.
 *
 * A file is keyed by the bank's options and by GENERATOR_SOURCES_SHA256, the hash of the generators' sources
 * (test/unit/bankCache.test.ts fails when those sources change and the hash is not updated), so a changed
 * generator never reads an old bank. Files are written atomically; a file that is cut, altered or from another
 * key fails its checks on reading (magic, header, size, SHA-1 of the values) and is made and written again.
 * A cache that cannot be written (read-only or full disk) only costs the time: the bank made in memory is used.
 *
 * File layout: "ILBANK02" | u32 LE header length n | n bytes of header JSON | zero padding to a multiple of 4 |
 * float32 LE values [classes, exemplars, dim]. Header: {key, classes, exemplars, dim, source, sha1}. SHA-1, not
 * SHA-256: the check is against a cut or damaged file, not an adversary, and it runs in every process that reads
 * a bank (16.6 MB: ≈ 10 ms against ≈ 40 ms here). ILBANK01 files (SHA-256) fail the magic and are made again.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic';
import type { FeatureBank } from './types';

/** SHA-256 over GENERATOR_SOURCES (src/engine/data), each as `name NUL content NUL`, in this order. */
export const GENERATOR_SOURCES_SHA256 = '3078660c7c301a59804c0c540628f4df2706d85a1cddef844ad9febd1f3fcf23';
export const GENERATOR_SOURCES = ['rng.ts', 'synthetic.ts', 'structured.ts', 'standIn.ts'] as const;

const MAGIC = Buffer.from('ILBANK02', 'latin1');
/** Banks kept in the folder; older ones are removed after each write (16.6 MB each at the paper's size). */
const KEPT_FILES = 8;

/** The cache folder, or null when `INDUCTION_LAB_CACHE=off`. */
export function bankCacheDir(): string | null {
  const env = process.env.INDUCTION_LAB_CACHE;
  if (env === 'off') return null;
  return env ? path.resolve(env) : path.join(os.tmpdir(), 'induction-lab-cache');
}

/** The cache file of a bank made from `options` (any JSON value that determines the bank). */
export function bankCacheFile(dir: string, options: unknown): { file: string; key: string } {
  const key = JSON.stringify([GENERATOR_SOURCES_SHA256, options]);
  const name = `standin-${createHash('sha256').update(key).digest('hex').slice(0, 32)}.bin`;
  return { file: path.join(dir, name), key };
}

const valuesHash = (data: Float32Array) =>
  createHash('sha1')
    .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    .digest('hex');

/** Encodes a bank with its key (the file layout above). */
export function encodeCachedBank(key: string, bank: FeatureBank): Buffer {
  if (os.endianness() !== 'LE') throw new Error('bank cache: the file layout is little-endian');
  const { classes, exemplars, dim, source, data } = bank;
  const header = Buffer.from(JSON.stringify({ key, classes, exemplars, dim, source, sha1: valuesHash(data) }));
  const start = Math.ceil((MAGIC.length + 4 + header.length) / 4) * 4;
  const out = Buffer.alloc(start + data.byteLength);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(header.length, MAGIC.length);
  header.copy(out, MAGIC.length + 4);
  const values = new Float32Array(out.buffer, out.byteOffset + start, data.length);
  values.set(data);
  return out;
}

/** A header is a few hundred bytes; more than this is not a cache file. */
const MAX_HEADER = 1 << 16;

/**
 * The bank in `file` if it is a whole, unaltered bank of `key`, else null. The values are read straight into the
 * bank's array: a second 16 MB copy costs more than the read on a loaded machine.
 */
export function readCachedBank(file: string, key: string): FeatureBank | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null; // not cached yet (or unreadable): made by the caller
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, MAGIC.length + 4 + MAX_HEADER));
    if (readFully(fd, head, 0) < head.length || head.length < MAGIC.length + 4) return null;
    if (!head.subarray(0, MAGIC.length).equals(MAGIC)) return null;
    const n = head.readUInt32LE(MAGIC.length);
    if (MAGIC.length + 4 + n > head.length) return null;
    let h: { key?: unknown; classes?: unknown; exemplars?: unknown; dim?: unknown; source?: unknown; sha1?: unknown };
    try {
      h = JSON.parse(head.subarray(MAGIC.length + 4, MAGIC.length + 4 + n).toString('utf8'));
    } catch {
      return null;
    }
    const { classes, exemplars, dim, source, sha1 } = h;
    if (h.key !== key || typeof source !== 'string' || typeof sha1 !== 'string') return null;
    if (![classes, exemplars, dim].every((v) => Number.isInteger(v) && (v as number) > 0)) return null;
    const count = (classes as number) * (exemplars as number) * (dim as number);
    const start = Math.ceil((MAGIC.length + 4 + n) / 4) * 4;
    if (size !== start + 4 * count) return null;
    const data = new Float32Array(count);
    if (readFully(fd, new Uint8Array(data.buffer), start) < data.byteLength) return null;
    if (valuesHash(data) !== sha1) return null;
    return { classes: classes as number, exemplars: exemplars as number, dim: dim as number, data, source };
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads into all of `into` from `position`; the bytes read (fewer at the end of the file). */
function readFully(fd: number, into: Uint8Array, position: number): number {
  let done = 0;
  while (done < into.length) {
    const got = fs.readSync(fd, into, done, into.length - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return done;
}

/**
 * The bank of `options` from the cache, or `make()`'s, which is then written to the cache. `dir` defaults to
 * bankCacheDir(); with null the cache is skipped.
 */
export function cachedBank(options: unknown, make: () => FeatureBank, dir = bankCacheDir()): FeatureBank {
  if (dir === null) return make();
  const { file, key } = bankCacheFile(dir, options);
  const hit = readCachedBank(file, key);
  if (hit) return hit;
  const bank = make();
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(file, encodeCachedBank(key, bank));
    pruneCache(dir, file);
  } catch {
    /* a cache that cannot be written only costs time */
  }
  return bank;
}

/** Keeps the KEPT_FILES most recently written banks (besides `keep`, the one just written). */
function pruneCache(dir: string, keep: string): void {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^standin-[0-9a-f]+\.bin$/.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => f !== keep)
    .map((f) => ({ f, t: fs.statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(KEPT_FILES - 1)) fs.rmSync(f, { force: true });
}
