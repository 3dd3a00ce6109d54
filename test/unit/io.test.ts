// Storage/IO layer tests: formats (safetensors, npy, HDF5), crash-safe writes, run folders.
// Run: node --import tsx --test test/unit/io.test.ts
import { test, describe, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  encodeSafetensors,
  decodeSafetensors,
  f16ToF32,
  f32ToF16,
  f32ToBf16,
  type NamedTensor,
  encodeNpy,
  decodeNpy,
  readFeatureFile,
  h5wasmModule,
  writeFileAtomic,
  writeJsonAtomic,
  JsonlAppender,
  readJsonl,
  removeStaleTemps,
  makeRunId,
  RunDir,
  listRuns,
  defaultRunsRoot,
} from '../../src/engine/io';

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'induction-io-'));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
let n = 0;
const tmpDir = (): string => {
  const d = path.join(tmpRoot, `t${n++}`);
  fs.mkdirSync(d);
  return d;
};

/** Asserts `fn` throws a single-line Error whose message matches every pattern. */
function throwsLine(fn: () => unknown, ...patterns: RegExp[]): string {
  let msg = '';
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'expected an Error');
    msg = e.message;
    assert.ok(!msg.includes('\n'), `error message is not one line: ${JSON.stringify(msg)}`);
    for (const p of patterns) assert.match(msg, p);
    return true;
  });
  return msg;
}

const le32 = (u: number): number[] => [u & 0xff, (u >>> 8) & 0xff, (u >>> 16) & 0xff, (u >>> 24) & 0xff];
const u64 = (n: number): number[] => [...le32(n), 0, 0, 0, 0];

/** A safetensors file with an arbitrary (possibly bad) header, padded like the real thing. */
function rawSafetensors(header: string, data: number[] = []): Uint8Array {
  const h = Buffer.from(header.padEnd(Math.ceil(header.length / 8) * 8, ' '), 'utf8');
  return new Uint8Array([...u64(h.length), ...h, ...data]);
}

