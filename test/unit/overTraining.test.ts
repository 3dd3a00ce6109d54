// Measures over training in the views (issue 11 part 4): the host's shaping of the engine's aggregate
// files (written here by the engine's own writer, writeSeries, from hand-made per-checkpoint results)
// into heat-map frames and curve sets, and the webview's snapping of the one step to the nearest
// measured checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSeries, type SeriesEntry } from '../../src/engine/measures/series';
import { CACHE_FORMAT, type CachedRecord } from '../../src/engine/measures/cache';
import type { DenseSummary } from '../../src/engine/measures/dense';
import {
  curvesFromSeries,
  matricesFromSeries,
  mergeFrames,
  nothingMeasured,
  overTrainingData,
  pickSeries,
  readRunSeries,
} from '../../src/extension/overTrainingData';
import { influenceMatrices } from '../../src/extension/labData';
import {
  aboutNote,
  coverageNote,
  curveSeries,
  curveYDomain,
  framesAt,
  measuredSteps,
  snapNote,
  snapToMeasured,
} from '../../src/webview/lib/overTraining';
import { isToWebviewMessage, type InfluenceHeatmap } from '../../src/shared/webviewProtocol';

const L2 = Array.from({ length: 8 }, (_v, i) => `L2H${i}`);
const L1 = Array.from({ length: 8 }, (_v, i) => `L1H${i}`);
const SEQS = [0, 160, 3200];

/** A value that names its place: checkpoint k, row i, column j (so a misplaced index shows). */
const val = (k: number, i: number, j: number, kind: number) => kind + k / 10 + i / 100 + j / 1000;
const mat = (k: number, kind: number) => L2.map((_r, i) => L1.map((_c, j) => val(k, i, j, kind)));

const record = <T>(name: string, sequences: number, result: T, subsample: number | null): CachedRecord<T> => ({
  format: CACHE_FORMAT,
  name,
  formula: `${name} formula`,
  parameters: { denseSize: 78400 },
  sequences,
  subsample,
  checkpoints: [],
  created: '',
  seconds: 0,
  result,
});

function dense(k: number, sequences: number): DenseSummary {
  return {
    formula: 'f',
    n: 64,
    denseSize: 78400,
    subsample: 64,
    sequences,
    // L2H3 is the strongest, but the run ablates it: the strongest counted is L2H5.
    clamps: [{ kind: 'ablate', heads: ['L2H3'] }] as DenseSummary['clamps'],
    acc: 0.5 + k / 10,
    loss: 1 - k / 10,
    inductionStrength: {
      heads: L2,
      values: L2.map((_h, i) => (i === 3 ? 0.9 : i === 5 ? 0.5 : 0.1) + k / 100),
      formula: '',
    },
    prevTokenScore: { heads: L1, values: L1.map((_h, i) => i / 10), formula: '' },
  };
}

/** A run folder with aggregates of dense, ablations, influence-matrix and composition (sub64) at SEQS. */
function makeRun(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ot-view-'));
  fs.mkdirSync(path.join(dir, 'measures'));
  const denseMap = new Map(SEQS.map((s, k) => [s, dense(k, s)]));
  const entries = <T>(name: string, f: (k: number, s: number) => T, sub: number | null): SeriesEntry[] =>
    SEQS.map((s, k) => ({
      sequences: s,
      file: path.join(dir, 'measures', `${name}-seq-${s}.json`),
      record: record(name, s, f(k, s), sub),
    }));
  writeSeries(
    dir,
    'dense',
    64,
    entries('dense', (k, s) => dense(k, s), 64),
    [],
    denseMap,
  );
  writeSeries(
    dir,
    'ablations',
    64,
    entries(
      'ablations',
      (k) => ({
        formula: '',
        n: 64,
        baseline: { acc: 0.9 + k / 100, loss: 0.1 },
        heads: L2,
        inductionStrength: L2.map(() => 0),
        removeOne: L2.map((_h, i) => ({ acc: 0.8 - i / 100 - k / 10, loss: 0 })),
        keepOne: L2.map((_h, i) => ({ acc: 0.4 + i / 100 + k / 10, loss: 0 })),
      }),
      64,
    ),
    [],
    denseMap,
  );
  writeSeries(
    dir,
    'influence-matrix',
    64,
    entries(
      'influence-matrix',
      (k) => ({
        matrix: {
          rows: L2,
          cols: L1,
          onlyAcc: L2.map(() => 0.5),
          removeValuesPreserved: mat(k, 1),
          removePatternsPreserved: mat(k, 2),
          keepValuesPreserved: mat(k, 3),
          keepPatternsPreserved: mat(k, 4),
        },
        table1: { rows: [] },
      }),
      64,
    ),
    [],
    denseMap,
  );
  writeSeries(
    dir,
    'composition',
    null,
    entries(
      'composition',
      (k) => ({
        rows: L2,
        cols: L1,
        init: { q: mat(0, 0), k: mat(0, 0), v: mat(0, 0) },
        scores: { k: mat(k, 5), v: mat(k, 6), q: mat(k, 7) },
      }),
      null,
    ),
    [],
    denseMap,
  );
  return dir;
}

