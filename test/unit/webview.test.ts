// Webview pure modules: CSV builder, steps and data-join keys, scale domains, layouts, state restore,
// the webview message protocol's type guards and the HTML shell (CSP + nonce).
// Run: node --import tsx --test test/unit/webview.test.ts
import { test, describe, mock } from 'node:test';
import assert from 'node:assert/strict';
import { rgb, lab, color as parseColor } from 'd3-color';
import type { MetricsRecord } from '../../src/shared/protocol';
import {
  isToWebviewMessage,
  isFromWebviewMessage,
  INFLUENCE_KINDS,
  INFLUENCE_INFO,
  EVAL_SET_LEGENDS,
  VIEW_NAMES,
  LN2,
  type ToWebviewMessage,
  type FromWebviewMessage,
} from '../../src/shared/webviewProtocol';
import { csvField, toCsv, metricsCsv, curvesCsv } from '../../src/webview/lib/csv';
import {
  mergeRecords,
  nearestIndex,
  snapStep,
  floorStep,
  uniqueSorted,
  cellKey,
  pointKey,
  matrixKey,
} from '../../src/webview/lib/steps';
import {
  symmetricDomain,
  extentDomain,
  influenceDomain,
  metricDomain,
  sequencesDomain,
  ceilTo,
} from '../../src/webview/lib/domains';
import {
  clampBands,
  describeClamp,
  headMarks,
  strongestFreeHead,
  wholeRunClamps,
  resumePoints,
  shortClamp,
  clampSlug,
} from '../../src/webview/lib/clampMarks';
import { makeXAxis, logDomain, logTicks } from '../../src/webview/lib/xscale';
import { emaSmooth } from '../../src/webview/lib/smoothing';
import { fmtSeqShort, fmtValue, fmtCell, fileStem, wrapText } from '../../src/webview/lib/format';
import { attentionLayout, gridColumns } from '../../src/webview/lib/layout';
import { groupCurves } from '../../src/webview/lib/curves';
import { restoreState } from '../../src/webview/lib/state';
import { followStep } from '../../src/webview/lib/sharedStep';
import {
  viridis,
  diverging,
  textOn,
  PALETTES,
  seriesColor,
  seriesDash,
  evalSetColor,
} from '../../src/webview/lib/theme';
import { chooseRun } from '../../src/webview/lib/runHeader';
import { webviewHtml, createNonce, contentSecurityPolicy, escapeHtml } from '../../src/webview/html';
import { indexAtPixel } from '../../src/webview/lib/hitTest';
import { restorePanel, subcircuitCurves, curveLearningTime, SelectedSteps } from '../../src/extension/labData';
import {
  compareX,
  conditionOf,
  groupByCondition,
  compareStyles,
  distinctNames,
} from '../../src/webview/lib/compareRuns';
import { throttle } from '../../src/shared/throttle';
import { addPngText, pngChunks, pngTexts, crc32 } from '../../src/webview/lib/png';
import { remapColours, paperColourMap, withMeta } from '../../src/webview/lib/export';
import { patternsArgs, summaryAnswers } from '../../src/extension/patternsChild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { panelIdentity } from '../../src/shared/webviewProtocol';
import {
  parseSequenceSpec,
  formatSequenceSpec,
  alignedMeanPatterns,
  meanPatterns,
} from '../../src/shared/attentionViews';
import { scaleLinear, scaleLog } from 'd3-scale';

const ev = (loss: number) => ({
  loss,
  acc: 0.5,
  inContextAcc: 0.6,
  inContextProb: 0.7,
  prob: 0.4,
  useContextProb: 0.9,
});
const rec = (sequences: number, loss = 1): MetricsRecord => ({
  sequences,
  step: sequences / 32,
  wallTime: sequences / 1000,
  trainLoss: loss,
  eval: { fsl_train: ev(loss), fsl_val_rl: ev(loss + 0.1) },
  inductionStrength: Array.from({ length: 8 }, (_, h) => h / 10),
  prevTokenScore: Array.from({ length: 8 }, (_, h) => 1 - h / 10),
});

describe('csv', () => {
  test('fields: numbers at full precision, missing values empty, quoting, formula guard', () => {
    assert.equal(csvField(0.1 + 0.2), '0.30000000000000004');
    assert.equal(csvField(-0.5), '-0.5');
    assert.equal(csvField(NaN), '');
    assert.equal(csvField(Infinity), '');
    assert.equal(csvField(null), '');
    assert.equal(csvField(undefined), '');
    assert.equal(csvField(true), 'true');
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('two\nlines'), '"two\nlines"');
    assert.equal(csvField('=cmd()'), "'=cmd()");
    assert.equal(csvField('@x'), "'@x");
    assert.equal(csvField('-12'), '-12');
    assert.equal(csvField('ℓ1'), 'ℓ1');
  });
  test('table: header + CRLF rows; a row of the wrong length throws', () => {
    assert.equal(
      toCsv(
        ['a', 'b'],
        [
          [1, 'x'],
          [2, 'y,z'],
        ],
      ),
      'a,b\r\n1,x\r\n2,"y,z"\r\n',
    );
    assert.equal(toCsv(['a'], []), 'a\r\n');
    assert.throws(() => toCsv(['a', 'b'], [[1]]), /1 fields, header has 2/);
  });
  test('metrics table: one row per record, eval sets and heads as columns', () => {
    const csv = metricsCsv([rec(0, 1.6), rec(1000, 0.7)]);
    const lines = csv.trimEnd().split('\r\n');
    assert.equal(lines.length, 3);
    const header = lines[0].split(',');
    assert.deepEqual(header.slice(0, 5), ['sequences', 'step', 'wallTime', 'trainLoss', 'fsl_train.loss']);
    assert.ok(header.includes('fsl_test_class.loss'));
    assert.ok(header.includes('inductionStrength.L2H7') && header.includes('prevTokenScore.L1H0'));
    const row = lines[2].split(',');
    assert.equal(row[header.indexOf('sequences')], '1000');
    assert.equal(row[header.indexOf('fsl_train.loss')], '0.7');
    assert.equal(row[header.indexOf('fsl_val_rl.loss')], String(0.7 + 0.1));
    assert.equal(row[header.indexOf('fsl_test_class.loss')], '', 'absent eval set is empty');
    assert.equal(row[header.indexOf('inductionStrength.L2H3')], '0.3');
  });
  test('curves table: long format', () => {
    const csv = curvesCsv([
      { cols: { label: 'None' }, xs: [0, 10], ys: [1.6, 0.7] },
      { cols: { label: '1, 2 (layer 1)' }, xs: [0], ys: [1.65] },
    ]);
    assert.equal(csv, 'label,sequences,value\r\nNone,0,1.6\r\nNone,10,0.7\r\n"1, 2 (layer 1)",0,1.65\r\n');
  });
});