// -------------------------------------------------------------------------------------------------
describe('safetensors', () => {
  const tensors: Record<string, NamedTensor> = {
    'w.f32': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2.5, 3, 4, 5e-8, 1e30]) },
    'w.f64': { dtype: 'F64', shape: [4], data: new Float64Array([Math.PI, -0, 1e-300, 7]) },
    'idx.i32': { dtype: 'I32', shape: [2, 2], data: new Int32Array([-1, 0, 2147483647, -2147483648]) },
    'idx.i64': { dtype: 'I64', shape: [3], data: new BigInt64Array([-1n, 0n, 9007199254740993n]) },
    mask: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
    half: { dtype: 'F16', shape: [2, 2], data: new Float32Array([1, -0.5, 65504, 2 ** -24]) },
    brain: { dtype: 'BF16', shape: [3], data: new Float32Array([1, -2, 3.140625]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };

  test('round trip keeps dtypes, shapes, values and metadata', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt', step: '120' });
    const { tensors: back, metadata } = decodeSafetensors(bytes, 'mem');
    assert.deepEqual(metadata, { format: 'pt', step: '120' });
    assert.deepEqual([...back.keys()].sort(), Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const b = back.get(name)!;
      assert.equal(b.dtype, t.dtype, name);
      assert.deepEqual(b.shape, t.shape, name);
      assert.equal(b.data.constructor, t.data.constructor, name);
      assert.deepEqual([...b.data], [...t.data], name);
    }
  });

  test('no metadata -> empty record; decoding copes with unaligned input', () => {
    const bytes = encodeSafetensors({ x: tensors['w.f64'], y: tensors.mask });
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const { tensors: back, metadata } = decodeSafetensors(shifted.subarray(3), 'shifted');
    assert.deepEqual(metadata, {});
    // Buffer input (what fs.readFile gives): Buffer#slice shares memory, so this checks we truly copy.
    const fromBuffer = decodeSafetensors(Buffer.from(shifted.subarray(3)), 'buf').tensors.get('x')!;
    assert.deepEqual([...fromBuffer.data], [...tensors['w.f64'].data]);
    const x = back.get('x')!.data as Float64Array;
    assert.equal(x.byteOffset % 8, 0);
    assert.equal(x[0], Math.PI);
    // Copied out: mutating the file bytes does not change decoded tensors.
    shifted.fill(0);
    assert.equal(x[0], Math.PI);
  });

  test('header layout matches a hand-built file byte for byte', () => {
    const bytes = encodeSafetensors(
      {
        b: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
        a: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) },
      },
      { format: 'pt' },
    );
    const json =
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}}';
    const padded = json.padEnd(Math.ceil(json.length / 8) * 8, ' ');
    const expected = new Uint8Array([
      ...u64(padded.length),
      ...Buffer.from(padded),
      7,
      8,
      9, // "a" first: sorted by name
      0x00,
      0x00,
      0x80,
      0x3f,
      0x00,
      0x00,
      0x00,
      0x40, // 1.0f, 2.0f little-endian
    ]);
    assert.deepEqual(bytes, expected);
    assert.equal((8 + padded.length) % 8, 0);
    assert.ok(padded.length > json.length, 'this case exercises padding');
  });

  test('half-precision conversions round to nearest even', () => {
    assert.equal(f32ToF16(1), 0x3c00);
    assert.equal(f32ToF16(-2), 0xc000);
    assert.equal(f32ToF16(65504), 0x7bff);
    assert.equal(f32ToF16(65520), 0x7c00); // rounds up to inf
    assert.equal(f32ToF16(2 ** -24), 0x0001);
    assert.equal(f32ToF16(2 ** -26), 0x0000);
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
    assert.equal(f16ToF32(0x7bff), 65504);
    assert.equal(f16ToF32(0x0001), 2 ** -24);
    assert.equal(f32ToBf16(1), 0x3f80);
    assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie -> even
    assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  });

  test('encode rejects mismatched data', () => {
    assert.throws(() => encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /needs 3/);
    assert.throws(
      () => encodeSafetensors({ x: { dtype: 'I32', shape: [2], data: new Float32Array(2) } }),
      /expected Int32Array/,
    );
  });

  describe('corrupt files give one-line errors naming the source and the problem', () => {
    const good = encodeSafetensors({ a: tensors['w.f32'], b: tensors.mask }, { k: 'v' });
    const headerLen = Number(new DataView(good.buffer).getBigUint64(0, true));

    test('truncated at several points', () => {
      for (const cut of [0, 1, 7])
        throwsLine(() => decodeSafetensors(good.subarray(0, cut), 'ckpt.st'), /ckpt\.st/, /shorter than the 8-byte/);
      for (const cut of [8, 9, 40, 8 + headerLen - 1])
        throwsLine(
          () => decodeSafetensors(good.subarray(0, cut), 'ckpt.st'),
          /ckpt\.st/,
          /header length \d+ is beyond the end/,
        );
      for (const cut of [8 + headerLen, 8 + headerLen + 5, good.length - 1])
        throwsLine(() => decodeSafetensors(good.subarray(0, cut), 'ckpt.st'), /ckpt\.st/, /out of range/);
    });

    test('garbled header', () => {
      for (const pos of [1, Buffer.from(good.subarray(8)).indexOf(':'), Buffer.from(good.subarray(8)).indexOf('}')]) {
        const garbled = good.slice();
        garbled[8 + pos] = 0x21; // '!' in place of a structural character
        throwsLine(() => decodeSafetensors(garbled, 'g.st'), /g\.st/, /header is not valid JSON/);
      }
      const spaces = good.slice();
      spaces.fill(0x20, 8, 8 + headerLen); // header blanked
      throwsLine(() => decodeSafetensors(spaces, 'b.st'), /b\.st/, /not valid JSON|does not start with/);
      const notUtf8 = good.slice();
      notUtf8[8 + 3] = 0xff;
      throwsLine(() => decodeSafetensors(notUtf8, 'u.st'), /u\.st/, /not valid JSON/);
      const huge = good.slice();
      new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
      throwsLine(() => decodeSafetensors(huge, 'h.st'), /h\.st/, /beyond the end/);
      throwsLine(() => decodeSafetensors(rawSafetensors('[1,2]'), 'arr.st'), /arr\.st/, /does not start with/);
    });

    test('bad entries', () => {
      throwsLine(
        () =>
          decodeSafetensors(rawSafetensors('{"x":{"dtype":"Q8","shape":[2],"data_offsets":[0,2]}}', [1, 2]), 'd.st'),
        /d\.st/,
        /unknown dtype "Q8"/,
      );
      throwsLine(
        () =>
          decodeSafetensors(
            rawSafetensors('{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Array(8).fill(0)),
            's.st',
          ),
        /s\.st/,
        /spans 8 bytes but F32 shape \[3\] needs 12/,
      );
      throwsLine(
        () =>
          decodeSafetensors(
            rawSafetensors(
              '{"x":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
              new Array(6).fill(0),
            ),
            'o.st',
          ),
        /o\.st/,
        /"x" and "y" overlap/,
      );
      throwsLine(
        () =>
          decodeSafetensors(
            rawSafetensors('{"x":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}}', new Array(4).fill(0)),
            'r.st',
          ),
        /r\.st/,
        /out of range/,
      );
      throwsLine(
        () => decodeSafetensors(rawSafetensors('{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}'), 'n.st'),
        /n\.st/,
        /invalid shape/,
      );
      throwsLine(
        () => decodeSafetensors(rawSafetensors('{"__metadata__":{"a":1}}'), 'm.st'),
        /m\.st/,
        /__metadata__ value "a" is not a string/,
      );
    });
  });
});

