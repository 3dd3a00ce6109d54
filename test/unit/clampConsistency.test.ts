/**
 * The cross-clamp rule that keeps a run from silently clamping a head it ablates: a pattern clamp on a
 * head zero-ablated during an overlapping window is refused with one line naming the head and both
 * clamps (config files, the CLI and the start flow all go through normalizeClamps); an induction / match
 * clamp on a first-layer head is only warned about. No TensorFlow.js here: pure validation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import { clampWarnings, normalizeClamps, parseClampFlag, windowsOverlap } from '../../src/engine/clamps/spec';
import { presetNames, resolvePreset } from '../../src/engine/science/presets';
import { REST_HEADS } from '../../src/engine/science/conditions';
import { cliArgv } from './procHelpers';

const C = DEFAULT_MODEL_CONFIG;
const ROOT = path.join(__dirname, '..', '..');
const flags = (...f: string[]) =>
  normalizeClamps(
    f.map((t) => parseClampFlag(t, C)),
    C,
  );

test('an induction clamp on a head the run ablates is refused, naming the head and both clamps', () => {
  // The review's repro: the demo preset ablates L2H0 (REST_HEADS), then "induction on L2H0" is added.
  assert.ok(REST_HEADS.includes('L2H0'));
  const err = (() => {
    try {
      normalizeClamps(
        [
          { kind: 'ablate', heads: REST_HEADS },
          { kind: 'induction', heads: ['L2H0'] },
        ],
        C,
      );
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  })();
  assert.match(err, /^head L2H0 is zero-ablated by "ablate L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7"/);
  assert.match(err, /"induction L2H0 \(s = 1\)"/);
  assert.equal(err.split('\n').length, 1, 'one line');
});

test('every pattern clamp kind is refused on an ablated head; "1:3" and "L2H3" are the same head', () => {
  for (const f of [
    'prev-token:L2H3',
    'induction:1:3',
    'match:L2H3',
    'temperature:L2H3@2',
    'disallow-prev-token:L2H3',
    'silence-non-label:L2H3',
    'copy:L2H3',
  ]) {
    assert.throws(() => flags('ablate:L2H3', f), /head L2H3 is zero-ablated/, f);
    // The order of the list does not matter.
    assert.throws(() => flags(f, 'ablate:1:3'), /head L2H3 is zero-ablated/, f);
  }
  assert.throws(() => flags('ablate:L1H2', 'prev-token:L1H2,L1H5'), /head L1H2 is zero-ablated by "ablate L1H2"/);
});

test('the rule follows the active windows: disjoint windows pass, overlapping ones are refused', () => {
  // Ablated until 50k, induction from 50k on: never both active.
  assert.doesNotThrow(() => flags('ablate:L2H3,until=50000', 'induction:L2H3,from=50000'));
  assert.doesNotThrow(() => flags('ablate:L2H3,from=60000', 'prev-token:L2H3,from=10000,until=60000'));
  assert.throws(() => flags('ablate:L2H3,until=50001', 'induction:L2H3,from=50000'), /zero-ablated/);
  assert.throws(
    () => flags('ablate:L2H3,from=20000,until=30000', 'induction:L2H3'),
    /zero-ablated by "ablate L2H3 \[20000, 30000\)"/,
  );
  assert.equal(windowsOverlap({}, {}), true);
  assert.equal(windowsOverlap({ until: 10 }, { from: 10 }), false);
  assert.equal(windowsOverlap({ from: 5, until: 11 }, { from: 10, until: 20 }), true);
});

test('ablations of other heads, and non-pattern clamps on ablated heads, are accepted', () => {
  assert.doesNotThrow(() => flags('ablate:L2H0,L2H1', 'induction:L2H3', 'prev-token:L1H2'));
  assert.doesNotThrow(() => flags('ablate:L2H3', 'ablate:L2H3,from=10'));
  assert.doesNotThrow(() => flags('ablate:L2H3', 'preserve:values'));
});

test('every shipped preset still passes the rule', () => {
  for (const scale of ['fast', 'paper'] as const) {
    for (const p of presetNames(scale)) assert.doesNotThrow(() => resolvePreset(p.name, scale), p.name);
  }
});

test('an induction or match clamp on a first-layer head is warned about, not refused', () => {
  const clamps = flags('induction:L1H2', 'match:L1H4,L1H5@0.5', 'induction:L2H3');
  const w = clampWarnings(clamps, C);
  assert.equal(w.length, 2);
  assert.match(w[0], /"induction L1H2 \(s = 1\)" sets an induction pattern on first-layer head L1H2:/);
  assert.match(w[1], /first-layer heads L1H4, L1H5/);
  assert.deepEqual(clampWarnings(flags('induction:L2H3', 'prev-token:L1H2'), C), []);
});

test('the CLI refuses it too, from --clamp and from a config file: one line on stderr, exit 2, no run folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-clamp-'));
  const cfg = path.join(dir, 'run.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({
      clamps: [
        { kind: 'ablate', heads: ['L2H0'] },
        { kind: 'copy', head: 'L2H0' },
      ],
    }),
  );
  const cli = (args: string[]) =>
    spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  for (const args of [
    ['train', '--preset', 'demo', '--clamp', 'induction:L2H0'],
    ['train', '--config', cfg],
  ]) {
    const r = cli([...args, '--out', path.join(dir, 'out')]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /^induction-lab: head L2H0 is zero-ablated by "ablate L2H0[^"]*", so "(induction L2H0 \(s = 1\)|copy from L2H0)"/,
    );
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  assert.equal(fs.existsSync(path.join(dir, 'out')), false);
  fs.rmSync(dir, { recursive: true, force: true });
});