describe('steps and keys', () => {
  test('mergeRecords appends in order and replaces a repeated sequences', () => {
    const a = [rec(0), rec(10)];
    assert.deepEqual(
      mergeRecords(a, [rec(20), rec(30)]).map((r) => r.sequences),
      [0, 10, 20, 30],
    );
    const replaced = mergeRecords(a, [rec(10, 0.5), rec(5)]);
    assert.deepEqual(
      replaced.map((r) => r.sequences),
      [0, 5, 10],
    );
    assert.equal(replaced[2].trainLoss, 0.5);
    assert.deepEqual(
      mergeRecords([], [rec(30), rec(10)]).map((r) => r.sequences),
      [10, 30],
    );
    assert.notEqual(mergeRecords(a, []), a, 'returns a copy');
  });
  test('nearest / snap / floor', () => {
    const s = [0, 100, 200, 400];
    assert.equal(nearestIndex(s, 149), 1);
    assert.equal(nearestIndex(s, 151), 2);
    assert.equal(nearestIndex(s, 150), 1, 'ties go to the earlier step');
    assert.equal(nearestIndex(s, -5), 0);
    assert.equal(nearestIndex(s, 1e9), 3);
    assert.equal(nearestIndex([], 3), -1);
    assert.equal(snapStep(s, 290), 200);
    assert.equal(snapStep(s, null), 400);
    assert.equal(snapStep([], 5), null);
    assert.equal(floorStep(s, 399), 200);
    assert.equal(floorStep(s, -1), 0);
    assert.equal(floorStep(s, null), 400);
    assert.deepEqual(uniqueSorted([3, 1, 3, NaN, 2]), [1, 2, 3]);
  });
  test('data-join keys are unique per cell and stable', () => {
    const keys = new Set<string>();
    for (let l = 0; l < 2; l++)
      for (let h = 0; h < 8; h++) for (let q = 0; q < 5; q++) for (let k = 0; k < 5; k++) keys.add(cellKey(l, h, q, k));
    assert.equal(keys.size, 2 * 8 * 5 * 5);
    assert.equal(cellKey(1, 3, 4, 3), cellKey(1, 3, 4, 3));
    assert.notEqual(cellKey(1, 11, 1, 1), cellKey(11, 1, 1, 1));
    assert.notEqual(pointKey('fsl_train', 1000), pointKey('fsl_train', 100));
    assert.equal(new Set(Array.from({ length: 64 }, (_, i) => matrixKey(i >> 3, i & 7))).size, 64);
  });
});

describe('chart hit-testing (pointer → evaluation)', () => {
  // A 0–200k axis on a 200 px plot, an evaluation every 2,000 sequences (the review's side-bar case).
  const xs = Array.from({ length: 101 }, (_, i) => i * 2000);
  const x = scaleLinear().domain([0, 200_000]).range([0, 200]);
  test('the pointer at the pixel of 45k selects the evaluation at 44k or 46k, never one ≈ 46 px right', () => {
    const i = indexAtPixel(xs, x, x(45_000));
    assert.ok(Math.abs(xs[i] - 45_000) <= 2000, `selected ${xs[i]}`);
    for (const target of [0, 1000, 45_000, 123_456, 199_999, 200_000]) {
      const j = indexAtPixel(xs, x, x(target));
      assert.ok(Math.abs(xs[j] - target) <= 1000, `pointer at ${target}: selected ${xs[j]}`);
    }
  });
  test('nearest on screen; ties to the earlier point; outside the plot clamps to the ends', () => {
    assert.equal(indexAtPixel(xs, x, 3), 1, '3 px = 3,000 sequences: tie between 2k and 4k goes to 2k');
    assert.equal(indexAtPixel(xs, x, 3.1), 2);
    assert.equal(indexAtPixel(xs, x, -40), 0);
    assert.equal(indexAtPixel(xs, x, 500), 100);
    assert.equal(indexAtPixel([], x, 10), -1);
    assert.equal(indexAtPixel([5000], x, 190), 0);
  });
  test('on a log axis the match is in pixels, and x = 0 (not placeable) is skipped', () => {
    const lx = scaleLog().domain([1000, 1e6]).range([0, 300]).clamp(false);
    const seq = [0, 1000, 2000, 10_000, 100_000, 1e6];
    assert.equal(seq[indexAtPixel(seq, lx, lx(1500))], 2000, '1.5k: nearer 1k in data, nearer 2k on screen');
    assert.equal(seq[indexAtPixel(seq, lx, lx(1400))], 1000);
    assert.equal(seq[indexAtPixel(seq, lx, lx(1420))], 2000, 'geometric mean of 1k and 2k is 1414');
    assert.equal(seq[indexAtPixel(seq, lx, lx(40_000))], 100_000, 'log: 40k is nearer 100k (geometric mean 31.6k)');
    assert.equal(seq[indexAtPixel(seq, lx, -10)], 1000, 'x = 0 cannot be placed on a log axis');
    assert.equal(indexAtPixel([0], lx, 5), -1);
  });
});

// Colour-vision-deficiency simulation (Machado, Oliveira & Fernandes 2009, severity 1) in linear RGB.
const CVD: Record<string, number[][]> = {
  deuteranopia: [
    [0.367322, 0.860646, -0.227968],
    [0.280085, 0.672501, 0.047413],
    [-0.01182, 0.04294, 0.968881],
  ],
  protanopia: [
    [0.152286, 1.052583, -0.204868],
    [0.114503, 0.786281, 0.099216],
    [-0.003882, -0.048116, 1.051998],
  ],
  tritanopia: [
    [1.255528, -0.076749, -0.178779],
    [-0.078411, 0.930809, 0.147602],
    [0.004733, 0.691367, 0.3039],
  ],
};
const toLin = (u: number) => {
  const x = u / 255;
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
};
const fromLin = (v: number) => {
  const x = Math.min(1, Math.max(0, v));
  return 255 * (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055);
};
function simulate(hex: string, kind: string): string {
  const c = rgb(hex);
  if (!CVD[kind]) return c.formatHex();
  const v = [c.r, c.g, c.b].map(toLin);
  const [r, g, b] = CVD[kind].map((row) => fromLin(row[0] * v[0] + row[1] * v[1] + row[2] * v[2]));
  return rgb(r, g, b).formatHex();
}
const deltaE = (a: string, b: string) => {
  const A = lab(a),
    B = lab(b);
  return Math.hypot(A.l - B.l, A.a - B.a, A.b - B.b);
};
const luminance = (hex: string) => {
  const c = rgb(hex);
  return 0.2126 * toLin(c.r) + 0.7152 * toLin(c.g) + 0.0722 * toLin(c.b);
};
const contrast = (a: string, b: string) => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