// -------------------------------------------------------------------------------------------------
describe('npy', () => {
  /** A hand-built .npy, the way numpy writes one. */
  function rawNpy(dict: string, data: number[], major = 1): Uint8Array {
    const prefix = major === 1 ? 10 : 12;
    const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
    const header = dict.padEnd(total - prefix - 1, ' ') + '\n';
    const len = major === 1 ? [header.length & 0xff, header.length >> 8] : le32(header.length);
    return new Uint8Array([0x93, ...Buffer.from('NUMPY'), major, 0, ...len, ...Buffer.from(header, 'latin1'), ...data]);
  }

  test('round trip of several shapes', () => {
    for (const shape of [[], [5], [2, 3, 4], [0, 7]]) {
      const count = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: count }, (_, i) => i * 0.25 - 3);
      const bytes = encodeNpy(shape, data);
      const prefix = 10 + (bytes[8] | (bytes[9] << 8));
      assert.equal(prefix % 64, 0, 'data starts 64-aligned');
      assert.equal(bytes[prefix - 1], 0x0a, 'header ends with a newline');
      const back = decodeNpy(bytes, 'x.npy');
      assert.deepEqual(back.shape, shape);
      assert.deepEqual([...back.data], [...data]);
      assert.equal(back.descr, '<f4');
    }
  });

  test('encoder writes the exact numpy header', () => {
    const bytes = encodeNpy([2, 3], new Float32Array(6));
    assert.deepEqual(bytes.subarray(0, 10), new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]));
    assert.equal(
      Buffer.from(bytes.subarray(10, 128)).toString('latin1'),
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".padEnd(117, ' ') + '\n',
    );
    assert.match(Buffer.from(encodeNpy([4], new Float32Array(4))).toString('latin1'), /'shape': \(4,\)/);
  });

  test('hand-built v1.0 / v2.0 / v3.0 files in every supported dtype', () => {
    const f8 = Buffer.alloc(16);
    f8.writeDoubleLE(1.5, 0);
    f8.writeDoubleLE(-2, 8);
    let r = decodeNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", [...f8]), 'f8.npy');
    assert.deepEqual(r, { shape: [2], data: new Float32Array([1.5, -2]), descr: '<f8' });
    const i8 = Buffer.alloc(16);
    i8.writeBigInt64LE(-7n, 0);
    i8.writeBigInt64LE(1234567n, 8);
    r = decodeNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", [...i8], 2), 'i8.npy');
    assert.deepEqual([...r.data], [-7, 1234567]);
    assert.deepEqual(r.shape, [1, 2]);
    r = decodeNpy(rawNpy("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", [0, 128, 255], 3), 'u1.npy');
    assert.deepEqual([...r.data], [0, 128, 255]);
    r = decodeNpy(
      rawNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", [...le32(-5 >>> 0), ...le32(9)]),
      'i4.npy',
    );
    assert.deepEqual([...r.data], [-5, 9]);
    r = decodeNpy(
      rawNpy("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", [0x00, 0x3c, 0x00, 0xc0]),
      'f2.npy',
    );
    assert.deepEqual([...r.data], [1, -2]);
    r = decodeNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", [0, 0, 0x80, 0x3f]), 's.npy');
    assert.deepEqual(r.shape, []);
    assert.deepEqual([...r.data], [1]);
  });

  test('rejections name the file and the problem', () => {
    throwsLine(
      () =>
        decodeNpy(rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Array(16).fill(0)), 'F.npy'),
      /F\.npy/,
      /fortran_order is True/,
    );
    throwsLine(
      () => decodeNpy(rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", [0, 0, 0, 0]), 'be.npy'),
      /be\.npy/,
      /unsupported dtype '>f4'/,
    );
    throwsLine(
      () =>
        decodeNpy(rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Array(8).fill(0)), 'c.npy'),
      /unsupported dtype '<c8'/,
    );
    throwsLine(
      () =>
        decodeNpy(
          rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Array(20).fill(0)),
          't.npy',
        ),
      /t\.npy/,
      /truncated: shape \(2, 3\) of '<f4' needs 24 bytes, file has 20/,
    );
    throwsLine(
      () => decodeNpy(encodeNpy([4], new Float32Array(4)).subarray(0, 50), 'h.npy'),
      /h\.npy/,
      /beyond the end/,
    );
    throwsLine(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), /x\.npy/, /magic/);
  });
});

