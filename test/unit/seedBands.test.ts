/**
 * Multi-seed figures: the mean, band and per-seed values of a combined series by hand, the CSV and SVG they
 * produce, the numbers summary, and `reproduce fig5a --seeds` end to end (the toy model: no training).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { combineSeeds, combineSeries, summarizeSeeds } from '../../src/engine/science/seedBands';
import { FigureData, figureCsv, figureSvg } from '../../src/engine/science/figureSvg';
import { cliArgv } from './procHelpers';

const ROOT = path.resolve(__dirname, '../..');

test('combineSeries: mean and range over seeds on the x-values every seed has', () => {
  const s = combineSeries(
    [
      { label: 'train', xs: [0, 10, 20, 30], ys: [2, 1, 0.5, 0.1], color: '#000' },
      { label: 'train', xs: [0, 10, 20], ys: [2.2, 0.7, 0.3] },
      { label: 'train', xs: [0, 10, 20, 30], ys: [1.9, 1.3, NaN, 0.2] },
    ],
    [5, 6, 7],
  );
  assert.deepEqual(s.xs, [0, 10, 20]);
  assert.ok(
    Math.abs(s.ys[0] - 6.1 / 3) < 1e-12 && Math.abs(s.ys[1] - 1) < 1e-12 && Math.abs(s.ys[2] - 0.4) < 1e-12,
    `${s.ys}`,
  );
  assert.deepEqual(s.band, { lo: [1.9, 0.7, 0.3], hi: [2.2, 1.3, 0.5] });
  assert.deepEqual(
    s.perSeed!.map((p) => p.seed),
    [5, 6, 7],
  );
  assert.deepEqual(s.perSeed![1].ys, [2.2, 0.7, 0.3]);
  assert.equal(s.color, '#000');
});

test('combineSeeds: lines banded, scatter pooled, heatmaps from the first seed; CSV and SVG carry the seeds', () => {
  const fig = (k: number): FigureData => ({
    id: 'x',
    title: 'T',
    columns: 1,
    notes: [],
    panels: [
      { kind: 'lines', title: 'L', xLabel: 'x', yLabel: 'y', series: [{ label: 'a', xs: [0, 1], ys: [k, k + 1] }] },
      {
        kind: 'scatter',
        title: 'S',
        xLabel: 'x',
        yLabel: 'y',
        points: [{ x: k, y: k, label: 'H0', marker: 'circle', seed: k }],
      },
      { kind: 'heat', title: 'H', rows: ['r'], cols: ['c'], values: [[k]], domain: [0, 1], signed: false },
    ],
  });
  const f = combineSeeds([fig(5), fig(7)], [5, 7]);
  assert.deepEqual(f.seeds, [5, 7]);
  const [lines, scatter, heat] = f.panels;
  assert.ok(lines.kind === 'lines' && scatter.kind === 'scatter' && heat.kind === 'heat');
  assert.deepEqual(lines.series[0].ys, [6, 7]);
  assert.equal(scatter.points.length, 2);
  assert.deepEqual(heat.values, [[5]]);
  assert.ok(f.notes.some((n) => /mean over seeds 5, 7/.test(n)) && f.notes.some((n) => /Heatmaps: seed 5/.test(n)));
  const csv = figureCsv(f).trim().split('\n');
  assert.equal(csv[0], 'panel,series,x,y,seed');
  assert.ok(
    csv.includes('L,a,0,5,5') &&
      csv.includes('L,a,1,8,7') &&
      csv.includes('L,a,0,6,mean') &&
      csv.includes('L,a,1,6,min') &&
      csv.includes('L,a,1,8,max'),
    csv.join('\n'),
  );
  assert.ok(csv.includes('S,H0 (circle),7,7,7') && csv.includes('H,r,c,5,5'));
  const svg = figureSvg(f);
  assert.match(svg, /<polygon fill="#1b9e77" fill-opacity="0\.18"/);
  assert.match(figureCsv({ ...fig(5), seeds: [5] }), /\nL,a,0,5,5\n/);
  assert.throws(() => combineSeeds([fig(5)], [5, 6]), /1 figures for 2 seeds/);
});

test('summarizeSeeds: mean, min and max of the numbers all seeds share', () => {
  const s = summarizeSeeds([
    { lt: 10, nested: { a: 1, b: 'x' }, arr: [1], only5: 1 },
    { lt: 30, nested: { a: 3, b: 'y' }, arr: [2] },
  ]);
  assert.deepEqual(s, { lt: { mean: 20, min: 10, max: 30 }, nested: { a: { mean: 2, min: 1, max: 3 } } });
});

test('reproduce fig5a --seeds draws the toy model over seeds with a band and keeps every seed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bands-'));
  const r = spawnSync(process.execPath, cliArgv(['reproduce', 'fig5a', '--seeds', '0,1,2,3', '--out', dir]), {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const data = JSON.parse(fs.readFileSync(path.join(dir, 'fig5a', 'data.json'), 'utf8'));
  assert.deepEqual(data.seeds, [0, 1, 2, 3]);
  assert.deepEqual(Object.keys(data.numbers.perSeed), ['0', '1', '2', '3']);
  const it = data.numbers.acrossSeeds.iterationsTo10pct;
  assert.ok(it.none.mean > it['b+c'].mean && it.c.max >= it.c.min, JSON.stringify(it));
  const none = data.figure.panels[0].series.find((s: { label: string }) => s.label === 'none');
  assert.equal(none.perSeed.length, 4);
  assert.match(data.figure.title, /seeds 0, 1, 2, 3/);
  assert.match(fs.readFileSync(path.join(dir, 'fig5a', 'figure.svg'), 'utf8'), /<polygon /);
  assert.match(
    fs.readFileSync(path.join(dir, 'fig5a', 'data.csv'), 'utf8'),
    /\n"?"Clamped" variable"?,none,0,[\d.e-]+,mean\n|,none,0,[\d.e-]+,mean\n/,
  );
});