describe('series colours', () => {
  const backgrounds = { dark: ['#1e1e1e', '#000000', '#252526'], light: ['#ffffff', '#f3f3f3'] } as const;
  for (const kind of ['dark', 'light'] as const) {
    test(`${kind}: 8 opaque hues, distinct under normal vision and three colour-vision deficiencies`, () => {
      const p = PALETTES[kind];
      assert.equal(new Set(p).size, 8);
      for (const c of p) assert.equal(parseColor(c)?.opacity, 1, `${c} is opaque (charts-orange was rgba(…, 0.33))`);
      for (const vision of ['normal', ...Object.keys(CVD)]) {
        for (let i = 0; i < p.length; i++)
          for (let j = i + 1; j < p.length; j++) {
            const d = deltaE(simulate(p[i], vision), simulate(p[j], vision));
            assert.ok(d >= 14, `${kind} ${vision}: H${i} ${p[i]} and H${j} ${p[j]} differ by ΔE ${d.toFixed(1)}`);
          }
      }
      for (const bg of backgrounds[kind]) {
        for (const c of p) assert.ok(contrast(c, bg) >= 2, `${c} on ${bg}: ${contrast(c, bg).toFixed(2)}:1`);
      }
    });
  }
  test('the theme picks the palette; eval sets keep one colour each; series 9+ repeat hues with a dash', () => {
    assert.equal(seriesColor(1, 'light'), seriesColor(1, 'hc-light'));
    assert.equal(seriesColor(0, 'dark'), PALETTES.dark[0]);
    assert.equal(seriesColor(3, 'light'), PALETTES.light[3]);
    assert.equal(seriesColor(9, 'dark'), seriesColor(1, 'dark'));
    assert.equal(seriesDash(3), undefined);
    assert.ok(seriesDash(9));
    assert.notEqual(evalSetColor('fsl_train', 'dark'), evalSetColor('fsl_val_rl', 'dark'));
    assert.equal(evalSetColor('fsl_val_rl', 'light'), PALETTES.light[1]);
  });
});

describe('domains and colours', () => {
  const m = (kind: (typeof INFLUENCE_KINDS)[number], values: number[][], signed = INFLUENCE_INFO[kind].signed) => ({
    kind,
    values,
    signed,
  });
  test('symmetric and extent domains', () => {
    assert.deepEqual(symmetricDomain([-0.05, 0.2, NaN]), [-0.2, 0.2]);
    assert.deepEqual(symmetricDomain([0, 0], 0.16), [-0.16, 0.16]);
    assert.deepEqual(extentDomain([0.3, 0.1]), [0.1, 0.3]);
    assert.deepEqual(extentDomain([0.5]), [0, 1]);
    assert.deepEqual(extentDomain([], [2, 3]), [2, 3]);
  });
  test('influence: signed kinds symmetric (paper ±0.16, widened, or ±max|v|); unsigned viridis ranges', () => {
    assert.deepEqual(influenceDomain(m('valuePreserving', [[-0.05, 0.02]]), 'paper'), [-0.16, 0.16]);
    assert.deepEqual(
      influenceDomain(m('valuePreserving', [[-0.3, 0.02]]), 'paper'),
      [-0.3, 0.3],
      'never clips silently',
    );
    assert.deepEqual(influenceDomain(m('patternPreserving', [[-0.05, 0.02]]), 'auto'), [-0.05, 0.05]);
    assert.deepEqual(influenceDomain(m('keepOneValue', [[0.4, 0.9]]), 'paper'), [0, 1]);
    assert.deepEqual(influenceDomain(m('keepOneValue', [[0.4, 0.9]]), 'auto'), [0.4, 0.9]);
    assert.deepEqual(influenceDomain(m('compositionK', [[0.1, 0.12]]), 'paper'), [0.09, 0.16]);
    assert.deepEqual(influenceDomain(m('compositionV', [[0.1, 0.2]]), 'paper'), [0.09, 0.2]);
    const d = influenceDomain(m('compositionQ', [[-0.1, 0.05]], true), 'paper');
    assert.equal(d[0], -d[1], 'a kind the host marks signed is symmetric');
  });
  test('metric / sequences domains', () => {
    assert.deepEqual(metricDomain('loss', [0.3, 1.2]), [0, 1.75]);
    assert.deepEqual(metricDomain('loss', [2.1]), [0, 2.25]);
    assert.deepEqual(metricDomain('acc', [0.3]), [0, 1]);
    assert.deepEqual(sequencesDomain(1e6, [0, 5000]), [0, 1e6], 'fixed to the planned length: appends do not rescale');
    assert.deepEqual(sequencesDomain(0, [0, 5000]), [0, 5000]);
    assert.deepEqual(sequencesDomain(0, []), [0, 1]);
    assert.equal(ceilTo(1.5, 0.25), 1.5);
    assert.ok(LN2 < metricDomain('loss', [])[1]);
  });
  test('windowed clamps become bands; whole-run clamps do not (they are a badge)', () => {
    const clamps = [
      { kind: 'ablate', heads: ['L2H0'], from: 100, until: 300 },
      { kind: 'ablate', heads: ['L2H1'] },
      { kind: 'ablate', heads: ['L1H2'], from: 500 },
      { kind: 'ablate', from: 2000 },
      { kind: 'induction', heads: ['L2H3'], strength: 1, from: 0, until: 1000 },
    ];
    const b = clampBands(clamps, 1000);
    assert.deepEqual(
      b.map((x) => [x.x0, x.x1]),
      [
        [100, 300],
        [500, 1000],
      ],
    );
    assert.equal(b[0].label, 'ablate L2H0 [100, 300)');
    assert.equal(b[1].label, 'ablate L1H2 [500, end)');
    assert.deepEqual(wholeRunClamps(clamps, 1000), ['ablate L2H1', 'induction L2H3 (s = 1)']);
  });
  test('RdBu is blue for negative values, viridis runs purple → yellow', () => {
    const d = diverging([-0.16, 0.16]);
    const neg = rgb(d(-0.16)),
      pos = rgb(d(0.16)),
      mid = rgb(d(0));
    assert.ok(neg.b > neg.r, `negative should be blue: ${neg}`);
    assert.ok(pos.r > pos.b, `positive should be red: ${pos}`);
    assert.ok(mid.r > 230 && mid.g > 230 && mid.b > 230, 'zero is near white');
    assert.equal(rgb(d(-1)).toString(), neg.toString(), 'clamped');
    const v = viridis([0, 1]);
    assert.ok(rgb(v(0)).b > rgb(v(0)).g && rgb(v(1)).r > 200 && rgb(v(1)).g > 200);
    assert.equal(textOn(v(0)), '#ffffff');
    assert.equal(textOn(v(1)), '#000000');
  });
});