// -------------------------------------------------------------------------------------------------
describe('readFeatureFile', () => {
  const dir = tmpDir();
  const feats = Float32Array.from({ length: 24 }, (_, i) => i / 8 - 1);

  test('.npy', async () => {
    const p = path.join(dir, 'f.npy');
    fs.writeFileSync(p, encodeNpy([3, 2, 4], feats));
    const r = await readFeatureFile(p);
    assert.deepEqual(r.shape, [3, 2, 4]);
    assert.deepEqual(r.data, feats);
    assert.equal(r.source, p);
  });

  test('.npy with integer data is rejected', async () => {
    const p = path.join(dir, 'ints.npy');
    const h = "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }".padEnd(117, ' ') + '\n';
    fs.writeFileSync(p, new Uint8Array([0x93, ...Buffer.from('NUMPY'), 1, 0, 118, 0, ...Buffer.from(h), 1, 2]));
    await assert.rejects(readFeatureFile(p), /ints\.npy.*floating point.*'\|u1'/);
  });

  test('.safetensors: explicit key, default = first by name, missing key lists keys, ints rejected', async () => {
    const p = path.join(dir, 'f.safetensors');
    fs.writeFileSync(
      p,
      encodeSafetensors({
        zfeat: { dtype: 'F32', shape: [3, 8], data: feats },
        afeat: { dtype: 'F64', shape: [2], data: new Float64Array([0.5, 2]) },
        labels: { dtype: 'I32', shape: [3], data: new Int32Array([0, 1, 2]) },
      }),
    );
    const z = await readFeatureFile(p, 'zfeat');
    assert.deepEqual(z.shape, [3, 8]);
    assert.deepEqual(z.data, feats);
    assert.equal(z.source, `${p}:zfeat`);
    const first = await readFeatureFile(p);
    assert.deepEqual(first, { shape: [2], data: new Float32Array([0.5, 2]), source: `${p}:afeat` });
    await assert.rejects(readFeatureFile(p, 'nope'), /tensor "nope" not found; available: afeat, labels, zfeat/);
    await assert.rejects(readFeatureFile(p, 'labels'), /labels: feature data must be floating point, got I32/);
  });

  test('missing file, unknown extension, corrupt content', async () => {
    await assert.rejects(readFeatureFile(path.join(dir, 'absent.npy')), /feature file not found: .*absent\.npy/);
    const txt = path.join(dir, 'feats.csv');
    fs.writeFileSync(txt, '1,2,3');
    await assert.rejects(
      readFeatureFile(txt),
      /unknown extension "\.csv"; expected \.npy, \.safetensors, \.h5 or \.hdf5/,
    );
    const bad = path.join(dir, 'bad.safetensors');
    fs.writeFileSync(bad, new Uint8Array([1, 2, 3]));
    await assert.rejects(readFeatureFile(bad), /bad\.safetensors: file is 3 bytes, shorter than/);
  });

  test('HDF5 round trip through h5wasm (write [3,2,4] float32 at resnet18/224/feat, read back)', async () => {
    const h5 = await h5wasmModule();
    const p = path.join(dir, 'feats.h5');
    const f = new h5.File(p, 'w');
    f.create_group('resnet18')
      .create_group('224')
      .create_dataset({ name: 'feat', data: feats, shape: [3, 2, 4], dtype: '<f' });
    f.create_dataset({ name: 'f64', data: new Float64Array([1.25, -3]), shape: [2], dtype: '<d' });
    f.create_dataset({ name: 'labels', data: new Int32Array([1, 2, 3]), shape: [3], dtype: '<i' });
    f.close();

    const r = await readFeatureFile(p);
    assert.deepEqual(r.shape, [3, 2, 4]);
    assert.deepEqual(r.data, feats);
    assert.equal(r.source, `${p}:resnet18/224/feat`);
    const d = await readFeatureFile(p, '/f64');
    assert.deepEqual(d.data, new Float32Array([1.25, -3]));
    await assert.rejects(
      readFeatureFile(p, 'resnet18/224/nope'),
      /dataset "resnet18\/224\/nope" not found; available datasets: f64, labels, resnet18\/224\/feat/,
    );
    await assert.rejects(readFeatureFile(p, 'resnet18'), /is a Group, not a dataset/);
    await assert.rejects(readFeatureFile(p, 'labels'), /labels: feature data must be floating point/);

    const hdf5 = path.join(dir, 'copy.hdf5'); // the other extension
    fs.copyFileSync(p, hdf5);
    assert.deepEqual((await readFeatureFile(hdf5)).data, feats);
  });

  test("a truncated HDF5 file fails with one line naming the truncation (not libhdf5's dump)", async () => {
    const h5 = await h5wasmModule();
    const whole = path.join(dir, 'whole.h5');
    const f = new h5.File(whole, 'w');
    f.create_group('resnet18')
      .create_group('224')
      .create_dataset({ name: 'feat', data: feats, shape: [3, 2, 4], dtype: '<f' });
    f.close();
    const bytes = fs.readFileSync(whole);
    for (const keep of [bytes.length - 10, 200]) {
      const cut = path.join(dir, `cut-${keep}.h5`);
      fs.writeFileSync(cut, bytes.subarray(0, keep));
      await assert.rejects(readFeatureFile(cut), (e: Error) => {
        assert.equal(
          e.message,
          `${cut}: truncated HDF5 file: ${keep} bytes, but its superblock says ${bytes.length} (an interrupted copy or download?)`,
        );
        return true;
      });
    }
  });

  test('a non-HDF5 file with an .h5 extension fails cleanly', async () => {
    const p = path.join(dir, 'fake.h5');
    fs.writeFileSync(p, 'not hdf5 at all');
    await assert.rejects(readFeatureFile(p), /fake\.h5/);
  });
});

