/**
 * The measure-over-training notification (src/extension/taskProgress.ts, measureTasks.ts): the engine's own
 * progress emitter (measures/progress.ts, `--progress json`) feeds the board, which must show both counters
 * ("checkpoints n/N" and the current measure's "n/264 configurations") and a bar that never moves back.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeasureProgress } from '../../src/engine/measures/progress';
import { MEASURE_NAMES } from '../../src/engine/measures/names';
import { LineSplitter, parseCliProgress } from '../../src/shared/cliProgress';
import { ProgressBoard, ProgressView } from '../../src/extension/taskProgress';
import { measureRows, overTrainingArgs } from '../../src/extension/measureTasks';

test("the engine's two counters reach the notification: checkpoints n/N and configurations n/264", () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  try {
    const views: ProgressView[] = [];
    const board = new ProgressBoard('measure');
    const lines = new LineSplitter((l) => {
      const p = parseCliProgress(l);
      assert.ok(p, l);
      views.push(board.update(p));
    });
    // Two checkpoints to compute, none cached; each has one unit (influence-matrix, 264 configurations).
    const mp = new MeasureProgress('json', (s) => lines.push(s), false, 2, 0, 2);
    for (const seq of [0, 3200]) {
      mp.start(seq, 1);
      for (let d = 0; d <= 264; d += 66) {
        mock.timers.tick(250);
        mp.inner(seq, 'influence-matrix', d, 264);
      }
      mp.unitDone(seq, 'influence-matrix');
      mp.checkpointDone(seq);
    }
    mp.end();
    lines.end();
    const msgs = views.map((v) => v.message);
    // Half-way through the first checkpoint: 0 of 2 checkpoints, 132 of 264 configurations, bar at 25 %.
    const half = views.find(
      (v) => v.message.includes('influence-matrix 132/264 configurations') && v.message.includes('checkpoints 0/2'),
    );
    assert.ok(half, msgs.join('\n'));
    assert.ok(Math.abs(half.percent - 25) < 1e-9, `bar at ${half.percent}`);
    assert.ok(
      msgs.some((m) => m.startsWith('checkpoints 1/2')),
      msgs.join('\n'),
    );
    assert.ok(
      msgs.some((m) => /≈ \d+ s left/.test(m)),
      'an ETA once something finished',
    );
    assert.equal(views.at(-1)!.percent, 100);
    assert.match(views.at(-1)!.message, /^checkpoints 2\/2/);
    for (let k = 1; k < views.length; k++) {
      assert.ok(views[k].percent >= views[k - 1].percent, 'the bar never moves back');
    }
  } finally {
    mock.timers.reset();
  }
});

test('a grown total (--follow) keeps the bar where it was; a single counter is shown as it comes', () => {
  const b = new ProgressBoard('measure');
  const p = (task: string, done: number, total: number, unit: string) => ({
    type: 'progress' as const,
    task,
    done,
    total,
    unit,
  });
  assert.equal(b.update(p('measure', 2, 4, 'checkpoints')).percent, 50);
  const grown = b.update(p('measure', 2, 8, 'checkpoints'));
  assert.equal(grown.percent, 50);
  assert.equal(grown.message, 'checkpoints 2/8');
  const one = new ProgressBoard();
  const v = one.update({ ...p('configurations', 33, 264, 'configurations'), etaSeconds: 70 });
  assert.equal(v.message, 'configurations 33/264 · ≈ 1 min left');
  assert.ok(Math.abs(v.percent - 12.5) < 1e-9);
});

test('measure task arguments: every checkpoint or --follow, the measures checked, the subsample', () => {
  assert.deepEqual(overTrainingArgs('/r', { measures: ['influence-matrix', 'composition'], subsample: 2000 }), [
    'measure',
    '/r',
    '--checkpoints',
    'all',
    '--what',
    'influence-matrix,composition',
    '--subsample',
    '2000',
  ]);
  assert.deepEqual(overTrainingArgs('/r', { measures: ['dense'], subsample: 0, follow: true }), [
    'measure',
    '/r',
    '--follow',
    '--what',
    'dense',
  ]);
  assert.throws(() => overTrainingArgs('/r', { measures: ['influence'] }), /unknown measure "influence"/);
  assert.throws(() => overTrainingArgs('/r', { measures: [] }), /no measure chosen/);
  assert.throws(() => overTrainingArgs('/r', { measures: ['dense'], subsample: 2.5 }), /whole number/);
  const rows = measureRows(['influence-matrix', 'bogus']);
  assert.deepEqual(
    rows.filter((r) => r.picked).map((r) => r.label),
    ['influence-matrix'],
  );
  assert.ok(
    measureRows().some((r) => r.label === 'dense' && r.picked),
    'the engine defaults without a setting',
  );
});

test("the setting inductionLab.measuresOverTraining offers exactly the engine's measures", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  const enumNames = pkg.contributes.configuration.properties['inductionLab.measuresOverTraining'].items.enum;
  assert.deepEqual(enumNames, [...MEASURE_NAMES]);
  const ids = pkg.contributes.commands.map((c: { command: string }) => c.command);
  assert.ok(ids.includes('inductionLab.computeOverTraining'));
});