describe('clamp marks', () => {
  const demo = [
    { kind: 'ablate', heads: ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] },
    { kind: 'induction', heads: ['L2H3'], strength: 0.9 },
  ];
  test('the demo preset: seven ablated heads, the induction head clamped; no "strongest" claim for either', () => {
    const m = headMarks(demo, 5000);
    assert.equal(m.size, 8);
    assert.equal(m.get('L2H0')?.state, 'ablated');
    assert.equal(m.get('L2H3')?.state, 'clamped');
    assert.deepEqual(m.get('L2H3')?.clamps, ['induction L2H3 (s = 0.9)']);
    assert.equal(m.has('L1H2'), false);
    assert.equal(strongestFreeHead([0, 0, 0, 0.8, 0, 0, 0, 0], m), null, 'the clamped L2H3 is not a finding');
    const alone = headMarks([demo[0]], 5000);
    assert.deepEqual(
      strongestFreeHead([0.1, 0.9, 0, 0.5, 0, 0, 0, 0.2], alone),
      { head: 3, value: 0.5 },
      'ablated L2H1 is skipped',
    );
  });
  test('windows: a clamp marks a head only while active; null asks "ever"', () => {
    const c = [
      { kind: 'prev-token', heads: ['L1H2'], strength: 1, until: 60000 },
      { kind: 'ablate', heads: ['L1H2'], from: 80000 },
    ];
    assert.equal(headMarks(c, 1000).get('L1H2')?.state, 'clamped');
    assert.equal(headMarks(c, 70000).has('L1H2'), false, 'released at 60k');
    assert.equal(headMarks(c, 90000).get('L1H2')?.state, 'ablated');
    const ever = headMarks(c, null).get('L1H2')!;
    assert.equal(ever.state, 'ablated', 'ablated outranks clamped');
    assert.deepEqual(ever.clamps, ['prev-token L1H2 (s = 1) [0, 60,000)', 'ablate L1H2 [80,000, end)']);
  });
  test('layer1 replaces every Layer-1 head; copy stores one head; describe', () => {
    const m = headMarks([{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }], 0, 8);
    assert.deepEqual([...m.keys()].filter((k) => k.startsWith('L1')).length, 8);
    assert.equal(m.get('L1H5')?.state, 'replaced');
    assert.equal(m.get('L2H3')?.state, 'clamped');
    assert.equal(
      describeClamp({ kind: 'copy', head: 'L2H3' }),
      'copy from L2H3',
      'the review: the header showed only "copy"',
    );
    assert.equal(describeClamp({ kind: 'match', heads: ['L2H3'], temperature: 0 }), 'match L2H3 (τ = 0)');
  });
  test('short clamp phrases for narrow headers', () => {
    assert.equal(shortClamp(demo[0]), 'ablate Layer 2 but L2H3');
    const all = Array.from({ length: 8 }, (_, h) => `L2H${h}`);
    assert.equal(shortClamp({ kind: 'ablate', heads: all }), 'ablate all of Layer 2');
    assert.equal(
      shortClamp({ kind: 'ablate', heads: ['L1H0', 'L2H1', 'L2H2', 'L2H4'], until: 500 }),
      'ablate 4 heads [0, 500)',
    );
    assert.equal(shortClamp(demo[1]), 'induction L2H3 (s = 0.9)');
    assert.equal(clampSlug(demo), 'ablate7_induction-L2H3', 'clamps in export file names');
    assert.equal(clampSlug([{ kind: 'layer1' }, { kind: 'copy', head: 'L2H3' }]), 'layer1_copy-L2H3');
    const cut = { kind: 'path-patch', sender: 'L1H1', receiver: 'L2H3', input: 'k', with: 'zero' };
    assert.equal(clampSlug([cut]), 'path-patch-L1H1-L2H3-k', 'a path clamp by its edge');
    assert.equal(describeClamp(cut), 'cut K L1H1→L2H3');
    assert.equal(headMarks([cut], null).size, 0, 'a path clamp edits an edge, not a head: no head mark');
  });
  test('stop/resume points: where the trainer restarted its wall clock', () => {
    const rows = [0, 1000, 2000, 3000, 4000].map((sequences, i) => ({ sequences, wallTime: [0, 1, 2, 0.2, 1.1][i] }));
    assert.deepEqual(resumePoints(rows), [3000]);
    assert.deepEqual(resumePoints([{ sequences: 0 }, { sequences: 1 }]), []);
  });
});

describe('attention: typed sequences and aligned averages', () => {
  test('parse "x1 ℓ1 x2 ℓ2 xq": classes, exemplars, which pair matches; errors name the token', () => {
    assert.deepEqual(parseSequenceSpec('12 3 40 1 12'), {
      classes: [12, 40, 12],
      exemplars: [0, 0, 0],
      labels: [3, 1],
      correct: 0,
    });
    assert.deepEqual(parseSequenceSpec(' 12/1, 3, 40/2, 1, 40/3 '), {
      classes: [12, 40, 40],
      exemplars: [1, 2, 3],
      labels: [3, 1],
      correct: 1,
    });
    assert.equal(
      (parseSequenceSpec('5 0 7 1 9') as { correct: unknown }).correct,
      null,
      'the query matches neither pair',
    );
    assert.equal((parseSequenceSpec('5 0 5 1 5') as { correct: unknown }).correct, null, 'both pairs match');
    assert.match(parseSequenceSpec('1 2 3') as string, /5 tokens/);
    assert.match(parseSequenceSpec('1 x 3 4 1') as string, /ℓ1 must be a whole number, got "x"/);
    assert.match(parseSequenceSpec('1/2/3 0 3 1 1') as string, /x1 "1\/2\/3"/);
    assert.match(parseSequenceSpec('1 0 3 7 1', { labels: 5 }) as string, /ℓ2 7 is out of range \(0…4\)/);
    assert.match(parseSequenceSpec('1 0 3000 1 1', { classes: 1623 }) as string, /x2 class 3000 is out of range/);
    assert.equal(formatSequenceSpec(parseSequenceSpec('12/1 3 40 1 12') as never), '12/1 3 40/0 1 12/0');
  });
  test('aligned mean, by hand: an induction head reads .9 / .1, not .5 / .5', () => {
    // Two sequences, one head, T = 5; query rows: answer ℓ1 (c = 0) puts .9 on ℓ1, answer ℓ2 (c = 1) on ℓ2.
    const T = 5,
      p = new Float64Array(2 * T * T);
    const setRow = (b: number, q: number, row: number[]) =>
      row.forEach((v, k) => {
        p[(b * T + q) * T + k] = v;
      });
    const prevToken = (q: number) => Array.from({ length: T }, (_, k) => (k === Math.max(0, q - 1) ? 1 : 0));
    for (let b = 0; b < 2; b++) for (let q = 0; q < 4; q++) setRow(b, q, prevToken(q));
    setRow(0, 4, [0, 0.9, 0, 0.1, 0]);
    setRow(1, 4, [0.02, 0.08, 0, 0.9, 0]);
    const plain = meanPatterns(p, 2, 1, T)[0],
      al = alignedMeanPatterns(p, 2, 1, T, [0, 1])[0];
    assert.deepEqual(
      plain[4].map((v) => +v.toFixed(6)),
      [0.01, 0.49, 0, 0.5, 0],
    );
    assert.deepEqual(
      al[4].map((v) => +v.toFixed(6)),
      [0.01, 0.09, 0, 0.9, 0],
      'x1/ℓ1 of sequence 0 moved to x2/ℓ2 and back',
    );
    assert.deepEqual(al.slice(0, 4), plain.slice(0, 4), 'other rows are not re-indexed (they would break causality)');
    assert.throws(() => alignedMeanPatterns(new Float64Array(9), 1, 1, 3, [0]), /5-token/);
  });
});