// -------------------------------------------------------------------------------------------------
describe('atomic writes', () => {
  const tempFiles = (d: string): string[] => fs.readdirSync(d).filter((f) => f.includes('.tmp-'));

  test('writes, replaces, leaves no temp file', () => {
    const d = tmpDir();
    const p = path.join(d, 'run.json');
    writeFileAtomic(p, 'one');
    writeFileAtomic(p, new Uint8Array([0x74, 0x77, 0x6f]));
    assert.equal(fs.readFileSync(p, 'utf8'), 'two');
    writeJsonAtomic(p, { a: [1, 2] });
    assert.deepEqual(JSON.parse(fs.readFileSync(p, 'utf8')), { a: [1, 2] });
    assert.deepEqual(tempFiles(d), []);
  });

  test('a path under a regular file fails with ENOTDIR naming the path', () => {
    const d = tmpDir();
    const file = path.join(d, 'plain');
    fs.writeFileSync(file, 'x');
    const target = path.join(file, 'run.json');
    throwsLine(
      () => writeFileAtomic(target, 'data'),
      new RegExp(`^cannot write ${target.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: ENOTDIR`),
    );
    assert.equal(fs.readFileSync(file, 'utf8'), 'x');
    assert.deepEqual(tempFiles(d), []);
  });

  test('disk full mid-write: old content intact, temp removed, friendly message', () => {
    const d = tmpDir();
    const p = path.join(d, 'run.json');
    writeFileAtomic(p, 'old content');
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    // Patch the real CommonJS module object (the `import * as fs` namespace here is a frozen copy).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the mutable module object (see above)
    const realFs = require('node:fs') as typeof fs;
    const m = mock.method(realFs, 'writeSync', () => {
      throw enospc;
    });
    try {
      throwsLine(() => writeFileAtomic(p, 'new content'), /^cannot write .*run\.json: ENOSPC \(disk full\)$/);
    } finally {
      m.mock.restore();
    }
    assert.equal(fs.readFileSync(p, 'utf8'), 'old content');
    assert.deepEqual(tempFiles(d), []);
  });

  test('rename failure (target is a non-empty folder) removes the temp file', () => {
    const d = tmpDir();
    const p = path.join(d, 'occupied');
    fs.mkdirSync(p);
    fs.writeFileSync(path.join(p, 'keep'), 'k');
    throwsLine(() => writeFileAtomic(p, 'x'), /cannot write .*occupied: E(ISDIR|NOTEMPTY|EXIST)/);
    assert.deepEqual(tempFiles(d), []);
    assert.equal(fs.readFileSync(path.join(p, 'keep'), 'utf8'), 'k');
  });
});

