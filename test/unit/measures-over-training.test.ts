/**
 * Measures over training (measures/overTraining.ts, series.ts): choosing checkpoints, the aggregate
 * files against each checkpoint's own result computed directly, worker processes agreeing with one
 * process, a SIGKILLed `measure --checkpoints all` resuming without recomputing finished units (cache
 * files and counters, not timings), --follow on a run that is still writing checkpoints, --progress json,
 * and bad input: one line, exit 2, nothing written. A tiny model (2 heads of dimension 4: the influence
 * matrix is 2 × 2, 18 configurations) with checkpoints from initParams, so no training is needed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../../src/engine/model/tf';
import { RunDir, CheckpointRef, RunLock } from '../../src/engine/io';
import { resolveRunConfig, RunConfig } from '../../src/engine/train/runConfig';
import { initParams } from '../../src/engine/model/params';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { openMeasureContext, contextAtCheckpoint, disposeContext, denseSummary } from '../../src/engine/measures/dense';
import { headAblations } from '../../src/engine/measures/ablations';
import { influenceMatrix } from '../../src/engine/measures/influence';
import { layerPaths } from '../../src/engine/measures/paths';
import {
  chooseCheckpoints,
  parseCheckpointChoice,
  measureOverTraining,
  OverTrainingArgs,
} from '../../src/engine/measures/overTraining';
import { SeriesFile, listSeries, readSeries as readSeriesFile } from '../../src/engine/measures/series';
import type { CliProgress } from '../../src/shared/protocol';
import { cliArgv, entryArgs } from './procHelpers';

const SUB = 32;
let root: string;
let run: RunConfig;

/** A run folder with checkpoints at `seqs` (weights from initParams, a different seed each) and a few metrics lines. */
function writeRun(name: string, seqs: number[], status = 'completed'): string {
  const rd = RunDir.create(root, name);
  rd.writeRunJson({ id: rd.id, name, status, config: run, sequences: seqs[seqs.length - 1] ?? 0 });
  for (const s of seqs) addCheckpoint(rd, s);
  const log = rd.metrics();
  for (const [s, loss] of [
    [0, 2.0],
    [320, 1.0],
    [960, 0.5],
  ]) {
    const m = { loss, acc: 0.5, inContextAcc: 0.5, inContextProb: 0.5, prob: 0.3, useContextProb: 0.6 };
    log.append({
      sequences: s,
      step: s / 32,
      wallTime: 0,
      trainLoss: loss,
      eval: { fsl_train: m },
      inductionStrength: [],
      prevTokenScore: [],
    });
  }
  log.close();
  return rd.path;
}

function addCheckpoint(rd: RunDir, s: number): void {
  rd.writeCheckpoint(
    s,
    encodeCheckpoint({ config: run.model, sequences: s, params: initParams(run.model, 5 + s / 32) }),
  );
}

const quiet = () => {
  const lines: string[] = [],
    err: string[] = [];
  return { lines, err, io: { out: (l: string) => lines.push(l), err: (t: string) => err.push(t) } };
};

/** Deep equality with numbers equal to within `tol` (absolute). */
function assertClose(actual: unknown, expected: unknown, tol: number, where: string): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(Math.abs(actual - expected) <= tol, `${where}: ${actual} vs ${expected}`);
  } else if (Array.isArray(expected) || (expected && typeof expected === 'object')) {
    assert.ok(actual && typeof actual === 'object', `${where}: ${JSON.stringify(actual)} is not an object`);
    const a = actual as Record<string, unknown>,
      e = expected as Record<string, unknown>;
    assert.deepEqual(Object.keys(a).sort(), Object.keys(e).sort(), where);
    for (const k of Object.keys(e)) assertClose(a[k], e[k], tol, `${where}.${k}`);
  } else assert.deepEqual(actual, expected, where);
}

const readSeries = (runPath: string, file: string): SeriesFile =>
  JSON.parse(fs.readFileSync(path.join(runPath, file), 'utf8'));

