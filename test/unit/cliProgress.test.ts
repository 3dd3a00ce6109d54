/**
 * `--progress json` (contracts.md §2): the emitter's lines, the sweep aggregator, the extension's parser,
 * and the real CLI writing them on stderr for a measure (text stays on stdout).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonProgress, sweepProgress } from '../../src/engine/io/cliProgress';
import { LineSplitter, parseCliProgress, progressText } from '../../src/shared/cliProgress';
import type { CliProgress } from '../../src/shared/protocol';
import { cliArgv } from './procHelpers';

test('emitter: one JSON object per line, throttled per task, the final count always, an ETA from the rate', () => {
  const lines: string[] = [];
  let t = 0;
  const sink = jsonProgress(
    (s) => lines.push(s),
    250,
    () => t,
  );
  sink({ task: 'configurations', done: 0, total: 264, unit: 'configurations' });
  t = 100;
  sink({ task: 'configurations', done: 10, total: 264, unit: 'configurations' }); // throttled
  t = 1000;
  sink({ task: 'configurations', done: 66, total: 264, unit: 'configurations' });
  t = 1010;
  sink({ task: 'configurations', done: 264, total: 264, unit: 'configurations' }); // final: never dropped
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const p = lines.map((l) => parseCliProgress(l)!);
  assert.deepEqual(
    p.map((x) => x.done),
    [0, 66, 264],
  );
  // 66 in 1 s → 198 left at 66/s = 3 s.
  assert.equal(p[1].etaSeconds, 3);
  assert.equal(p[2].etaSeconds, undefined);
  assert.equal(p[0].type, 'progress');
});

test('sweep aggregator: fractions of running runs plus finished and reused ones, in runs', () => {
  const got: Array<Omit<CliProgress, 'type' | 'etaSeconds'>> = [];
  const on = sweepProgress(4, (x) => got.push(x), 1);
  const job = (key: string) => ({ key, config: {} as never });
  on(job('a'), { type: 'progress', sequences: 500, step: 1, totalSequences: 1000, stepsPerSecond: 1, trainLoss: 1 });
  assert.equal(got.at(-1)!.done, 1.5);
  on(job('b'), { type: 'progress', sequences: 250, step: 1, totalSequences: 1000, stepsPerSecond: 1, trainLoss: 1 });
  on(job('a'), { type: 'finished', status: 'completed', sequences: 1000, runDir: '', seconds: 1 });
  assert.equal(got.at(-1)!.done, 2.25);
  assert.equal(got.at(-1)!.total, 4);
  assert.equal(got.at(-1)!.unit, 'runs');
});

test('parser: progress lines vs text, across chunk boundaries', () => {
  const seen: string[] = [];
  const split = new LineSplitter((l) => seen.push(l));
  split.push('{"type":"progress","task":"runs","done":1,');
  split.push('"total":6,"unit":"runs","etaSeconds":90}\ninduction-lab: boom\n{"type":"progress"');
  split.end();
  assert.equal(seen.length, 3);
  const p = parseCliProgress(seen[0])!;
  assert.equal(progressText(p), 'runs 1/6 · ≈ 2 min left');
  assert.equal(parseCliProgress(seen[1]), undefined);
  assert.equal(parseCliProgress(seen[2]), undefined, 'a cut-off object is text, not progress');
  assert.equal(parseCliProgress('{"type":"progress","task":"x","done":"1","total":2,"unit":"u"}'), undefined);
  assert.equal(
    progressText({ type: 'progress', task: 'configurations', done: 33, total: 264, unit: 'configurations' }),
    'configurations 33/264',
  );
});

test('the CLI: `measure --progress json` puts progress on stderr and keeps its text on stdout; a bad value is refused', () => {
  const ROOT = path.join(__dirname, '..', '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-progress-'));
  const cli = (args: string[]) =>
    spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  try {
    let r = cli(['train', '--preset', 'smoke', '--sequences', '320', '--out', dir, '--run-id', 'p']);
    assert.equal(r.status, 0, r.stderr);
    r = cli(['measure', path.join(dir, 'p'), '--what', 'learning-time', '--progress', 'yaml']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^induction-lab: --progress takes json, bar or none, got "yaml"/);
    r = cli(['measure', path.join(dir, 'p'), '--what', 'paths', '--subsample', '50', '--progress', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stderr.trim().split('\n').filter(Boolean);
    const progress = lines.map(parseCliProgress);
    // Two counters (contracts §2): the measure's own (paths counts checkpoints) and `measure` (measures done).
    assert.ok(
      progress.length > 0 && progress.every((p) => p && (p.task === 'paths' || p.task === 'measure')),
      r.stderr,
    );
    const own = progress.filter((p) => p!.task === 'paths');
    assert.ok(own.length > 1 && own.every((p) => p!.unit === 'checkpoints'), r.stderr);
    assert.equal(own.at(-1)!.done, own.at(-1)!.total);
    assert.deepEqual([progress.at(-1)!.task, progress.at(-1)!.done, progress.at(-1)!.total], ['measure', 1, 1]);
    assert.match(r.stdout, /== paths ==/);
    assert.doesNotMatch(r.stdout, /"type":"progress"/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