describe('compare: runs of different lengths, grouped by condition, distinct names', () => {
  const run = (
    id: string,
    name: string,
    preset: string,
    clamps: Array<{ kind: string; heads?: string[] }>,
    total = 1000,
  ) => ({ id, name, status: 'completed', preset, clamps, totalSequences: total });
  test('x: sequences, optimiser steps, or the fraction of the planned length', () => {
    const r = { totalSequences: 200_000 };
    assert.equal(compareX({ sequences: 50_000, step: 1562 }, r, 'sequences'), 50_000);
    assert.equal(compareX({ sequences: 50_000, step: 1562 }, r, 'steps'), 1562);
    assert.equal(compareX({ sequences: 50_000, step: 1562 }, r, 'fraction'), 0.25);
    assert.equal(
      compareX({ sequences: 500, step: 15 }, { totalSequences: 0 }, 'fraction', 1000),
      0.5,
      'no planned length: the last row',
    );
  });
  test('groups by preset + clamps; seeds of a condition share a hue, each its own dash', () => {
    const runs = [
      run('a', 'demo', 'demo', [{ kind: 'induction', heads: ['L2H3'] }]),
      run('b', 'fast', 'fast', []),
      run('c', 'demo', 'demo', [{ kind: 'induction', heads: ['L2H3'] }]),
    ];
    const g = groupByCondition(runs);
    assert.deepEqual(
      g.map((x) => x.runs.map((r) => r.id)),
      [['a', 'c'], ['b']],
    );
    assert.equal(conditionOf(runs[1]), 'fast · no clamps');
    const st = compareStyles(g);
    assert.deepEqual(
      [st.get('a'), st.get('c'), st.get('b')],
      [
        { color: 0, dash: 0 },
        { color: 0, dash: 1 },
        { color: 1, dash: 0 },
      ],
    );
    assert.deepEqual(
      [...distinctNames(runs).values()],
      ['demo (a)', 'fast', 'demo (c)'],
      'two runs named demo are told apart',
    );
  });
});

describe('subcircuit curves: live, every source, learning times', () => {
  test('a throttle fires while calls keep coming (the old debounce never did)', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      let n = 0;
      const t = throttle(() => {
        n++;
      }, 1000);
      for (let ms = 0; ms < 3000; ms += 100) {
        t();
        mock.timers.tick(100);
      }
      assert.ok(n >= 2 && n <= 3, `fired ${n} times in 3 s of calls every 100 ms`);
      t();
      mock.timers.tick(1000);
      const after = n;
      t.cancel();
      mock.timers.tick(2000);
      assert.equal(n, after, 'cancelled');
    } finally {
      mock.timers.reset();
    }
  });
  test('reads Run Subcircuit Progress and Reproduce fig5b / fig6 runs, with learning times', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-subc-'));
    try {
      const write = (dir: string, losses: number[]) => {
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ id: path.basename(dir), status: 'completed' }));
        const row = (loss: number, i: number) =>
          JSON.stringify({ sequences: i * 1000, step: i * 31, wallTime: i, eval: { fsl_train: { loss } } }) + '\n';
        fs.writeFileSync(path.join(dir, 'metrics.jsonl'), losses.map(row).join(''));
      };
      write(path.join(root, 'subcircuits', 'subcircuits-fast-seed5-perfect_l1'), [1.6, 0.7, 0.2]);
      write(path.join(root, 'subcircuits', 'subcircuits-fast-seed5-perfect_l1_and_copy'), [1.6, 0.5, 0.3]);
      write(path.join(root, 'reproduce', 'fig5b.perfect_prev_tok_attn_single-fast-seed5'), [1.6, 0.69, 0.25]);
      write(path.join(root, 'reproduce', 'fig6.classes100.perfect_match-fast-seed5'), [1.6, 0.1]);
      write(path.join(root, 'reproduce', 'main-fast-seed5'), [1.6]);
      const labels = {
        perfect_l1: { label: '1, 2 (layer 1)', stepsClamped: '1, 2 (layer 1)', stepsLearned: 'B, C' },
        perfect_l1_and_copy: { label: 'B', stepsClamped: 'B', stepsLearned: 'B' },
        perfect_match: { label: 'm', stepsClamped: 'm', stepsLearned: 'C' },
        perfect_prev_tok_attn_single: { label: '1', stepsClamped: '1', stepsLearned: '2, 3, 4, 5' },
      };
      const cs = subcircuitCurves(root, labels, {
        rows: { classes100: '100 classes' },
        columns: { perfect_match: 'Subcircuit C evolution' },
      });
      const by = (src: RegExp) => cs.filter((c) => src.test(c.source ?? ''));
      assert.equal(by(/^Run Subcircuit Progress · fast · seed 5$/).length, 2);
      assert.deepEqual(
        by(/fig5b/).map((c) => [c.label, c.learningTime]),
        [['1', 2000]],
        'the "1" (previous-token) condition appears',
      );
      const f6 = by(/fig6/)[0];
      assert.deepEqual(
        [f6.row, f6.panel, f6.label, f6.learningTime],
        ['100 classes', 'Subcircuit C evolution', '100 classes', 1000],
      );
      assert.equal(
        cs.find((c) => c.runId === 'subcircuits-fast-seed5-perfect_l1_and_copy')?.learningTime,
        null,
        '0.3 > 0.4·ln 2: never learned',
      );
      assert.equal(cs.length, 4, 'main-fast-seed5 is not a subcircuit run');
      assert.equal(curveLearningTime([0, 1, 2], [1, 0.27, 0.1]), 1);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('figure export', () => {
  // A 1×1 PNG (IHDR, IDAT, IEND), as a canvas writes it.
  const tiny = Uint8Array.from(
    Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA' + 'WjR9awAAAABJRU5ErkJggg==',
      'base64',
    ),
  );
  test('PNG: the metadata is an iTXt chunk after IHDR with a valid CRC, UTF-8 intact', () => {
    assert.equal(crc32(new TextEncoder().encode('IEND')), 0xae426082);
    const meta = JSON.stringify({ run: 'demo · L2H3', clamps: ['induction L2H3 (s = 1)'], ℓ: 'ℓ1 → ℓ2' });
    const out = addPngText(tiny, 'induction-lab', meta);
    const chunks = pngChunks(out);
    assert.deepEqual(
      chunks.map((c) => c.type),
      ['IHDR', 'iTXt', 'IDAT', 'IEND'],
    );
    assert.ok(chunks.every((c) => c.crcOk));
    assert.deepEqual(pngTexts(out), { 'induction-lab': meta });
    assert.throws(() => addPngText(tiny, '', 'x'), /keyword/);
  });
  test('white figures swap the dark palette for the light one; JSON carries the metadata', () => {
    const svg =
      '<path style="stroke:rgb(86, 180, 233)"/><text style="fill:rgb(240, 228, 66)"/>' + '<rect fill="rgb(1, 2, 3)"/>';
    assert.equal(
      remapColours(svg, paperColourMap()),
      '<path style="stroke:rgb(0, 114, 178)"/>' + '<text style="fill:rgb(136, 34, 85)"/><rect fill="rgb(1, 2, 3)"/>',
    );
    assert.deepEqual(withMeta({ records: [1] }, { run: 'r' }), { meta: { run: 'r' }, records: [1] });
    assert.deepEqual(withMeta([1, 2], { run: 'r' }), { meta: { run: 'r' }, data: [1, 2] });
    assert.deepEqual(withMeta([1], undefined), [1]);
  });
});

