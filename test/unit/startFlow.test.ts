/**
 * The pure half of the start flow (src/extension/startFlowModel.ts): the focused defaults, preset groups,
 * the confirm step's one-clamp-per-line list, the engine's verdict shown inline, and the checkpoint schedules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PRESET, presetNames, resolvePreset } from '../../src/engine/science/presets';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { normalizeClamps, parseClampFlag } from '../../src/engine/clamps/spec';
import { plannedCheckpoints } from '../../src/engine/train/checkpointSchedule';
import { DEFAULT_MODEL_CONFIG } from '../../src/engine/model/config';
import {
  cadenceCount,
  checkpointChoices,
  clampInputError,
  clampLines,
  denseEarlySchedule,
  focusName,
  groupPresets,
  headRole,
  judgeClamps,
  withStartSettings,
  wrapText,
} from '../../src/extension/startFlowModel';

const C = DEFAULT_MODEL_CONFIG;

test('step 1 focuses the default preset (demo), not the first row (paper); a stale setting falls back to the first', () => {
  const names = presetNames('fast').map((p) => p.name);
  assert.equal(names[0], 'paper', 'the first row is not the default: focusing by order alone would pick paper');
  assert.equal(DEFAULT_PRESET, 'demo');
  assert.equal(focusName(names, DEFAULT_PRESET), 'demo');
  assert.equal(focusName(names, 'no-such-preset'), 'paper');
});

test('presets and figure conditions are two groups, every preset in exactly one', () => {
  const all = presetNames('fast');
  const g = groupPresets(all);
  assert.deepEqual(
    g.map((x) => x.title),
    ['Presets', 'Figure conditions'],
  );
  assert.deepEqual(
    g[0].presets.map((p) => p.name),
    ['paper', 'fast', 'demo', 'smoke'],
  );
  assert.ok(g[1].presets.some((p) => p.name === 'fig5b.noclamp'));
  assert.equal(g[0].presets.length + g[1].presets.length, all.length);
});

test('the head pickers say what a head already does under the clamps so far', () => {
  const demo = resolvePreset('demo', 'fast').clamps;
  assert.equal(headRole('L2H0', demo), 'ablated');
  assert.equal(headRole('L2H3', demo), undefined);
  const more = normalizeClamps(
    [
      { kind: 'ablate', heads: ['L1H1'], until: 5000 },
      { kind: 'prev-token', heads: ['L1H2'] },
    ],
    C,
  );
  assert.equal(headRole('L1H1', more), 'ablated [0, 5000)');
  assert.equal(headRole('L1H2', more), 'prev-token clamp');
});

test('the confirm step lists one clamp per line with its window, and the refusal of a clamp on an ablated head', () => {
  const demo = resolvePreset('demo', 'fast').clamps;
  const ok = judgeClamps([...demo, { kind: 'induction', heads: ['L2H3'], strength: 1, until: 60000 }], C);
  assert.equal(ok.error, undefined);
  assert.deepEqual(clampLines(ok.clamps!), [
    'ablate L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7',
    'induction L2H3 (s = 1) [0, 60000)',
  ]);
  assert.deepEqual(clampLines([]), ['no clamps']);
  const bad = judgeClamps([...demo, { kind: 'induction', heads: ['L2H0'], strength: 1 }], C);
  assert.equal(bad.clamps, undefined);
  assert.match(
    bad.error!,
    /^head L2H0 is zero-ablated by "ablate L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7", so "induction L2H0/,
  );
  const warn = judgeClamps([{ kind: 'induction', heads: ['L1H2'], strength: 1 }], C);
  assert.ok(warn.clamps);
  assert.equal(warn.warnings.length, 1);
});

test('long messages wrap into rows at spaces, losing no word', () => {
  const msg =
    'head L2H0 is zero-ablated by "ablate L2H0,L2H1,L2H2,L2H4,L2H5,L2H6,L2H7", so "induction L2H0 (s = 1)" would clamp a head whose output is 0';
  const rows = wrapText(msg, 40);
  assert.ok(rows.length > 1);
  assert.ok(rows.every((r) => r.length <= 40 || !r.includes(' ')));
  assert.equal(rows.join(' '), msg);
  assert.deepEqual(wrapText('', 10), []);
});

test('dense-early schedule: 0 and the end, log-spaced early, linear after, on batch boundaries, increasing', () => {
  const s = denseEarlySchedule(160_000, 32);
  assert.equal(s[0], 0);
  assert.equal(s.at(-1), 160_000);
  assert.ok(s.every((x, i) => x % 32 === 0 && (i === 0 || x > s[i - 1])));
  // At least 8 checkpoints in the first tenth (the plateau and phase change of a fast run), ≥ 20 in all.
  assert.ok(s.filter((x) => x > 0 && x <= 16_000).length >= 8, JSON.stringify(s));
  assert.ok(s.length >= 25 && s.length <= 40, `${s.length}`);
  assert.equal(cadenceCount(160_000, 20_000), 8);
  assert.equal(cadenceCount(3200, 1000), 4);
  assert.equal(cadenceCount(3200, 0), 1);
});

test("the schedule choice: the preset's own, or dense early + linear as an explicit train.checkpoints list", () => {
  const t = resolvePreset('demo', 'fast').train;
  const [preset, list] = checkpointChoices(t);
  assert.deepEqual(preset.train, {});
  // demo's own schedule (train.checkpoints): its planned checkpoints, the loss-driven ones come on top.
  assert.equal(preset.count, 18);
  assert.match(preset.label, /^the preset's \(0 \+ 10 log-spaced \+ 9 linear \+ where the loss moves ≥ 0\.05\)$/);
  assert.deepEqual(list.train, { checkpoints: denseEarlySchedule(t.sequences, t.batchSize) });
  // The list is a config the engine accepts, and plans exactly those checkpoints.
  const cfg = resolveRunConfig({ train: list.train }, resolvePreset('demo', 'fast'));
  assert.deepEqual(plannedCheckpoints(cfg.train), list.train.checkpoints);
  const cadence = checkpointChoices({ ...t, checkpoints: undefined, checkpointEvery: 20_000 })[0];
  assert.deepEqual([cadence.label, cadence.count], ["the preset's cadence (every 20,000)", 8]);
});

test("settings reach a new run's config (engine, TF.js backend, eval cadence, TensorBoard) unless it says", () => {
  const s = { engine: 'auto', backend: 'wasm', evalEvery: 0, tensorboard: false };
  assert.deepEqual(withStartSettings({ clamps: [] }, s), {
    clamps: [],
    train: { backend: 'wasm', tensorboard: false },
  });
  const own = { train: { tensorboard: true, backend: 'cpu' } };
  assert.deepEqual(withStartSettings(own, { ...s, engine: 'fast', evalEvery: 500 }), {
    train: { tensorboard: true, backend: 'cpu', engine: 'fast', evalEvery: 500 },
  });
  // The engine accepts what the settings write.
  const cfg = resolveRunConfig(withStartSettings({}, s), resolvePreset('smoke', 'fast'));
  assert.equal(cfg.train.tensorboard, false);
});

test("a custom clamp's error reads as the short form typed, without the config path", () => {
  assert.equal(
    clampInputError('clamps[0]: unknown clamp kind "foo" (known: ablate)'),
    'unknown clamp kind "foo" (known: ablate)',
  );
  assert.equal(
    clampInputError('clamps[0].strength must be a number in [0, 1], got 2'),
    'strength must be a number in [0, 1], got 2',
  );
  const head = 'unknown head "L2H9": each layer has 8 heads (H0…H7)';
  assert.equal(clampInputError(head), head);
  // What the engine says for real input.
  const msg = (t: string) => {
    try {
      parseClampFlag(t, { depth: 2, numHeads: 8, contextLen: 2 });
      return '';
    } catch (e) {
      return clampInputError((e as Error).message);
    }
  };
  assert.match(msg('induction:L2H3@2'), /^strength must be a number in \[0, 1\]/);
  assert.match(msg('foo:L2H3'), /^unknown clamp kind "foo"/);
});
