// The edge view's data (issue 18): the host reads the path-patching aggregate the engine writes (series.ts)
// into frames, the view shapes them (lib/pathMatrix.ts), the protocol's guards accept what crosses.
// Run: node --import tsx --test test/unit/pathMatrix.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeSeries } from '../../src/engine/measures/series';
import type { PathPatchingResult, CorruptionResult } from '../../src/engine/measures/pathPatching';
import { PATH_PATCHING_FORMULA } from '../../src/engine/measures/pathPatching';
import { pathFrames, pathPatchingData, runLearningTime } from '../../src/extension/pathPatchingData';
import {
  cellValues,
  corruptionOf,
  describeEdge,
  edgeClamps,
  edgeDomain,
  panelsAt,
  pathCoverageNote,
  pathSteps,
  phaseNote,
  strongestEdges,
} from '../../src/webview/lib/pathMatrix';
import { isFromWebviewMessage, isToWebviewMessage } from '../../src/shared/webviewProtocol';
import type { MetricsRecord, PathPatchingData, ClampSummary } from '../../src/shared/webviewProtocol';

const H = 8;
const heads = (l: number) => Array.from({ length: H }, (_, i) => `L${l}H${i}`);
const CORR = ['labels', 'prev-token', 'class'] as const;
const INPUTS = ['q', 'k', 'v'] as const;

/** A distinct value per (checkpoint, corruption, input, receiver, sender), so any mix-up shows. */
const val = (k: number, c: number, x: number, i: number, j: number) => (k + 1) * (c + 1) * 0.01 * (x + 1) - i * 0.1 + j;
const mat = (f: (i: number, j: number) => number) =>
  Array.from({ length: H }, (_, i) => Array.from({ length: H }, (_, j) => f(i, j)));

function result(k: number): PathPatchingResult {
  const corruptions: CorruptionResult[] = CORR.map((corruption, c) => ({
    corruption,
    description: corruption,
    corruptLD: -k - c,
    unmatched: 0,
    exact: Object.fromEntries(
      INPUTS.map((x, xi) => [x, mat((i, j) => val(k, c, xi, i, j))]),
    ) as CorruptionResult['exact'],
    // The attribution differs from the exact value by a known 0.5 on receiver 3.
    attribution: Object.fromEntries(
      INPUTS.map((x, xi) => [x, mat((i, j) => val(k, c, xi, i, j) + (i === 3 ? 0.5 : 0))]),
    ) as CorruptionResult['exact'],
    attributionError: { maxAbs: 0.5, meanAbs: 0.0625, relative: 0.1, correlation: 0.99 },
    top: [],
  }));
  return {
    formula: PATH_PATCHING_FORMULA,
    n: 500,
    senders: heads(1),
    receivers: heads(2),
    inputs: INPUTS,
    cleanLD: 1 + k,
    engine: 'fast',
    corruptions,
  };
}