describe('attention requests → the patterns child', () => {
  test('CLI arguments; the checkpoint summary answers only fsl_train #0', () => {
    assert.deepEqual(patternsArgs('/r', 2000, { mode: 'single', evalSet: 'fsl_val_rl', sequenceIndex: 4 }), [
      'patterns',
      '/r',
      '--mode',
      'single',
      '--checkpoint',
      '2000',
      '--eval-set',
      'fsl_val_rl',
      '--sequence',
      '4',
    ]);
    assert.deepEqual(patternsArgs('/r', null, { mode: 'single', custom: '--evil 1 2 3 4' }), [
      'patterns',
      '/r',
      '--mode',
      'single',
      '--custom=--evil 1 2 3 4',
    ]);
    assert.deepEqual(patternsArgs('/r', 0, { mode: 'aligned', evalSet: 'fsl_train', sequenceIndex: 3 }), [
      'patterns',
      '/r',
      '--mode',
      'aligned',
      '--checkpoint',
      '0',
      '--eval-set',
      'fsl_train',
    ]);
    assert.ok(summaryAnswers({ mode: 'single' }));
    assert.ok(!summaryAnswers({ mode: 'single', sequenceIndex: 1 }));
    assert.ok(!summaryAnswers({ mode: 'aligned' }));
    assert.ok(!summaryAnswers({ mode: 'single', custom: '1 2 3 4 1' }));
  });
});

describe('log x and smoothing', () => {
  test('log axis: starts at the first positive x, cannot place 0, maps decades evenly', () => {
    assert.deepEqual(logDomain([0, 1e6], [0, 1000, 2000, 5e5]), [1000, 1e6]);
    assert.deepEqual(logDomain([0, 0], []), [1, 10]);
    const ax = makeXAxis('log', [0, 1e6], 300, [0, 1000, 1e6]);
    assert.equal(ax(1000), 0);
    assert.equal(ax(1e6), 300);
    assert.ok(Math.abs(ax(31622.7766) - 150) < 1e-6, 'the geometric mean sits in the middle');
    assert.ok(Number.isNaN(ax(0)) && !ax.places(0) && ax.places(1));
    const lin = makeXAxis('linear', [0, 1e6], 300);
    assert.equal(lin(5e5), 150);
    assert.ok(lin.places(0));
  });
  test('log ticks: 1-2-5 per decade when they fit, else powers of ten', () => {
    assert.deepEqual(logTicks([1000, 1e6], 600), [1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6]);
    assert.deepEqual(logTicks([1000, 1e6], 230), [1000, 1e4, 1e5, 1e6]);
    assert.deepEqual(logTicks([3000, 4000], 300), [3000, 4000], 'no tick inside: the ends');
  });
  test('EMA smoothing as TensorBoard: debiased, weight 0 is the identity, NaN passes through', () => {
    assert.deepEqual(emaSmooth([1, 2, 3], 0), [1, 2, 3]);
    const s = emaSmooth([2, 2, 2, 2], 0.9);
    for (const v of s) assert.ok(Math.abs(v - 2) < 1e-12, 'a constant stays constant (debiased, not pulled to 0)');
    // Hand computation, w = 0.5: m1 = .5, ŷ1 = .5/.5 = 1; m2 = .25 + 1.5 = 1.75, ŷ2 = 1.75/.75; NaN skipped;
    // m3 = .875 + .5·5 = 3.375, ŷ3 = 3.375/.875.
    const t = emaSmooth([1, 3, NaN, 5], 0.5);
    assert.equal(t[0], 1);
    assert.ok(Math.abs(t[1] - 1.75 / 0.75) < 1e-12);
    assert.ok(Number.isNaN(t[2]));
    assert.ok(Math.abs(t[3] - 3.375 / 0.875) < 1e-12);
  });
});

describe('formats and layouts', () => {
  test('formats', () => {
    assert.equal(fmtSeqShort(0), '0');
    assert.equal(fmtSeqShort(250000), '250k');
    assert.equal(fmtSeqShort(1500000), '1.5M');
    assert.equal(fmtValue(NaN), '–');
    assert.equal(fmtValue(0.1234), '0.123');
    assert.equal(fmtCell(-0.001), '0.00');
    assert.equal(fmtCell(0.456), '0.46');
    assert.equal(fileStem('my run/1', 'loss', undefined, 'seq100'), 'my_run_1-loss-seq100');
    assert.deepEqual(wrapText('a bb ccc dddd', 6), ['a bb', 'ccc', 'dddd']);
  });
  test('attention grid fits the width and cells do not overlap', () => {
    for (const width of [320, 520, 900, 1600]) {
      const L = attentionLayout(width, 2, 8, 5);
      assert.ok(L.cell >= 8 && L.cell <= 26);
      if (width >= 520) assert.ok(L.width <= width, `width ${width}: grid ${L.width}`);
      const boxes = [];
      for (let l = 0; l < 2; l++)
        for (let h = 0; h < 8; h++) {
          const p = L.position(l, h);
          const x0 = p.firstInRow ? p.x + L.labelW : p.x;
          boxes.push([x0, p.y, x0 + 5 * L.cell, p.y + 5 * L.cell]);
        }
      for (let i = 0; i < boxes.length; i++)
        for (let j = i + 1; j < boxes.length; j++) {
          const [a, b] = [boxes[i], boxes[j]];
          assert.ok(
            a[2] <= b[0] || b[2] <= a[0] || a[3] <= b[1] || b[3] <= a[1],
            `width ${width}: heatmaps ${i} and ${j} overlap`,
          );
        }
      assert.ok(L.height >= L.position(1, 7).y + 5 * L.cell);
    }
    assert.equal(attentionLayout(900, 2, 8, 5).perRow, 8);
    assert.equal(attentionLayout(400, 2, 8, 5).perRow, 4);
    assert.equal(gridColumns(900, 210, 4), 4);
    assert.equal(gridColumns(100, 210, 4), 1);
  });
  test('subcircuit curves group into panels × rows', () => {
    const c = (label: string, stepsLearned: string, panel?: string, row?: string) => ({
      label,
      stepsClamped: 'x',
      stepsLearned,
      xs: [0],
      ys: [1],
      panel,
      row,
    });
    const g = groupCurves([
      c('50', 'B', 'Subcircuit B evolution', '# classes'),
      c('100', 'B', 'Subcircuit B evolution', '# classes'),
      c('50', 'C', 'Subcircuit C evolution', '# classes'),
      c('5', 'C', 'Subcircuit C evolution', '# labels'),
    ]);
    assert.deepEqual(g.rows, ['# classes', '# labels']);
    assert.deepEqual(g.panels, ['Subcircuit B evolution', 'Subcircuit C evolution']);
    assert.equal(g.cell('# classes', 'Subcircuit B evolution').length, 2);
    assert.equal(g.cell('# labels', 'Subcircuit B evolution').length, 0);
    assert.deepEqual(g.labels('# classes'), ['50', '100']);
    assert.deepEqual(groupCurves([c('None', 'all')]).panels, ['all'], 'stepsLearned when no panel');
  });
});

