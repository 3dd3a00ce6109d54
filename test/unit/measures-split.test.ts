/**
 * The influence matrix of one checkpoint split over worker processes (measures/command.ts `--workers`,
 * overTraining.ts PoolExecutor.configEvaluator): exactly the numbers of one process, and the progress
 * counter still counts the 264 configurations once, monotonically, to the end.
 */
import * as v8 from 'node:v8';
// The workers are CLI processes, which run the relaxed-SIMD build: this process too, so both paths run the same kernels.
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { RunDir } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { initParams } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { measureCommand } from '../../src/engine/measures/command';
import type { CliProgress } from '../../src/shared/protocol';
import { entryArgs } from './procHelpers';

let root: string;
let run: RunConfig;

function writeRun(name: string): string {
  const rd = RunDir.create(root, name);
  rd.writeRunJson({ id: rd.id, name, status: 'completed', config: run, sequences: 0 });
  rd.writeCheckpoint(0, encodeCheckpoint({ config: run.model, sequences: 0, params: initParams(run.model, 11) }));
  return rd.path;
}

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-split-'));
  run = resolveRunConfig({ name: 's', data: { evalSize: 20 } });
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('influence matrix over 2 worker processes: the one-process numbers; progress counts 264 once', async () => {
  const what = ['influence-matrix'],
    subsample = 300;
  const one = await measureCommand({ runDir: writeRun('one'), what, subsample, backend: 'cpu', workers: 1 }, () => {});
  const lines: string[] = [],
    events: CliProgress[] = [];
  const two = await measureCommand(
    {
      runDir: writeRun('two'),
      what,
      subsample,
      backend: 'cpu',
      workers: 2,
      workerEntry: entryArgs('cli'),
      onProgress: (p) => events.push(p),
    },
    (l) => lines.push(l),
  );
  assert.ok(
    lines.some((l) => /configurations split over 2 worker processes/.test(l)),
    lines.join('\n'),
  );
  const a = one.results as Record<string, { matrix: { removeValuesPreserved: number[][] } }>,
    b = two.results as typeof a;
  // Not a degenerate comparison: the configurations' accuracies differ.
  assert.ok(new Set(a['influence-matrix'].matrix.removeValuesPreserved.flat()).size > 4);
  assert.deepEqual(b['influence-matrix'], a['influence-matrix']);
  const counts = events.filter((e) => e.task === 'influence-matrix' && e.unit === 'configurations');
  assert.ok(counts.length >= 2, `${counts.length} progress events`);
  assert.ok(counts.every((e) => e.total === 264));
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i].done >= counts[i - 1].done);
  assert.equal(counts[counts.length - 1].done, 264);
});