/** A run folder with the aggregate of checkpoints 0, 1000, 2000 (3000 missing) written by the engine's writer. */
function runWithAggregate(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-paths-view-'));
  fs.mkdirSync(path.join(dir, 'measures'));
  const entries = [0, 1000, 2000].map((sequences, k) => {
    const file = path.join(dir, 'measures', `path-patching-seq-${sequences}-sub500.json`);
    return {
      sequences,
      file,
      record: {
        format: 'induction-lab/measure-cache-v1',
        name: 'path-patching',
        formula: PATH_PATCHING_FORMULA,
        parameters: {},
        sequences,
        subsample: 500,
        checkpoints: [],
        created: '',
        seconds: 0,
        result: result(k),
      },
    };
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  writeSeries(dir, 'path-patching', 500, entries as any, [3000], new Map());
  return dir;
}

const metric = (sequences: number, loss: number) =>
  ({ sequences, step: 0, wallTime: 0, trainLoss: loss, eval: { fsl_train: { loss } } }) as unknown as MetricsRecord;

test('the host reads the engine-written aggregate into one frame per (checkpoint, corruption), values in place', () => {
  const dir = runWithAggregate();
  const metrics = [metric(0, 0.69), metric(1000, 0.5), metric(2000, 0.2), metric(3000, 0.1)];
  const d = pathPatchingData('r', dir, [0, 1000, 2000, 3000], metrics, 2000);
  assert.equal(d.frames.length, 9);
  assert.deepEqual(d.senders, heads(1));
  assert.deepEqual(d.receivers, heads(2));
  assert.deepEqual(
    d.corruptions.map((c) => c.name),
    [...CORR],
  );
  assert.match(d.corruptions[1].description, /previous token/);
  const f = d.frames.find((x) => x.sequences === 1000 && x.corruption === 'prev-token')!;
  assert.equal(f.exact.k[2][5], val(1, 1, 1, 2, 5));
  assert.equal(f.attribution!.k[3][5], val(1, 1, 1, 3, 5) + 0.5);
  assert.equal(f.cleanLD, 2);
  assert.equal(f.corruptLD, -2);
  assert.deepEqual(f.error, { maxAbs: 0.5, meanAbs: 0.0625, relative: 0.1, correlation: 0.99 });
  assert.deepEqual(d.source, {
    file: 'path-patching-over-training-sub500.json',
    subsample: 500,
    n: 500,
    missing: [3000],
  });
  assert.equal(d.learningTime, 2000); // first fsl_train loss < 0.4·ln 2 ≈ 0.277
  assert.equal(d.command, `induction-lab measure "${dir}" --what path-patching --checkpoints all --subsample 500`);
  assert.ok(isToWebviewMessage({ type: 'pathPatching', data: d }));
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a run without the aggregate, a malformed checkpoint, a run that never learns', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-paths-view-'));
  const d = pathPatchingData('r', dir, [0, 1000], [metric(0, 0.69), metric(1000, 0.6)]);
  assert.deepEqual(d.frames, []);
  assert.equal(d.source, null);
  assert.equal(d.learningTime, null);
  assert.match(d.command, /--what path-patching --checkpoints all --subsample 2000$/);
  assert.ok(isToWebviewMessage({ type: 'pathPatching', data: d }));
  assert.match(pathCoverageNote(d), /^No path patching over training for this run yet.*--what path-patching/);
  assert.equal(runLearningTime([]), null);
  fs.rmSync(dir, { recursive: true, force: true });
  // A checkpoint whose V matrix is cut short is left out; a malformed attribution becomes null.
  const good = mat(() => 1);
  const series = {
    senders: heads(1),
    receivers: heads(2),
    corruptions: ['labels'],
    cleanLD: [1, 2],
    byCorruption: {
      labels: {
        corruptLD: [0, 0],
        exact: { q: [good, good], k: [good, good], v: [good, good.slice(0, 3)] },
        attribution: { q: [good, null], k: [good, null], v: [good, null] },
        attributionError: [null, null],
      },
    },
  };
  const fr = pathFrames(series, [0, 1000]);
  assert.equal(fr.length, 1);
  assert.equal(fr[0].sequences, 0);
  assert.notEqual(fr[0].attribution, null);
  assert.deepEqual(
    pathFrames({ ...series, byCorruption: { labels: { ...series.byCorruption.labels, attribution: {} } } }, [0])[0]
      .attribution,
    null,
  );
});

function viewData(): PathPatchingData {
  const dir = runWithAggregate();
  const d = pathPatchingData('r', dir, [0, 1000, 2000, 3000], [metric(0, 0.69), metric(1500, 0.2)]);
  fs.rmSync(dir, { recursive: true, force: true });
  return d;
}

test('the view: matched corruptions, the frame nearest the step, A − E, and colours fixed over training', () => {
  const d = viewData();
  assert.deepEqual(
    (['q', 'k', 'v'] as const).map((x) => corruptionOf(d, 'matched', x)),
    ['class', 'prev-token', 'labels'],
  );
  assert.equal(corruptionOf(d, 'labels', 'k'), 'labels');
  assert.deepEqual(pathSteps(d, 'matched'), [0, 1000, 2000]);
  // 1400 snaps to 1000, null is the latest, every panel from that one checkpoint.
  const ps = panelsAt(d, 'matched', 1400);
  assert.deepEqual(
    ps.map((p) => [p.input, p.corruption, p.frame.sequences]),
    [
      ['q', 'class', 1000],
      ['k', 'prev-token', 1000],
      ['v', 'labels', 1000],
    ],
  );
  assert.deepEqual(
    panelsAt(d, 'labels', null).map((p) => p.frame.sequences),
    [2000, 2000, 2000],
  );
  const k = ps[1];
  assert.equal(cellValues(k, 'exact')![4][6], val(1, 1, 1, 4, 6));
  assert.equal(cellValues(k, 'attribution')![3][6], val(1, 1, 1, 3, 6) + 0.5);
  const err = cellValues(k, 'error')!;
  assert.ok(Math.abs(err[3][0] - 0.5) < 1e-12 && err[2][0] === 0);
  assert.equal(cellValues({ ...k, frame: { ...k.frame, attribution: null } }, 'error'), null);
  // Fixed over training: the largest |E| of any checkpoint of that corruption (the last, receiver 0, sender 7).
  const top = Math.abs(val(2, 1, 1, 0, 7));
  assert.deepEqual(edgeDomain(d, k, 'exact', 'training'), [-top, top]);
  assert.deepEqual(
    edgeDomain(d, ps[1], 'exact', 'training'),
    edgeDomain(d, panelsAt(d, 'matched', 0)[1], 'exact', 'training'),
  );
  const here = Math.abs(val(1, 1, 1, 0, 7));
  assert.deepEqual(edgeDomain(d, k, 'exact', 'frame'), [-here, here]);
  const [lo, hi] = edgeDomain(d, k, 'error', 'training');
  assert.ok(Math.abs(hi - 0.5) < 1e-12 && lo === -hi);
  const zero = { ...k, frame: { ...k.frame, exact: { q: mat(() => 0), k: mat(() => 0), v: mat(() => 0) } } };
  assert.deepEqual(edgeDomain(d, zero, 'exact', 'frame'), [-0.05, 0.05]);
  assert.deepEqual(panelsAt(undefined, 'matched', null), []);
});