test('heat-map frames: every kind at every measured checkpoint, values as in the aggregate', () => {
  const dir = makeRun();
  const ms = matricesFromSeries('r1', pickSeries(readRunSeries(dir)));
  const kinds: Array<[InfluenceHeatmap['kind'], number]> = [
    ['valuePreserving', 1],
    ['patternPreserving', 2],
    ['keepOneValue', 3],
    ['keepOnePattern', 4],
    ['compositionK', 5],
    ['compositionV', 6],
    ['compositionQ', 7],
  ];
  for (const [kind, base] of kinds) {
    const fs_ = ms.filter((m) => m.kind === kind);
    assert.deepEqual(
      fs_.map((m) => m.sequences),
      SEQS,
      kind,
    );
    fs_.forEach((m, k) => {
      assert.deepEqual(m.values, mat(k, base), `${kind} at ${m.sequences}`);
      assert.deepEqual([m.rows, m.cols], [L2, L1]);
    });
  }
  // Ablations transposed to rows = Layer-2 heads, columns remove / keep.
  const abl = ms.filter((m) => m.kind === 'headAblations');
  assert.deepEqual(
    abl.map((m) => m.sequences),
    SEQS,
  );
  assert.deepEqual(abl[2].cols, ['remove', 'keep']);
  assert.deepEqual(abl[2].rows, L2);
  assert.ok(Math.abs(abl[2].values[6][0] - (0.8 - 0.06 - 0.2)) < 1e-12);
  assert.ok(Math.abs(abl[2].values[6][1] - (0.4 + 0.06 + 0.2)) < 1e-12);
  assert.equal(abl[0].source, 'ablations-over-training-sub64.json');
  // The host's message passes the protocol's guard.
  assert.ok(isToWebviewMessage({ type: 'influence', runId: 'r1', matrices: ms }));
});

test('curve sets: keep-one per head, influence of each PTH on the strongest unablated IH', () => {
  const dir = makeRun();
  const curves = curvesFromSeries(pickSeries(readRunSeries(dir)));
  const keep = curves.find((c) => c.id === 'keepOneAcc')!;
  assert.deepEqual(keep.sequences, SEQS);
  assert.deepEqual(
    keep.lines.map((l) => l.id),
    [...L2, 'all'],
  );
  const h2 = keep.lines.find((l) => l.id === 'L2H2')!;
  h2.ys.forEach((y, k) => assert.ok(Math.abs(y! - (0.42 + k / 10)) < 1e-12));
  assert.ok(keep.lines.find((l) => l.id === 'all')!.reference);
  const on = curves.find((c) => c.id === 'onStrongestIH.values')!;
  // L2H3 is ablated by the run: the strongest counted is L2H5, row 5 of the value-preserving matrix.
  assert.equal(on.about, 'L2H5');
  assert.deepEqual(
    on.lines.map((l) => l.id),
    L1,
  );
  on.lines.forEach((l, j) => l.ys.forEach((y, k) => assert.equal(y, val(k, 5, j, 1))));
  const onP = curves.find((c) => c.id === 'onStrongestIH.patterns')!;
  assert.equal(onP.lines[7].ys[2], val(2, 5, 7, 2));
  const is = curves.find((c) => c.id === 'inductionStrength')!;
  assert.equal(is.lines[3].ys[1], 0.91);
  const data = overTrainingData('r1', dir, [...SEQS, 6400]);
  assert.ok(isToWebviewMessage({ type: 'overTraining', data: data.data }));
  assert.deepEqual(data.data.sources.find((s) => s.measure === 'ablations')!.missing, [6400]);
});

