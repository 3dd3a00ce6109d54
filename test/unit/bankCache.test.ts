/**
 * The stand-in banks' disk cache (src/engine/data/bankCache.ts): a hit gives the bank the generator makes, bit for
 * bit, without making it; every kind of damaged or foreign file is detected and replaced; a cache that cannot be
 * written still gives the bank; the key changes with the options and with the generators' sources.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  GENERATOR_SOURCES,
  GENERATOR_SOURCES_SHA256,
  bankCacheDir,
  bankCacheFile,
  cachedBank,
  encodeCachedBank,
  readCachedBank,
} from '../../src/engine/data/bankCache';
import { makeStandIn, loadFeatureBank, TaskData, FeatureBank } from '../../src/engine/data';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bank-cache-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

// Small banks: the cache's claims hold at any size.
const OPTS = { classes: 30, exemplars: 5, dim: 64, seed: 3, classScale: 0.5, exemplarNoise: 0.25 };
const opts = (seed: number) => ['structured', { ...OPTS, seed }] as const;
/** A generator that counts its calls. */
function counted(seed: number) {
  const c = { calls: 0, make: () => (c.calls++, makeStandIn('structured', { ...OPTS, seed })) };
  return c;
}
const same = (a: FeatureBank, b: FeatureBank) => {
  assert.deepEqual([a.classes, a.exemplars, a.dim, a.source], [b.classes, b.exemplars, b.dim, b.source]);
  assert.ok(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer)), 'the same values bit for bit');
};

test('the recorded hash is that of the generators: a changed generator never reads an old bank', () => {
  const h = createHash('sha256');
  for (const f of GENERATOR_SOURCES) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(__dirname, '../../src/engine/data', f)));
    h.update('\0');
  }
  const actual = h.digest('hex');
  assert.equal(
    actual,
    GENERATOR_SOURCES_SHA256,
    `a stand-in generator changed: set GENERATOR_SOURCES_SHA256 in src/engine/data/bankCache.ts to '${actual}'`,
  );
  // The hash is part of every key.
  assert.ok(bankCacheFile(root, opts(1)).key.includes(actual));
});

test('a miss makes and writes the bank; a hit reads the same bank without making it', () => {
  const dir = path.join(root, 'hit');
  const g = counted(1);
  const first = cachedBank(opts(1), g.make, dir);
  assert.equal(g.calls, 1);
  const { file } = bankCacheFile(dir, opts(1));
  assert.ok(fs.existsSync(file), 'written');
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
    'no temp file left',
  );
  const again = cachedBank(opts(1), g.make, dir);
  assert.equal(g.calls, 1, 'read, not made');
  same(again, first);
  same(again, makeStandIn('structured', { ...OPTS, seed: 1 }));
  // Other options: another file, another bank.
  const other = cachedBank(opts(2), counted(2).make, dir);
  assert.notEqual(bankCacheFile(dir, opts(2)).file, file);
  assert.ok(!Buffer.from(other.data.buffer).equals(Buffer.from(first.data.buffer)));
});

test('a cut, altered, foreign or garbage file is detected, the bank made again and the file replaced', () => {
  const dir = path.join(root, 'corrupt');
  const good = makeStandIn('structured', { ...OPTS, seed: 4 });
  const { file, key } = bankCacheFile(dir, opts(4));
  const bytes = encodeCachedBank(key, good);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, bytes);
  same(readCachedBank(file, key)!, good);
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 5] ^= 0x10; // one value's bits
  const header = Buffer.from(bytes);
  header[12] ^= 0x01; // one character of the header JSON
  const damaged: Record<string, Buffer> = {
    empty: Buffer.alloc(0),
    cut: bytes.subarray(0, bytes.length - 4),
    longer: Buffer.concat([bytes, Buffer.alloc(4)]),
    'one value altered': flipped,
    'header altered': header,
    'another key': encodeCachedBank(bankCacheFile(dir, opts(5)).key, good),
    garbage: Buffer.from('not a bank at all'),
  };
  for (const [what, buf] of Object.entries(damaged)) {
    fs.writeFileSync(file, buf);
    assert.equal(readCachedBank(file, key), null, `${what}: rejected`);
    const g = counted(4);
    same(cachedBank(opts(4), g.make, dir), good);
    assert.equal(g.calls, 1, `${what}: made again`);
    same(readCachedBank(file, key)!, good);
  }
});

test('a cache that cannot be written still gives the bank; INDUCTION_LAB_CACHE chooses or turns off the cache', () => {
  const notADir = path.join(root, 'a-file');
  fs.writeFileSync(notADir, 'x');
  const g = counted(6);
  same(cachedBank(opts(6), g.make, path.join(notADir, 'cache')), makeStandIn('structured', { ...OPTS, seed: 6 }));
  same(cachedBank(opts(6), g.make, null), makeStandIn('structured', { ...OPTS, seed: 6 }));
  assert.equal(g.calls, 2, 'made each time');
  const saved = process.env.INDUCTION_LAB_CACHE;
  try {
    process.env.INDUCTION_LAB_CACHE = 'off';
    assert.equal(bankCacheDir(), null);
    process.env.INDUCTION_LAB_CACHE = path.join(root, 'chosen');
    assert.equal(bankCacheDir(), path.join(root, 'chosen'));
    delete process.env.INDUCTION_LAB_CACHE;
    assert.equal(bankCacheDir(), path.join(os.tmpdir(), 'induction-lab-cache'));
  } finally {
    if (saved === undefined) delete process.env.INDUCTION_LAB_CACHE;
    else process.env.INDUCTION_LAB_CACHE = saved;
  }
});

test('loadFeatureBank reads and fills the cache of INDUCTION_LAB_CACHE', async () => {
  const dir = path.join(root, 'load');
  const saved = process.env.INDUCTION_LAB_CACHE;
  process.env.INDUCTION_LAB_CACHE = dir;
  try {
    // A feature seed no other test uses, so the bank is not in this process's memo.
    const cfg = { ...TaskData.DEFAULT_DATA_CONFIG, featureSeed: 913 };
    const bank = await loadFeatureBank(cfg);
    const files = fs.readdirSync(dir);
    assert.equal(files.length, 1, files.join(', '));
    const { key } = bankCacheFile(dir, [
      cfg.standIn,
      {
        classes: 1623,
        exemplars: 5,
        dim: 512,
        seed: 913,
        classScale: cfg.classScale,
        exemplarNoise: cfg.exemplarNoise,
      },
    ]);
    same(readCachedBank(path.join(dir, files[0]), key)!, bank);
  } finally {
    if (saved === undefined) delete process.env.INDUCTION_LAB_CACHE;
    else process.env.INDUCTION_LAB_CACHE = saved;
  }
});