describe('state and run choice', () => {
  test('restoreState keeps saved values of the right type only', () => {
    const d = { step: null as number | null, kind: 'all', values: true, hidden: [] as string[] };
    assert.deepEqual(restoreState(d, undefined), d);
    assert.deepEqual(restoreState(d, { step: 5000, kind: 'compositionK', values: false, hidden: ['a'], junk: 1 }), {
      step: 5000,
      kind: 'compositionK',
      values: false,
      hidden: ['a'],
    });
    assert.deepEqual(restoreState(d, { step: 'x', kind: 3, values: 'no', hidden: 'a' }), { ...d, step: 'x' });
    assert.deepEqual(restoreState(d, { step: null }), d);
  });
  test('chooseRun: a newly announced host run wins, else the saved one', () => {
    const runs = [{ id: 'a' }, { id: 'b' }, { id: 'c' }].map((r) => ({
      ...r,
      name: r.id,
      status: 'completed',
      clamps: [],
      totalSequences: 1,
    }));
    assert.deepEqual(chooseRun(runs, '', 'b', ''), { runId: 'b', lastActive: 'b' });
    assert.deepEqual(
      chooseRun(runs, 'c', 'b', 'b'),
      { runId: 'c', lastActive: 'b' },
      'user picked c after b was announced',
    );
    assert.deepEqual(chooseRun(runs, 'c', 'a', 'b'), { runId: 'a', lastActive: 'a' }, 'a new run was announced');
    assert.equal(chooseRun(runs, 'gone', undefined, '').runId, 'a');
    assert.equal(chooseRun([], 'x', undefined, '').runId, '');
  });
});

describe('panels restored after Reload Window', () => {
  const runs = ['fig5b.noclamp-1', 'demo-2', 'demo-3'].map((id) => ({
    id,
    name: id,
    status: 'completed',
    clamps: [],
    totalSequences: 1,
  }));
  // What the influence view saves (restoreState of its defaults with a run) is what the host reads back.
  const saved = restoreState(
    { runId: '', step: null as number | null, kind: 'all', range: 'paper', values: true },
    { runId: 'demo-2', step: 20000 },
  );
  test('the influence panel keeps its own run, not the run started last', () => {
    assert.deepEqual(restorePanel('influence', saved, runs, 'fig5b.noclamp-1'), { runId: 'demo-2' });
    assert.deepEqual(restorePanel('attention', { runId: 'demo-3', mode: 'single' }, runs, 'demo-2'), {
      runId: 'demo-3',
    });
    assert.deepEqual(restorePanel('paths', { runId: 'demo-3', corruption: 'matched' }, runs, 'demo-2'), {
      runId: 'demo-3',
    });
  });
  test('a state without a run (older versions) or with a deleted run falls back to the active run and says so', () => {
    const old = restorePanel(
      'influence',
      { step: 20000, kind: 'all', range: 'paper', values: true },
      runs,
      'fig5b.noclamp-1',
    );
    assert.equal(old.runId, 'fig5b.noclamp-1');
    assert.match(old.notice ?? '', /restored without a saved run: showing the active run, fig5b\.noclamp-1/);
    const gone = restorePanel('influence', { runId: 'deleted-9' }, runs, 'demo-3');
    assert.equal(gone.runId, 'demo-3');
    assert.match(gone.notice ?? '', /deleted-9 is gone/);
    assert.match(restorePanel('attention', undefined, [], undefined).notice ?? '', /showing no run/);
  });
  test('compare keeps its runs (minus deleted ones); subcircuits needs none', () => {
    assert.deepEqual(
      restorePanel('compare', { runIds: ['demo-3', 'gone', 'demo-2'], metric: 'loss' }, runs, undefined),
      { runIds: ['demo-3', 'demo-2'] },
    );
    assert.deepEqual(restorePanel('compare', {}, runs, 'demo-2'), { runIds: [] });
    assert.deepEqual(restorePanel('subcircuits', { runId: 'x' }, runs, 'demo-2'), {});
  });
  test('panelIdentity drops malformed state', () => {
    assert.deepEqual(panelIdentity(null), {});
    assert.deepEqual(panelIdentity([1]), {});
    assert.deepEqual(panelIdentity({ runId: 3, runIds: ['a', 4, ''] }), { runIds: ['a'] });
    assert.deepEqual(panelIdentity({ runId: '' }), {});
  });
});

describe('selected steps per run (host)', () => {
  test('a new run starts at latest; each run keeps its own step; multi-run views have their own cursor', () => {
    const st = new SelectedSteps();
    st.select('old', 6016);
    assert.equal(st.of('new'), null, "the review: a new run inherited the old run's 6,016");
    assert.deepEqual(
      st.messagesFor('dashboard', () => true),
      [{ type: 'step', runId: 'old', sequences: 6016 }],
    );
    assert.deepEqual(
      st.messagesFor('attention', (id) => id === 'new'),
      [],
    );
    st.select(undefined, 40000);
    assert.equal(st.of('old'), 6016);
    assert.deepEqual(
      st.messagesFor('compare', () => true),
      [{ type: 'step', sequences: 40000 }],
    );
  });
  test("a restored view's saved step is adopted unless one was chosen in this session", () => {
    const st = new SelectedSteps();
    st.adopt('a', 20000);
    assert.equal(st.of('a'), 20000);
    st.select('b', 1000);
    st.adopt('b', 5000);
    assert.equal(st.of('b'), 1000);
    st.adopt('a', 30000);
    assert.equal(st.of('a'), 20000, 'the first restored view wins');
  });
});

describe('the shared step of the over-training views (influence, paths, LLC)', () => {
  /** A follower of run "r" whose every effect is logged in order. */
  const setup = (step: number | null) => {
    const log: string[] = [];
    const state = {
      value: { step },
      update(p: { step: number | null }) {
        this.value = { ...this.value, ...p };
        log.push(`save ${p.step}`);
      },
    };
    const f = followStep(state, {
      runId: () => 'r',
      render: () => log.push(`render at ${state.value.step}`),
      move: (x) => log.push(`thumb ${x}`),
      share: (x, final) => log.push(`share ${x} ${final ? 'final' : 'dragging'}`),
    });
    return { f, log, state };
  };
  test("the host's broadcast step: adopted for this run when new; other runs', repeats and cursors are not", () => {
    const { f, log, state } = setup(1000);
    assert.equal(f.handle({ type: 'step', runId: 'r', sequences: 4000 }), true);
    assert.deepEqual(log, ['save 4000', 'thumb 4000', 'render at 4000'], 'saved, thumb moved, redrawn; not re-shared');
    log.length = 0;
    assert.equal(f.handle({ type: 'step', runId: 'r', sequences: 4000 }), true);
    assert.equal(f.handle({ type: 'step', runId: 'other', sequences: 9000 }), true);
    assert.equal(f.handle({ type: 'step', sequences: 9000 }), true, "a multi-run view's cursor");
    assert.deepEqual(log, []);
    assert.equal(state.value.step, 4000);
    assert.equal(f.handle({ type: 'status', message: 'hi', level: 'info' }), false, "other messages are the view's");
    assert.equal(f.handle({ type: 'step', runId: 'r', sequences: null }), true);
    assert.deepEqual(log, ['save null', 'thumb null', 'render at null'], 'back to following the latest');
  });
  test('a checkpoint chosen here is saved, drawn and shared; a pick off the slider moves the thumb too', () => {
    const { f, log } = setup(null);
    f.chosen(2000, false);
    assert.deepEqual(log, ['save 2000', 'render at 2000', 'share 2000 dragging']);
    log.length = 0;
    f.pick(3000);
    assert.deepEqual(log, ['thumb 3000', 'save 3000', 'render at 3000', 'share 3000 final']);
  });
});