describe('JSONL', () => {
  test('append + read back', () => {
    const p = path.join(tmpDir(), 'm.jsonl');
    const a = new JsonlAppender(p);
    for (let i = 0; i < 3; i++) a.append({ step: i, loss: 1 / (i + 1), note: 'multi\nline' });
    a.close();
    assert.throws(() => a.append({}), /closed/);
    const rows = readJsonl(p) as Array<{ step: number; note: string }>;
    assert.deepEqual(
      rows.map((r) => r.step),
      [0, 1, 2],
    );
    assert.equal(rows[0].note, 'multi\nline');
    assert.equal(fs.readFileSync(p, 'utf8').split('\n').length, 4);
  });

  test('a truncated last line is ignored on read and repaired on reopen', () => {
    const p = path.join(tmpDir(), 'm.jsonl');
    const a = new JsonlAppender(p);
    a.append({ step: 1 });
    a.append({ step: 2 });
    a.close();
    fs.appendFileSync(p, '{"step":3,"lo'); // a write cut short by a crash
    assert.deepEqual(readJsonl(p), [{ step: 1 }, { step: 2 }]);
    const b = new JsonlAppender(p);
    b.append({ step: 3 });
    b.close();
    assert.deepEqual(readJsonl(p), [{ step: 1 }, { step: 2 }, { step: 3 }]);
  });

  test('a whole last line missing only its newline is kept', () => {
    const p = path.join(tmpDir(), 'm.jsonl');
    fs.writeFileSync(p, '{"a":1}\n{"a":2}');
    assert.deepEqual(readJsonl(p), [{ a: 1 }, { a: 2 }]);
    const a = new JsonlAppender(p);
    a.append({ a: 3 });
    a.close();
    assert.deepEqual(readJsonl(p), [{ a: 1 }, { a: 2 }, { a: 3 }]);
  });

  test('a corrupt line in the middle throws with its line number', () => {
    const p = path.join(tmpDir(), 'm.jsonl');
    fs.writeFileSync(p, '{"a":1}\n{"a":\n{"a":3}\n');
    throwsLine(() => readJsonl(p), /m\.jsonl:2: corrupt JSON line/);
    fs.writeFileSync(p, '{"a":1}\n{"a":2}\ngarbage\n'); // complete (newline-terminated) bad line: corruption, not a torn tail
    throwsLine(() => readJsonl(p), /m\.jsonl:3: corrupt JSON line/);
  });

  test('a SIGKILLed writer loses nothing already appended', () => {
    const p = path.join(tmpDir(), 'killed.jsonl');
    const mod = path.resolve(__dirname, '../../src/engine/io/atomic.ts');
    const code = `const { JsonlAppender } = require(${JSON.stringify(mod)});
      const a = new JsonlAppender(${JSON.stringify(p)});
      for (let i = 0; i < 200; i++) a.append({ i });
      process.kill(process.pid, 'SIGKILL');`;
    const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', code], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const rows = readJsonl(p) as Array<{ i: number }>;
    assert.equal(rows.length, 200);
    assert.equal(rows[199].i, 199);
  });
});