test('the view: clamped edges, the strongest edges over training, the phase change, the tooltip', () => {
  const d = viewData();
  const clamps: ClampSummary[] = [
    { kind: 'path-patch', sender: 'L1H1', receiver: 'L2H3', input: 'k', with: 'zero' },
    { kind: 'stop-gradient', sender: 'L1H2', receiver: 'L2H3', input: 'v', from: 1000, until: 2000 },
    { kind: 'ablate', heads: ['L2H0'] },
  ];
  const e = (sender: string, input: 'q' | 'k' | 'v') => ({ sender, receiver: 'L2H3', input });
  assert.deepEqual(edgeClamps(clamps, 500, e('L1H1', 'k')), ['cut K L1H1→L2H3']);
  assert.deepEqual(edgeClamps(clamps, 500, e('L1H1', 'q')), []);
  assert.deepEqual(edgeClamps(clamps, 500, e('L1H2', 'v')), []);
  assert.deepEqual(edgeClamps(clamps, 1000, e('L1H2', 'v')), ['stop-grad V L1H2→L2H3 [1,000, 2,000)']);
  // Largest |E| over training: sender 7 of receiver 0 under the K and V inputs' corruptions, strongest first.
  const st = pathSteps(d, 'matched');
  const lines = strongestEdges(d, 'matched', st, 3);
  assert.equal(lines.length, 3);
  const peak = (l: (typeof lines)[number]) => Math.max(...l.ys.map((y) => Math.abs(y ?? 0)));
  assert.ok(peak(lines[0]) >= peak(lines[1]) && peak(lines[1]) >= peak(lines[2]));
  // K under prev-token (c = 1, x = 1) has the largest values: (k + 1)·0.04 + 7 at receiver 0, sender 7.
  assert.equal(lines[0].label, 'L1H7→L2H0 · K');
  assert.deepEqual(
    lines[0].ys,
    [0, 1, 2].map((k) => val(k, 1, 1, 0, 7)),
  );
  // Learning time 1500 (the second metrics row): the nearest measured checkpoint is 1000 (tie → earlier).
  const ph = phaseNote(d.learningTime, st);
  assert.equal(ph.checkpoint, 1000);
  assert.match(ph.text, /learning time 1,500 sequences .*nearest measured checkpoint: 1,000/);
  assert.equal(phaseNote(null, st).checkpoint, null);
  assert.match(pathCoverageNote(d), /^Measured at 3 of 4 checkpoints \(500 sequences per checkpoint/);
  const p = panelsAt(d, 'matched', 1000)[1];
  const tip = describeEdge(p, 3, 1, { receiver: 'L2H3', sender: 'L1H1', marks: [], clamps: ['cut K L1H1→L2H3'] });
  assert.equal(tip[0], 'L1H1→L2H3 · K (prev-token corruption)');
  assert.match(tip[1], new RegExp(`^exact E = ${val(1, 1, 1, 3, 1).toFixed(2)}`));
  assert.match(tip[2], /A − E = 0\.5/);
  assert.ok(tip.includes('this edge is clamped in this run: cut K L1H1→L2H3'));
});

test('the protocol: a malformed frame is dropped, computeOverTraining may name its measures', () => {
  const d = viewData();
  const bad = { ...d, frames: [{ ...d.frames[0], exact: { q: d.frames[0].exact.q, k: d.frames[0].exact.k } }] };
  assert.equal(isToWebviewMessage({ type: 'pathPatching', data: bad }), false);
  assert.equal(isToWebviewMessage({ type: 'pathPatching', data: { ...d, learningTime: 'soon' } }), false);
  assert.ok(isFromWebviewMessage({ type: 'computeOverTraining', runId: 'r', measures: ['path-patching'] }));
  assert.ok(isFromWebviewMessage({ type: 'computeOverTraining', runId: 'r' }));
  assert.equal(isFromWebviewMessage({ type: 'computeOverTraining', runId: 'r', measures: 'path-patching' }), false);
  assert.ok(isFromWebviewMessage({ type: 'ready', view: 'paths', runId: 'r', step: 1000 }));
});
