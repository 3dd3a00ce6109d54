/**
 * The "LLC and stages" view's data: src/extension/llcData.ts reading the caches a short real `llc` and
 * `dynamics` run writes (and saying which files it cannot read), the `llc` message guard, and the view's
 * data shaping (src/webview/lib/llcSeries.ts, stages.ts) checked against those files and hand-built cases.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import { llcCommand } from '../../src/engine/llc/command';
import { dynamicsCommand } from '../../src/engine/dynamics/command';
import type { DynamicsFile, LlcPoint, LlcRunFile, LlcSummary } from '../../src/shared/llc';
import { dynamicsFile, llcFile, readLlcData } from '../../src/extension/llcData';
import { isToWebviewMessage } from '../../src/shared/webviewProtocol';
import {
  diagnosticsRows,
  headCurves,
  headNames,
  lossAndStrength,
  modelCurve,
  pairLabel,
  parsePair,
  pcPairs,
  pointAt,
  runningCurve,
  trajectory,
  viewSteps,
  warningCounts,
} from '../../src/webview/lib/llcSeries';
import { stageAt, stageBands, stageSegments } from '../../src/webview/lib/stages';

let runDir: string;
let llc: LlcRunFile;
let dyn: DynamicsFile;
before(async () => {
  const cfg = resolveRunConfig(
    { train: { sequences: 6000, evalEvery: 2000, checkpointEvery: 1000 }, data: { evalSize: 200 } },
    presetConfig('fast'),
  );
  const rd = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-llcview-')), 'fast');
  await runTraining(cfg, rd, { emit: () => {}, shouldStop: () => false });
  runDir = rd.path;
  const quiet = { out: () => {} };
  llc = (await llcCommand(
    {
      runDir,
      checkpoints: '1024,3008,6016',
      draws: '12',
      chains: '2',
      heads: 'L2H3,L1H0',
      workers: '1',
      progress: 'none',
    },
    quiet,
  )) as LlcRunFile;
  dyn = await dynamicsCommand({ runDir, probe: '32', progress: 'none' }, quiet);
});

test('llcData reads the caches a real llc and dynamics run wrote; the llc message carries them', () => {
  const modes = readLlcData(runDir);
  assert.equal(modes.length, 1, 'only the as-trained mode has files');
  const [m] = modes;
  assert.equal(m.mode, 'as-trained');
  assert.deepEqual(m.problems, []);
  assert.deepEqual(m.llc, JSON.parse(fs.readFileSync(llcFile(runDir, 'as-trained'), 'utf8')));
  assert.deepEqual(m.llc, JSON.parse(JSON.stringify(llc)), 'what the command returned is what the view gets');
  assert.deepEqual(m.dynamics, JSON.parse(JSON.stringify(dyn)));
  assert.deepEqual(
    m.llc!.points.map((p) => p.sequences),
    [1024, 3008, 6016],
  );
  assert.deepEqual(
    m.dynamics!.points.map((p) => p.sequences),
    RunDir.open(runDir)
      .listCheckpoints()
      .map((c) => c.sequences),
  );
  assert.ok(isToWebviewMessage({ type: 'llc', runId: 'r', modes }));
  assert.ok(isToWebviewMessage({ type: 'llc', runId: 'r', modes: [] }));
  for (const bad of [
    { type: 'llc', runId: 'r' },
    { type: 'llc', runId: 'r', modes: [{ ...m, mode: 'other' }] },
    { type: 'llc', runId: 'r', modes: [{ ...m, llc: { points: 'x' } }] },
    { type: 'llc', runId: 'r', modes: [{ ...m, dynamics: { explainedVariance: [], points: [{ sequences: 1 }] } }] },
    { type: 'llc', runId: 'r', modes: [{ ...m, problems: undefined }] },
  ])
    assert.equal(isToWebviewMessage(bad), false, JSON.stringify(bad).slice(0, 80));
});

test('llcData names the cache files it cannot read and returns nothing for a run without caches', () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'il-llcview-bad-'));
  try {
    assert.deepEqual(readLlcData(copy), []);
    fs.mkdirSync(path.dirname(llcFile(copy, 'clean')), { recursive: true });
    fs.writeFileSync(llcFile(copy, 'clean'), '{"format":"induction-lab/llc-v1","points":[');
    fs.mkdirSync(path.dirname(dynamicsFile(copy, 'clean')), { recursive: true });
    fs.writeFileSync(dynamicsFile(copy, 'clean'), JSON.stringify({ format: 'something-else' }));
    const [m, ...rest] = readLlcData(copy);
    assert.equal(rest.length, 0);
    assert.equal(m.mode, 'clean');
    assert.equal(m.llc, null);
    assert.equal(m.dynamics, null);
    assert.equal(m.problems.length, 2);
    assert.match(m.problems[0], /^clean: llc\.json is not valid JSON .*rerun the command$/);
    assert.match(
      m.problems[1],
      /^clean: dynamics\.json is not induction-lab\/dynamics-v1 \(format "something-else"\)$/,
    );
    assert.ok(isToWebviewMessage({ type: 'llc', runId: 'r', modes: [m] }), 'unreadable files still reach the view');
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test("the view's curves, diagnostics and trajectory are the files' numbers", () => {
  const m = modelCurve(llc);
  assert.deepEqual(
    m.mean,
    llc.points.map((p) => ({ x: p.sequences, y: p.model!.mean })),
  );
  m.lo.forEach((p, i) => assert.equal(p.y, llc.points[i].model!.mean! - llc.points[i].model!.std!));
  m.hi.forEach((p, i) => assert.equal(p.y, llc.points[i].model!.mean! + llc.points[i].model!.std!));
  assert.deepEqual(
    m.flagged,
    llc.points.filter((p) => p.model!.warnings.length).map((p) => ({ x: p.sequences, y: p.model!.mean })),
  );
  assert.deepEqual(headNames(llc), ['L1H0', 'L2H3'], 'model order, whatever the order asked');
  for (const c of headCurves(llc)) {
    assert.deepEqual(
      c.points,
      llc.points.map((p) => ({ x: p.sequences, y: p.heads[c.head].mean })),
    );
    assert.equal(c.ablated, false);
  }
  const ls = lossAndStrength(llc);
  assert.deepEqual(
    ls.loss.map((p) => p.y),
    llc.points.map((p) => p.trainLoss),
  );
  assert.deepEqual(
    ls.strength.map((p) => p.y),
    llc.points.map((p) => Math.max(...p.inductionStrength!)),
  );
  assert.deepEqual(
    viewSteps(llc, dyn),
    dyn.points.map((p) => p.sequences),
    'every LLC checkpoint is a dynamics one',
  );
  assert.deepEqual(viewSteps(llc, null), [1024, 3008, 6016]);
  assert.equal(pointAt(llc, null)!.sequences, 6016, 'latest');
  assert.equal(pointAt(llc, 2100)!.sequences, 3008, 'nearest');
  assert.equal(pointAt(null, 2100), undefined);
  const p = pointAt(llc, 3008)!;
  const rows = diagnosticsRows(p);
  assert.deepEqual(
    rows.map((r) => r.name),
    ['model', 'L1H0', 'L2H3'],
  );
  assert.deepEqual(
    rows.map((r) => [r.mean, r.std, r.stderr, r.acceptance, r.gap, r.warnings]),
    [p.model!, p.heads.L1H0, p.heads.L2H3].map((s) => [
      s.mean,
      s.std,
      s.stderr,
      s.meanAcceptance,
      s.relativeGap,
      s.warnings,
    ]),
  );
  assert.equal(rows[0].diverged, `${p.model!.divergedChains} / 2`);
  const rc = runningCurve(p);
  assert.equal(rc.mean.length, 12);
  assert.deepEqual(
    rc.mean.map((q) => q.y),
    p.model!.running.mean,
  );
  assert.deepEqual(
    rc.mean.map((q) => q.x),
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  const total = [...warningCounts(llc).values()].reduce((a, b) => a + b, 0);
  assert.equal(
    total,
    llc.points.flatMap((q) => [q.model!, ...Object.values(q.heads)]).flatMap((s) => s.warnings).length,
  );

  const pairs = pcPairs(dyn);
  assert.ok(dyn.points[0].pcs.length >= 4);
  assert.deepEqual(
    pairs.map(pairLabel),
    ['PC1–PC2', 'PC1–PC3', 'PC1–PC4', 'PC2–PC3', 'PC2–PC4', 'PC3–PC4'],
    'pairs of the first four components',
  );
  assert.deepEqual(pcPairs(dyn, 3).map(pairLabel), ['PC1–PC2', 'PC1–PC3', 'PC2–PC3']);
  for (const pr of pairs) assert.deepEqual(parsePair(pairLabel(pr)), pr);
  assert.equal(parsePair('PC2–PC1'), null);
  const tr = trajectory(dyn, [0, 2]);
  assert.deepEqual(
    tr.map((q) => [q.sequences, q.x, q.y]),
    dyn.points.map((q) => [q.sequences, q.pcs[0], q.pcs[2]]),
  );
  assert.equal(tr[0].t, 0);
  assert.equal(tr[tr.length - 1].t, 1);
  for (let i = 1; i < tr.length; i++) assert.ok(tr[i].t > tr[i - 1].t, 'colour follows training time');
});

const summary = (mean: number | null, codes: string[] = []): LlcSummary => ({
  mean,
  std: 0.1,
  stderr: 0.05,
  chainStderr: 0.03,
  initLoss: 0.7,
  initLossStd: 0.05,
  baselineStderr: 0.02,
  meanAcceptance: 0.5,
  meanAcceptanceDevinterp: 0.4,
  relativeGap: 0.01,
  flattened: true,
  divergedChains: 0,
  chains: 4,
  warnings: codes.map((code) => ({ code, message: `${code}!` })),
  seconds: 1,
});
const point = (
  sequences: number,
  model: LlcSummary | undefined,
  heads: Record<string, LlcSummary>,
  ablatedHeads: string[] = [],
): LlcPoint => ({
  sequences,
  step: sequences / 32,
  model: model && { ...model, running: { mean: [1, 2], std: [0.1, NaN] } },
  heads,
  ablatedHeads,
  trainLoss: null,
  inductionStrength: null,
  prevTokenScore: null,
});

test('hand-built: warnings ringed, ablated heads marked, a missing mean left out, NaN std gives a zero band', () => {
  const file = {
    points: [
      point(100, summary(-0.3, ['negative']), { L2H10: summary(0.2), L2H2: summary(0.1, ['not-significant']) }, [
        'L2H2',
      ]),
      point(200, summary(null, ['diverged']), { L2H2: summary(null) }),
      point(400, summary(0.9), {}),
    ],
  } as unknown as LlcRunFile;
  const m = modelCurve(file);
  assert.deepEqual(m.mean, [
    { x: 100, y: -0.3 },
    { x: 400, y: 0.9 },
  ]);
  assert.deepEqual(m.flagged, [{ x: 100, y: -0.3 }]);
  assert.deepEqual(headNames(file), ['L2H2', 'L2H10'], 'numeric head order');
  const hc = headCurves(file);
  assert.deepEqual(
    hc.map((c) => [c.head, c.points.length, c.flagged.length, c.ablated]),
    [
      ['L2H2', 1, 1, true],
      ['L2H10', 1, 0, false],
    ],
  );
  assert.deepEqual(lossAndStrength(file), { loss: [], strength: [] });
  assert.deepEqual(Object.fromEntries(warningCounts(file)), { negative: 1, 'not-significant': 1, diverged: 1 });
  assert.deepEqual(
    diagnosticsRows(file.points[0]).map((r) => [r.name, r.ablated]),
    [
      ['model', false],
      ['L2H2', true],
      ['L2H10', false],
    ],
  );
  assert.deepEqual(
    diagnosticsRows(point(5, undefined, { L1H1: summary(0.4) })).map((r) => r.name),
    ['L1H1'],
  );
  const rc = runningCurve(file.points[0]);
  assert.deepEqual(
    rc.hi.map((q) => q.y),
    [1.1, 2],
  );
  assert.deepEqual(runningCurve(undefined), { mean: [], lo: [], hi: [] });
});

test('stage bands: one per stage, 1-based, labelled by trend; a boundary belongs to the later stage', () => {
  const stages = {
    stages: [
      { index: 0, from: 1024, until: 9071, trend: 'rising' as const, llcFrom: 0.5, llcUntil: 1.15 },
      { index: 1, from: 9071, until: 39300, trend: 'falling' as const, llcFrom: 1.15, llcUntil: 0.76 },
      { index: 2, from: 39300, until: 39300, trend: 'rising' as const, llcFrom: 0.76, llcUntil: 0.76 },
    ],
  };
  const b = stageBands(stages);
  assert.deepEqual(
    b.map((x) => [x.id, x.index, x.x0, x.x1, x.trend, x.label]),
    [
      ['stage-1', 1, 1024, 9071, 'rising', 'stage 1 ↑'],
      ['stage-2', 2, 9071, 39300, 'falling', 'stage 2 ↓'],
    ],
    'an empty stage is dropped',
  );
  assert.equal(b[1].title, 'stage 2: 9,071 – 39,300 sequences, LLC falling 1.15 → 0.76 (smoothed)');
  assert.equal(stageAt(b, 9071)?.index, 2);
  assert.equal(stageAt(b, 9070)?.index, 1);
  assert.equal(stageAt(b, 39300)?.index, 2, 'the end of the last stage is inside it');
  assert.equal(stageAt(b, 500), undefined);
  assert.equal(stageAt(b, null), undefined);
  assert.deepEqual(stageBands(null), []);
  // Along an index-based slider over five checkpoints (track fractions 0, ¼, ½, ¾, 1).
  const segs = stageSegments(b, [1024, 4000, 9071, 20000, 39300]);
  assert.deepEqual(
    segs.map((g) => [g.index, g.f0, g.f1]),
    [
      [1, 0, 0.375],
      [2, 0.375, 1],
    ],
    'adjacent stages meet',
  );
  assert.deepEqual(stageSegments(b, [500, 600]), [], 'no checkpoint inside any stage');
  assert.deepEqual(stageSegments(b, [2000]), [], 'one step: no track');
  assert.deepEqual(stageBands(llc.stages).length, llc.stages.stages.filter((s) => s.until > s.from).length);
});