describe('webview protocol guards', () => {
  const run = {
    id: 'r1',
    name: 'main',
    status: 'running',
    preset: 'paper',
    clamps: [{ kind: 'ablate', heads: ['L2H0'], from: 0, until: 10 }],
    backend: 'cpu',
    totalSequences: 1e6,
    checkpoints: [0, 1000],
  };
  const layers = [0, 1].map(() => Array.from({ length: 8 }, () => Array.from({ length: 5 }, () => [1, 0, 0, 0, 0])));
  const matrix = {
    runId: 'r1',
    sequences: 0,
    kind: 'valuePreserving',
    rows: ['L2H0'],
    cols: ['L1H0'],
    values: [[0.1]],
    signed: true,
    formula: 'f',
  };
  const good: ToWebviewMessage[] = [
    { type: 'runs', runs: [run], activeRunId: 'r1' },
    { type: 'metrics', runId: 'r1', records: [rec(0)] },
    { type: 'metricsAppend', runId: 'r1', records: [rec(10)] },
    { type: 'step', sequences: 1000 },
    { type: 'step', sequences: null },
    {
      type: 'patterns',
      patterns: { runId: 'r1', sequences: 0, mode: 'average', tokens: ['x1', 'ℓ1', 'x2', 'ℓ2', 'xq'], layers },
      inReplyTo: 3,
    },
    { type: 'influence', runId: 'r1', matrices: [matrix as never] },
    {
      type: 'subcircuits',
      data: { curves: [{ label: 'None', stepsClamped: 'None', stepsLearned: 'A, B, C', xs: [0, 1], ys: [1.6, NaN] }] },
    },
    { type: 'exportResult', ok: true, path: '/tmp/x.png', inReplyTo: 1 },
    { type: 'status', level: 'info', message: 'hi' },
  ];
  test('valid host → webview messages pass', () => {
    for (const m of good) assert.ok(isToWebviewMessage(m), m.type);
  });
  test('invalid host → webview messages fail', () => {
    const bad: unknown[] = [
      null,
      'runs',
      { type: 'nope' },
      { type: 'toString' },
      { type: 'runs', runs: [{ id: 1 }] },
      { type: 'step', sequences: -1 },
      { type: 'step', sequences: 'x' },
      { type: 'metrics', runId: 'r', records: [{}] },
      { type: 'patterns', patterns: { runId: 'r', sequences: 0, mode: 'both', tokens: [], layers: [] } },
      { type: 'influence', runId: 'r', matrices: [{ ...matrix, kind: 'other' }] },
      {
        type: 'subcircuits',
        data: { curves: [{ label: 'a', stepsClamped: '', stepsLearned: '', xs: [0, 1], ys: [1] }] },
      },
      { type: 'status', level: 'loud', message: 'x' },
    ];
    for (const m of bad) assert.equal(isToWebviewMessage(m), false, JSON.stringify(m));
  });
  test('webview → host messages', () => {
    const ok: FromWebviewMessage[] = [
      ...VIEW_NAMES.map((view) => ({ type: 'ready' as const, view })),
      { type: 'selectStep', sequences: 5000 },
      { type: 'selectStep', sequences: null },
      { type: 'requestPatterns', runId: 'r1', sequences: 5000, mode: 'single', requestId: 2 },
      { type: 'requestPatterns', runId: 'r1', sequences: null, mode: 'average' },
      { type: 'requestInfluence', runId: 'r1', kind: 'compositionQ' },
      { type: 'export', format: 'png', fileName: 'a.png', data: 'iVBOR' },
      { type: 'openRun', runId: 'r1' },
      { type: 'computeOverTraining', runId: 'r1' },
    ];
    for (const m of ok) assert.ok(isFromWebviewMessage(m), JSON.stringify(m));
    for (const m of [
      { type: 'ready', view: 'other' },
      { type: 'export', format: 'gif', fileName: 'a', data: '' },
      { type: 'export', format: 'csv', fileName: '', data: 'a' },
      { type: 'requestPatterns', runId: 'r', sequences: 1, mode: 'x' },
      { type: 'openRun' },
      { type: 'selectStep' },
      { type: 'runs', runs: [] },
      { type: 'computeOverTraining' },
    ]) {
      assert.equal(isFromWebviewMessage(m), false, JSON.stringify(m));
    }
  });
  test('legends and kinds', () => {
    assert.equal(EVAL_SET_LEGENDS.fsl_test_class, 'test (exemplars)');
    assert.equal(EVAL_SET_LEGENDS.fsl_val_rl, 'test (relabel)');
    // 4 influence matrices, 3 composition scores, the remove-one / keep-one head ablations.
    assert.equal(INFLUENCE_KINDS.length, 8);
    for (const k of INFLUENCE_KINDS) assert.ok(INFLUENCE_INFO[k].formula.length > 10, k);
  });
});

describe('html shell', () => {
  test('CSP with nonce, nonce on the script, escaped title', () => {
    const nonce = createNonce();
    assert.match(nonce, /^[A-Za-z0-9]{32}$/);
    assert.notEqual(createNonce(), nonce);
    const html = webviewHtml({
      cspSource: 'vscode-resource:',
      nonce,
      scriptUri: 'https://x/out/webview/dashboard.view.js',
      styleUri: 'https://x/media/webview.css',
      title: 'Run <dash> & "co"',
    });
    assert.ok(html.includes(escapeHtml(contentSecurityPolicy('vscode-resource:', nonce))));
    assert.match(
      html,
      /default-src &#39;none&#39;; script-src &#39;nonce-[A-Za-z0-9]{32}&#39;; style-src vscode-resource: &#39;unsafe-inline&#39;; img-src vscode-resource: data:/,
    );
    assert.ok(html.includes(`<script nonce="${nonce}" src="https://x/out/webview/dashboard.view.js"></script>`));
    assert.ok(html.includes('<title>Run &lt;dash&gt; &amp; &quot;co&quot;</title>'));
    assert.ok(!/\son[a-z]+=/.test(html), 'no inline event handlers');
    assert.equal((html.match(/<script/g) ?? []).length, 1);
  });
  test('rejects a weak nonce', () => {
    assert.throws(
      () => webviewHtml({ cspSource: 'x', nonce: 'abc', scriptUri: 's', styleUri: 's', title: 't' }),
      /nonce/,
    );
    assert.throws(
      () =>
        webviewHtml({
          cspSource: 'x',
          nonce: "a' 'unsafe-eval' 'x1234567890",
          scriptUri: 's',
          styleUri: 's',
          title: 't',
        }),
      /nonce/,
    );
  });
});
