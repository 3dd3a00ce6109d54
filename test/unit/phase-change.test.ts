/**
 * One real training run at the fast preset (lr 1e-4, seed 5, all eight Layer-2 heads, the synthetic
 * stand-in data): the loss must sit on the ln 2 plateau (the model picks one of the two context labels
 * at chance), then leave it abruptly while the induction strength of Layer-2 heads rises — the phase
 * change of spec §7.1 / §9.4. Nothing here is hard-coded: thresholds are the phenomenon's definition.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveRunConfig } from '../../src/engine/train/runConfig';
import { presetConfig } from '../../src/engine/science/presets';
import { runTraining } from '../../src/engine/train/trainer';
import { RunDir } from '../../src/engine/io';
import type { MetricsRecord } from '../../src/shared/protocol';

const LN2 = Math.log(2);

test(
  'the fast preset leaves the ln 2 plateau with a phase change and induction heads form',
  { timeout: 900_000 },
  async () => {
    const base = presetConfig('fast');
    const cfg = resolveRunConfig(
      { train: { sequences: 128_000, evalEvery: 8000, checkpointEvery: 0 }, data: { evalSize: 300 } },
      base,
    );
    const dir = RunDir.create(fs.mkdtempSync(path.join(os.tmpdir(), 'il-phase-')), 'fast');
    await runTraining(cfg, dir, { emit: () => {}, shouldStop: () => false });
    const rows = dir.readMetrics<MetricsRecord>();
    const loss = (r: MetricsRecord) => r.eval.fsl_train.loss;
    const maxIS = (r: MetricsRecord) => Math.max(...r.inductionStrength);
    const summary = rows.map((r) => `${r.sequences}: loss ${loss(r).toFixed(3)} IS ${maxIS(r).toFixed(2)}`).join('\n');

    assert.ok(loss(rows[0]) > 1.5, `initial loss near ln 5 or above:\n${summary}`);
    // The plateau: at least two consecutive evaluations near ln 2 with chance in-context accuracy and no induction head yet.
    const plateau = rows.filter(
      (r) => Math.abs(loss(r) - LN2) < 0.12 && r.eval.fsl_train.inContextAcc < 0.65 && maxIS(r) < 0.15,
    );
    assert.ok(plateau.length >= 2, `a plateau near ln 2:\n${summary}`);
    const last = rows[rows.length - 1];
    assert.ok(loss(last) < 0.4 * LN2, `left the plateau (loss below 0.4·ln 2):\n${summary}`);
    assert.ok(last.eval.fsl_train.acc > 0.9, `accuracy above 0.9:\n${summary}`);
    assert.ok(maxIS(last) > 0.4, `an induction head formed:\n${summary}`);
    // Abrupt: the drop from the plateau to below 0.4·ln 2 takes a small fraction of the time spent on the plateau.
    const lastPlateau = plateau[plateau.length - 1].sequences;
    const firstLearned = rows.find((r) => loss(r) < 0.4 * LN2)!.sequences;
    assert.ok(
      firstLearned - lastPlateau <= lastPlateau,
      `the drop (${lastPlateau} → ${firstLearned}) is short compared with the plateau:\n${summary}`,
    );
  },
);