before(async () => {
  await initBackend('cpu');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-overtime-'));
  run = resolveRunConfig({ name: 't', model: { dModel: 8, numHeads: 2 }, data: { evalSize: 20 } });
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

test('choosing checkpoints: all, N spread by position (first and last kept), a list; clear errors', () => {
  const refs: CheckpointRef[] = [0, 32, 96, 224, 608, 1568, 4000, 10000].map((s) => ({
    sequences: s,
    path: `seq-${s}`,
  }));
  const seqs = (c: string) => chooseCheckpoints(refs, parseCheckpointChoice(c), 'RUN').map((r) => r.sequences);
  assert.deepEqual(seqs('all'), [0, 32, 96, 224, 608, 1568, 4000, 10000]);
  assert.deepEqual(seqs('3'), [0, 608, 10000]); // positions 0, 3.5 → 4, 7
  assert.deepEqual(seqs('4'), [0, 96, 1568, 10000]); // positions 0, 2.33, 4.67, 7
  assert.deepEqual(seqs('1'), [10000]);
  assert.deepEqual(seqs('20'), seqs('all'));
  assert.deepEqual(seqs('4000,0'), [0, 4000]);
  assert.deepEqual(seqs('96,'), [96]);
  assert.throws(
    () => seqs('5,7,4000'),
    /checkpoints 5, 7 do not exist in RUN \(available: 0, 32, 96, 224, 608, 1568, 4000, 10000\)/,
  );
  assert.throws(() => seqs('33,'), /checkpoint 33 does not exist in RUN/);
  assert.throws(
    () => parseCheckpointChoice('latest'),
    /--checkpoints takes all, a number N of checkpoints, or a comma list of sequence counts/,
  );
  assert.throws(() => parseCheckpointChoice('0'), /--checkpoints N needs N ≥ 1/);
  assert.throws(() => chooseCheckpoints([], { kind: 'all' }, 'RUN'), /run RUN has no checkpoints/);
});

test("aggregate files: each series entry equals that checkpoint's measure computed directly; missing ones listed", async () => {
  const runPath = writeRun('agg', [0, 160, 320, 480, 640]);
  const { io, lines } = quiet();
  const args: OverTrainingArgs = {
    runDir: runPath,
    checkpoints: '0,320,640',
    what: ['ablations', 'paths', 'influence-matrix'],
    subsample: SUB,
    backend: 'cpu',
    workers: 1,
    progress: 'none',
  };
  const r = await measureOverTraining(args, io);
  assert.deepEqual(r.checkpoints, [0, 320, 640]);
  assert.deepEqual(r.computed, [0, 320, 640]);
  assert.deepEqual(Object.keys(r.files).sort(), ['ablations', 'dense', 'influence-matrix', 'paths']);
  assert.match(lines.join('\n'), /dense over training \(32 sequences\)/);

  const abl = readSeries(runPath, r.files.ablations),
    dense = readSeries(runPath, r.files.dense);
  const infl = readSeries(runPath, r.files['influence-matrix']),
    paths = readSeries(runPath, r.files.paths);
  for (const f of [abl, dense, infl, paths]) {
    assert.equal(f.format, 'induction-lab/measure-series-v1');
    assert.deepEqual(f.sequences, [0, 320, 640]);
    assert.deepEqual(f.missing, [160, 480]);
    assert.equal(f.subsample, SUB);
  }
  assert.equal(path.basename(r.files.ablations), 'ablations-over-training-sub32.json');
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const a = abl.series as any,
    d = dense.series as any,
    m = infl.series as any,
    p = paths.series as any;
  const first = await openMeasureContext(runPath, 0, SUB);
  for (const [k, s] of [0, 320, 640].entries()) {
    const ctx =
      k === 0
        ? first
        : contextAtCheckpoint(first, { sequences: s, path: path.join(runPath, 'checkpoints', `seq-${s}.safetensors`) });
    try {
      const want = headAblations(ctx);
      assert.deepEqual(
        a.keepOneAcc[k],
        want.keepOne.map((x) => x.acc),
        `keep-one at ${s}`,
      );
      assert.deepEqual(
        a.removeOneLoss[k],
        want.removeOne.map((x) => x.loss),
        `remove-one at ${s}`,
      );
      assert.equal(a.baselineAcc[k], want.baseline.acc);
      const ds = denseSummary(ctx);
      assert.deepEqual(d.inductionStrength[k], ds.inductionStrength.values);
      const best =
        ds.inductionStrength.heads[ds.inductionStrength.values.indexOf(Math.max(...ds.inductionStrength.values))];
      assert.equal(d.strongestIH[k], best);
      const im = influenceMatrix(ctx);
      assert.deepEqual(m.removeValuesPreserved[k], im.removeValuesPreserved, `influence at ${s}`);
      assert.deepEqual(m.keepPatternsPreserved[k], im.keepPatternsPreserved);
      assert.equal(m.strongestIH[k], best);
      const lp = layerPaths(ctx, [{ sequences: s, path: ctx.checkpointPath! }]).points[0];
      assert.equal(p.noL2[k], lp.noL2);
      assert.equal(p.evalLoss[k], lp.evalLoss);
    } finally {
      if (k > 0) disposeContext(ctx);
    }
  }
  disposeContext(first);
  // The line chart "influence of each PTH on the strongest IH": that IH's row at every checkpoint.
  const ih = d.strongestIH[2],
    row = m.rows.indexOf(ih);
  assert.equal(m.onStrongestIH.head, ih);
  assert.deepEqual(
    m.onStrongestIH.removeValuesPreserved,
    m.removeValuesPreserved.map((x: number[][]) => x[row]),
  );
  /* eslint-enable @typescript-eslint/no-explicit-any */

  assert.deepEqual(
    listSeries(runPath).map((x) => [x.measure, x.subsample]),
    [
      ['ablations', SUB],
      ['dense', SUB],
      ['influence-matrix', SUB],
      ['paths', SUB],
    ],
  );
  assert.equal(readSeriesFile(path.join(runPath, 'measures', 'nope.json')), null);
  assert.deepEqual(readSeriesFile(path.join(runPath, r.files.dense)), dense);

  // Computing one more checkpoint adds it to the aggregate; the others come from the cache.
  const again = await measureOverTraining({ ...args, checkpoints: '0,160' }, quiet().io);
  assert.deepEqual(again.computed, [160]);
  assert.deepEqual(again.cached, [0]);
  assert.deepEqual(readSeries(runPath, again.files.ablations).sequences, [0, 160, 320, 640]);
});

test('worker processes give the same results as one process; --progress json lines are CliProgress', async () => {
  const one = writeRun('one', [0, 160, 320, 480]),
    two = writeRun('two', [0, 160, 320, 480]);
  const what = ['dense', 'ablations', 'composition'];
  await measureOverTraining(
    { runDir: one, checkpoints: 'all', what, subsample: SUB, backend: 'cpu', workers: 1, progress: 'none' },
    quiet().io,
  );
  const q = quiet();
  const r = await measureOverTraining(
    {
      runDir: two,
      checkpoints: 'all',
      what,
      subsample: SUB,
      backend: 'cpu',
      workers: 2,
      progress: 'json',
      workerEntry: entryArgs('cli'),
    },
    q.io,
  );
  assert.match(r.workers, /^2 worker processes/);
  assert.deepEqual(
    r.computed.sort((x, y) => x - y),
    [0, 160, 320, 480],
  );
  // Workers are CLI processes, which run the relaxed-SIMD build (fused multiply-add; relaxedSimd.ts) where
  // this test process runs the plain SIMD one: the same numbers up to float32 rounding.
  for (const m of ['dense', 'ablations', 'composition']) {
    assertClose(readSeries(two, r.files[m]).series, readSeries(one, r.files[m]).series, 1e-6, m);
  }
  const progress = q.err
    .join('')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as CliProgress);
  assert.ok(progress.length >= 4);
  for (const p of progress) {
    assert.equal(p.type, 'progress');
    assert.ok(
      typeof p.task === 'string' && typeof p.unit === 'string' && Number.isFinite(p.done) && Number.isFinite(p.total),
    );
  }
  const last = progress.filter((p) => p.task === 'measure').pop()!;
  assert.deepEqual([last.done, last.total, last.unit], [4, 4, 'checkpoints']);
});

test('a SIGKILLed measure --checkpoints all resumes: finished units are not recomputed, the rest are', async () => {
  const seqs = Array.from({ length: 16 }, (_, i) => i * 160);
  const runPath = writeRun('killed', seqs);
  const mdir = path.join(runPath, 'measures');
  const args = cliArgv([
    'measure',
    runPath,
    '--checkpoints',
    'all',
    '--what',
    'dense,ablations,additivity',
    '--subsample',
    '64',
    '--backend',
    'cpu',
    '--workers',
    '1',
  ]);
  const files = () =>
    fs.existsSync(mdir) ? fs.readdirSync(mdir).filter((f) => /-seq-\d+/.test(f) && !f.includes('.tmp-')) : [];
  const done = () => seqs.filter((s) => files().includes(`additivity-seq-${s}-sub64.json`));
  const child = spawn(process.execPath, args, { stdio: 'ignore' });
  const t = setInterval(() => {
    if (done().length >= 2) child.kill('SIGKILL');
  }, 10);
  const exit = await new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  clearInterval(t);
  assert.equal(exit, 'SIGKILL', 'killed, not finished');
  const before = new Map(files().map((f) => [f, fs.statSync(path.join(mdir, f)).mtimeMs]));
  const finished = done();
  assert.ok(
    finished.length >= 2 && finished.length < seqs.length,
    `killed after ${finished.length} of ${seqs.length} checkpoints`,
  );

  const r = spawnSync(process.execPath, [...args, '--json', '--progress', 'none'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // A kill can land mid atomic write (a temp file beside the cache): the resumed computation removes it.
  assert.equal(fs.readdirSync(mdir).filter((f) => f.includes('.tmp')).length, 0, 'no temp file left after the resume');
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  // Counters: the checkpoints whose every unit was cached are reused, the others computed.
  for (const s of finished) assert.ok(summary.cached.includes(s), `${s} reused`);
  assert.deepEqual(
    [...summary.cached, ...summary.computed].sort((x: number, y: number) => x - y),
    seqs,
  );
  assert.equal(summary.computed.length, seqs.length - summary.cached.length);
  // Cache files: every file written before the kill is untouched, and every unit now exists.
  for (const [f, t] of before) assert.equal(fs.statSync(path.join(mdir, f)).mtimeMs, t, `${f} not rewritten`);
  for (const s of seqs)
    for (const u of ['dense', 'ablations', 'additivity'])
      assert.ok(fs.existsSync(path.join(mdir, `${u}-seq-${s}-sub64.json`)), `${u} at ${s}`);
  assert.deepEqual(readSeries(runPath, 'measures/additivity-over-training-sub64.json').sequences, seqs);
});

test('--follow: measures checkpoints a step behind the newest while the run trains, all of them once it stops', async () => {
  const runPath = writeRun('live', [0, 160], 'running');
  const rd = RunDir.open(runPath);
  // A writer holds the run's lock while it trains (what tells a live run from an interrupted one).
  const lock = RunLock.acquire(runPath, 'test: training');
  // The run goes on as the measures come: 320 once 0 is measured, then 480 and the end once 160 is (which waits
  // for 320). Driven by the measure files, not by timers, so nobody waits on a clock; a stage that waits 30 s goes
  // on anyway, so a measure that never comes fails the assertions below instead of hanging the test.
  let stage = 0,
    since = Date.now();
  const advancedOn: string[] = []; // why each stage went on: the measure came, or the 30 s fallback
  const measured = (s: number) => {
    const why = fs.existsSync(path.join(runPath, `measures/dense-seq-${s}-sub32.json`))
      ? 'measured'
      : Date.now() - since > 30_000 && 'timed out';
    if (why) advancedOn.push(`${s} ${why}`);
    return Boolean(why);
  };
  const writer = setInterval(() => {
    if (stage === 0 && measured(0)) {
      addCheckpoint(rd, 320);
      stage = 1;
      since = Date.now();
    } else if (stage === 1 && measured(160)) {
      addCheckpoint(rd, 480);
      rd.updateRunJson({ status: 'completed' });
      lock.release();
      stage = 2;
      clearInterval(writer);
    }
  }, 10);
  const r = await measureOverTraining(
    { runDir: runPath, follow: true, pollMs: 50, what: ['dense'], subsample: SUB, backend: 'cpu', progress: 'none' },
    quiet().io,
  );
  clearInterval(writer);
  assert.deepEqual(r.computed, [0, 160, 320, 480]);
  assert.deepEqual(readSeries(runPath, r.files.dense).sequences, [0, 160, 320, 480]);
  // 0 was measured while 160 was the newest, and 160 while 320 was: the run went on because they came.
  assert.deepEqual(advancedOn, ['0 measured', '160 measured']);
  // Each checkpoint was measured only once a newer one existed (160 after 320 appeared, 320 after 480). File times
  // tick with the kernel's coarse clock (a few ms), so a write just after another may carry the same time.
  const mtime = (f: string) => fs.statSync(path.join(runPath, f)).mtimeMs;
  assert.ok(mtime('measures/dense-seq-160-sub32.json') >= mtime('checkpoints/seq-320.safetensors'));
  assert.ok(mtime('measures/dense-seq-320-sub32.json') >= mtime('checkpoints/seq-480.safetensors'));
  // An interrupted run (status running, no live writer): every checkpoint it saved, then the end.
  const dead = writeRun('dead', [0, 160], 'running');
  const lines: string[] = [];
  const d = await measureOverTraining(
    { runDir: dead, follow: true, pollMs: 50, what: ['dense'], subsample: SUB, backend: 'cpu', progress: 'none' },
    { out: (l) => lines.push(l), err: () => {} },
  );
  assert.deepEqual(d.computed, [0, 160]);
  assert.match(lines.join('\n'), /the run has stopped \(interrupted \(its training process is gone\)/);
  await assert.rejects(
    measureOverTraining({ runDir: runPath, follow: true, checkpoints: '3' }, quiet().io),
    /--follow measures every checkpoint as the run writes it/,
  );
});

test('bad input: one clear line each, exit 2 on the CLI, nothing written', async () => {
  const runPath = writeRun('bad', [0, 160]);
  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'run.json'), JSON.stringify({ config: run, status: 'completed' }));
  const inProcess: Array<[OverTrainingArgs, RegExp]> = [
    [{ runDir: runPath, what: ['dense,influence'] }, /unknown measure "influence" \(known: dense, .*, or all\)$/],
    [{ runDir: runPath, checkpoints: '0,999' }, /checkpoint 999 does not exist in .*bad \(available: 0, 160\)$/],
    [{ runDir: empty }, /run .*empty has no checkpoints/],
    [{ runDir: empty, follow: true }, /run .*empty has no checkpoints/],
    [{ runDir: path.join(root, 'nowhere') }, /not a run folder: .*nowhere/],
    [{ runDir: runPath, checkpoints: 'some' }, /--checkpoints takes all, a number N/],
    [{ runDir: runPath, workers: 0 }, /--workers must be a positive whole number/],
    [{ runDir: runPath, subsample: 0 }, /--subsample must be a positive whole number/],
  ];
  for (const [args, re] of inProcess)
    await assert.rejects(measureOverTraining({ progress: 'none', ...args }, quiet().io), re, JSON.stringify(args));
  const cli: Array<[string[], RegExp]> = [
    [
      [runPath, '--checkpoints', 'all', '--what', 'dense,influence'],
      /^induction-lab: unknown measure "influence" \(known: dense, .*, or all\)$/,
    ],
    [
      [runPath, '--checkpoints', '0,999'],
      /^induction-lab: checkpoint 999 does not exist in .*bad \(available: 0, 160\)$/,
    ],
    [[empty, '--checkpoints', 'all'], /^induction-lab: run .*empty has no checkpoints/],
    [
      [runPath, '--checkpoints', 'all', '--checkpoint', '0'],
      /^induction-lab: --checkpoint \(one checkpoint\) and --checkpoints \/ --follow \(many\) exclude each other$/,
    ],
  ];
  for (const [argv, re] of cli) {
    const r = spawnSync(process.execPath, cliArgv(['measure', ...argv]), { encoding: 'utf8' });
    assert.equal(r.status, 2, `${argv.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
  assert.equal(fs.existsSync(path.join(runPath, 'measures')), false, 'nothing written');
  assert.equal(fs.existsSync(path.join(empty, 'measures')), false);
});