test('the aggregate with most checkpoints, then most sequences, is the one shown; broken files are skipped', () => {
  const dir = makeRun();
  const m = path.join(dir, 'measures');
  const abl = JSON.parse(fs.readFileSync(path.join(m, 'ablations-over-training-sub64.json'), 'utf8'));
  // The same measure on 2000 sequences at the same checkpoints, and on the whole set at fewer.
  fs.writeFileSync(path.join(m, 'ablations-over-training-sub2000.json'), JSON.stringify({ ...abl, subsample: 2000 }));
  const few = {
    ...abl,
    subsample: null,
    sequences: [0],
    series: { ...abl.series, keepOneAcc: [abl.series.keepOneAcc[0]] },
  };
  fs.writeFileSync(path.join(m, 'ablations-over-training.json'), JSON.stringify(few));
  fs.writeFileSync(path.join(m, 'dense-over-training-sub9.json'), '{"format": "induction-lab/measure-series-v1", "seq');
  const chosen = pickSeries(readRunSeries(dir));
  assert.equal(path.basename(chosen.get('ablations')!.file), 'ablations-over-training-sub2000.json');
  assert.equal(path.basename(chosen.get('dense')!.file), 'dense-over-training-sub64.json');
});

test('a frame with a missing value is left out; a curve keeps null where nothing was measured', () => {
  const dir = makeRun();
  const f = path.join(dir, 'measures', 'ablations-over-training-sub64.json');
  const a = JSON.parse(fs.readFileSync(f, 'utf8'));
  a.series.keepOneAcc[1][4] = null; // NaN is written as null
  fs.writeFileSync(f, JSON.stringify(a));
  const chosen = pickSeries(readRunSeries(dir));
  const abl = matricesFromSeries('r', chosen).filter((m) => m.kind === 'headAblations');
  assert.deepEqual(
    abl.map((m) => m.sequences),
    [0, 3200],
  );
  const keep = curvesFromSeries(chosen).find((c) => c.id === 'keepOneAcc')!;
  assert.equal(keep.lines[4].ys[1], null);
  const series = curveSeries(keep, [], () => '#000');
  assert.deepEqual(
    series[4].points.map((p) => p.x),
    [0, 3200],
  );
});

test('a run without aggregates: no frames, no curves, and the note names the command', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ot-none-'));
  const d = overTrainingData('r0', dir, [0, 100]);
  assert.deepEqual([d.matrices, d.data.curves, d.data.sources], [[], [], []]);
  assert.match(d.data.command, /measure ".*ot-none-.*" --checkpoints all/);
  assert.match(coverageNote(d.data), /Compute Measures over Training.*--checkpoints all/);
  const src = { measure: 'dense', subsample: 64, file: 'x', checkpoints: 2 };
  assert.equal(coverageNote({ ...d.data, sources: [{ ...src, missing: [] }] }), '');
  assert.match(coverageNote({ ...d.data, sources: [{ ...src, missing: [5] }] }), /dense at 2 of 3 checkpoints/);
});

test('the one step snaps to the nearest measured checkpoint and says so', () => {
  const steps = [0, 160, 3200];
  assert.deepEqual(snapToMeasured(steps, null), { shown: 3200, snapped: false });
  assert.deepEqual(snapToMeasured(steps, 160), { shown: 160, snapped: false });
  assert.deepEqual(snapToMeasured(steps, 1600), { shown: 160, snapped: true });
  assert.deepEqual(snapToMeasured(steps, 1700), { shown: 3200, snapped: true });
  assert.deepEqual(snapToMeasured(steps, 80), { shown: 0, snapped: true }); // a tie goes to the earlier
  assert.deepEqual(snapToMeasured([], 5), { shown: null, snapped: false });
  assert.equal(snapNote(steps, 160), '');
  assert.equal(
    snapNote(steps, 1700),
    'Step 1,700 has no measured checkpoint: showing the nearest one, 3,200 sequences.',
  );
});

test('each kind shows its own nearest frame (kinds measured at different checkpoints)', () => {
  const m = (kind: InfluenceHeatmap['kind'], sequences: number): InfluenceHeatmap => ({
    runId: 'r',
    kind,
    sequences,
    rows: ['L2H0'],
    cols: ['L1H0'],
    values: [[sequences]],
    signed: true,
    formula: '',
  });
  const all = [m('valuePreserving', 0), m('valuePreserving', 1000), m('compositionK', 400), m('compositionK', 2000)];
  assert.deepEqual(measuredSteps(all, ['valuePreserving', 'compositionK']), [0, 400, 1000, 2000]);
  const at = framesAt(all, ['valuePreserving', 'compositionK'], 900);
  assert.deepEqual(
    at.map((x) => [x.kind, x.sequences]),
    [
      ['valuePreserving', 1000],
      ['compositionK', 400],
    ],
  );
  assert.deepEqual(
    framesAt(all, ['compositionK'], null).map((x) => x.sequences),
    [2000],
  );
});