// -------------------------------------------------------------------------------------------------
describe('run store', () => {
  test('makeRunId is filesystem-safe and sorts chronologically', () => {
    const id = makeRunId('Fast: 2-layer / attn-only!', new Date(Date.UTC(2026, 10, 26, 12, 30, 5)));
    assert.match(id, /^2026-11-26T12-30-05-fast-2-layer-attn-only-[0-9a-f]{4}$/);
    assert.match(makeRunId('???'), /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-run-[0-9a-f]{4}$/);
    const a = makeRunId('zzz', new Date(Date.UTC(2026, 0, 2, 9, 0, 0)));
    const b = makeRunId('aaa', new Date(Date.UTC(2026, 0, 10, 8, 0, 0)));
    assert.ok(a < b);
    assert.equal(defaultRunsRoot('/ws'), path.join('/ws', '.induction-lab', 'runs'));
  });

  test('RunDir lifecycle', () => {
    const root = path.join(tmpDir(), '.induction-lab', 'runs'); // does not exist yet: mkdir -p
    const id = makeRunId('fast');
    const run = RunDir.create(root, id);
    assert.equal(run.id, id);
    assert.ok(fs.statSync(run.checkpointsDir).isDirectory());
    assert.deepEqual(fs.readdirSync(run.path), ['checkpoints'], 'probe file removed');
    assert.throws(() => RunDir.open(run.path), /not a run folder: .*no such file/i);

    run.writeRunJson({ name: 'fast', status: 'running', config: { layers: 2 } });
    assert.deepEqual(run.updateRunJson({ status: 'done' }), { name: 'fast', status: 'done', config: { layers: 2 } });
    const reopened = RunDir.open(run.path);
    assert.deepEqual(reopened.readRunJson(), { name: 'fast', status: 'done', config: { layers: 2 } });

    assert.deepEqual(run.readMetrics(), []);
    const m = run.metrics();
    m.append({ seq: 10, loss: 2.5 });
    m.append({ seq: 20, loss: 2.1 });
    m.close();
    assert.deepEqual(reopened.readMetrics(), [
      { seq: 10, loss: 2.5 },
      { seq: 20, loss: 2.1 },
    ]);

    assert.equal(run.latestCheckpoint(), undefined);
    for (const s of [100, 20, 3, 1000]) {
      run.writeCheckpoint(
        s,
        encodeSafetensors({ w: { dtype: 'F32', shape: [1], data: new Float32Array([s]) } }, { sequences: String(s) }),
      );
    }
    fs.writeFileSync(path.join(run.checkpointsDir, 'seq-5.safetensors.tmp-123-abcd'), 'partial');
    fs.writeFileSync(path.join(run.checkpointsDir, 'notes.txt'), 'x');
    const list = run.listCheckpoints();
    assert.deepEqual(
      list.map((c) => c.sequences),
      [3, 20, 100, 1000],
    );
    assert.equal(list[1].path, run.checkpointPath(20));
    assert.equal(path.basename(run.checkpointPath(20)), 'seq-20.safetensors');
    const latest = run.latestCheckpoint()!;
    assert.equal(latest.sequences, 1000);
    const ck = decodeSafetensors(fs.readFileSync(latest.path), latest.path);
    assert.deepEqual(ck.metadata, { sequences: '1000' });
    assert.throws(() => run.checkpointPath(-1), /invalid checkpoint/);
  });

  test('create fails clearly where the folder cannot be made', () => {
    const d = tmpDir();
    const file = path.join(d, 'file');
    fs.writeFileSync(file, 'x');
    throwsLine(() => RunDir.create(file, 'r1'), /^cannot create run folder .*file.r1: ENOTDIR/);
    assert.throws(() => RunDir.create(d, '../escape'), /invalid run id/);
  });

  test('listRuns returns readable runs in id order and reports broken ones', () => {
    const root = tmpDir();
    const b = RunDir.create(root, '2026-01-02T00-00-00-b-0002');
    b.writeRunJson({ name: 'b' });
    const a = RunDir.create(root, '2026-01-01T00-00-00-a-0001');
    a.writeRunJson({ name: 'a' });
    const broken = RunDir.create(root, '2026-01-03T00-00-00-broken-0003');
    fs.writeFileSync(broken.runJsonPath, '{"name": "bro');
    RunDir.create(root, '2026-01-04T00-00-00-empty-0004'); // no run.json
    fs.mkdirSync(path.join(root, '.hidden'));
    fs.writeFileSync(path.join(root, 'README'), 'x');

    const runs = listRuns(root);
    assert.deepEqual(
      runs.map((r) => [r.id, r.runJson]),
      [
        ['2026-01-01T00-00-00-a-0001', { name: 'a' }],
        ['2026-01-02T00-00-00-b-0002', { name: 'b' }],
      ],
    );
    assert.equal(runs[0].path, a.path);
    assert.deepEqual(
      runs.problems.map((p) => p.id),
      ['2026-01-03T00-00-00-broken-0003', '2026-01-04T00-00-00-empty-0004'],
    );
    assert.match(runs.problems[0].error, /run\.json: invalid JSON/);
    assert.match(runs.problems[1].error, /not a run folder/);
    const none = listRuns(path.join(root, 'missing'));
    assert.equal(none.length, 0);
    assert.deepEqual(none.problems, []);
  });
});

test("removeStaleTemps: a dead writer's temp file goes, a live one's and other files stay", () => {
  const dir = tmpDir();
  fs.mkdirSync(dir, { recursive: true });
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid names no live process
  const names = [`a.json.tmp-${dead}-0a1b2c3d`, `b.json.tmp-${process.pid}-0a1b2c3d`, 'a.json', 'notes.tmp'];
  for (const f of names) fs.writeFileSync(path.join(dir, f), 'x');
  assert.equal(removeStaleTemps(dir), 1);
  assert.deepEqual(fs.readdirSync(dir).sort(), names.slice(1).sort());
  assert.equal(removeStaleTemps(path.join(dir, 'missing')), 0, 'a folder that does not exist holds nothing stale');
});