test("curve series carry the run's clamp marks; the strongest IH note flags a clamped head", () => {
  const dir = makeRun();
  const curves = curvesFromSeries(pickSeries(readRunSeries(dir)));
  const keep = curves.find((c) => c.id === 'keepOneAcc')!;
  const clamps = [
    { kind: 'ablate', heads: ['L2H3'] },
    { kind: 'induction', heads: ['L2H5'], strength: 1 },
  ];
  const s = curveSeries(keep, clamps, (i) => `c${i}`);
  assert.equal(s[3].faded, true);
  assert.match(s[3].label, /L2H3 \(ablated\)/);
  assert.match(s[5].label, /L2H5 \(clamped\)/);
  assert.equal(s[8].dash, '5 4'); // the baseline is the dashed reference
  assert.deepEqual(
    s.slice(0, 3).map((x) => x.color),
    ['c0', 'c1', 'c2'],
  );
  assert.deepEqual(curveYDomain(keep), [0, 1]);
  const on = curves.find((c) => c.id === 'onStrongestIH.values')!;
  assert.match(aboutNote(on, clamps), /L2H5 .*clamped in this run.*not learned/);
  assert.match(aboutNote(on, []), /strongest induction head at the last measured checkpoint/);
});

test('the overTraining message guard rejects curves that do not line up with their checkpoints', () => {
  const dir = makeRun();
  const { data } = overTrainingData('r1', dir, SEQS);
  assert.ok(isToWebviewMessage({ type: 'overTraining', data }));
  const bad = structuredClone(data);
  bad.curves[0].lines[0].ys.pop();
  assert.equal(isToWebviewMessage({ type: 'overTraining', data: bad }), false);
  const nan = structuredClone(data);
  nan.curves[0].lines[0].ys[0] = NaN;
  assert.equal(isToWebviewMessage({ type: 'overTraining', data: nan }), false);
  assert.equal(isToWebviewMessage({ type: 'overTraining', data: { ...data, command: 3 } }), false);
});

test('one-checkpoint results fill only the checkpoints the aggregates lack', () => {
  const dir = makeRun();
  // A one-checkpoint composition result at a checkpoint the aggregate covers, and one at a new checkpoint.
  const comp = (sequences: number, k: number) =>
    JSON.stringify({
      sequences,
      result: { rows: L2, cols: L1, scores: { k: mat(k, 8), v: mat(k, 8), q: mat(k, 8) } },
    });
  fs.writeFileSync(path.join(dir, 'measures', 'composition-seq-160.json'), comp(160, 0));
  fs.writeFileSync(path.join(dir, 'measures', 'composition-seq-6400.json'), comp(6400, 1));
  const merged = mergeFrames(overTrainingData('r1', dir, SEQS).matrices, influenceMatrices('r1', dir));
  const k = merged.filter((m) => m.kind === 'compositionK');
  assert.deepEqual(
    k.map((m) => m.sequences),
    [0, 160, 3200, 6400],
  );
  assert.deepEqual(k[1].values, mat(1, 5)); // the aggregate's frame at 160, not the one-checkpoint file's
  assert.equal(k[1].source, 'composition-over-training.json');
  assert.deepEqual(k[3].values, mat(1, 8));
  assert.equal(k[3].source, undefined);
});

test('"nothing computed yet" only when there is no heat map and no aggregate at all', () => {
  const dir = makeRun();
  const over = overTrainingData('r1', dir, SEQS);
  assert.ok(over.matrices.some((m) => m.kind === 'compositionK'));
  assert.equal(nothingMeasured(over.matrices, over.data), false);
  // Composition frames alone (no influence matrix): still something to show, no "nothing computed" note.
  const onlyComposition = over.matrices.filter((m) => m.kind.startsWith('composition'));
  assert.equal(nothingMeasured(onlyComposition, over.data), false);
  assert.equal(nothingMeasured(onlyComposition, { ...over.data, sources: [] }), false);
  const empty = overTrainingData('r2', fs.mkdtempSync(path.join(os.tmpdir(), 'il-empty-')), SEQS);
  assert.equal(nothingMeasured(empty.matrices, empty.data), true);
});
