import { makeLabelScheme } from './labels';
import { TaskData } from './sampler';
import { makeStandIn } from './standIn';
import { cachedBank } from './bankCache';
import type { DataConfig, FeatureBank } from './types';

/**
 * The last synthetic banks made or read in this process, by their options: a stand-in costs ≈ 1 s of CPU to make
 * (so other processes read it from the disk cache of bankCache.ts) and one process often asks for the same one
 * again (a measure per checkpoint, a sweep's evaluation, the tests). Banks are read-only everywhere, so sharing
 * one is safe.
 */
const madeBanks = new Map<string, FeatureBank>();
const MADE_BANKS_KEPT = 2;

/** Features for a config: a §1.5 synthetic stand-in (`data.standIn`), or a [classes, exemplars, dim] tensor from a file. */
export async function loadFeatureBank(cfg: DataConfig): Promise<FeatureBank> {
  if (cfg.features === 'synthetic') {
    const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
    const opts = {
      // The paper's 1623 × 5, or more if the splits ask for it.
      classes: Math.max(1623, sum(cfg.classSplit)),
      exemplars: Math.max(5, sum(cfg.exemplarSplit)),
      dim: 512,
      seed: cfg.featureSeed,
      classScale: cfg.classScale,
      exemplarNoise: cfg.exemplarNoise,
    };
    const key = JSON.stringify([cfg.standIn, opts]);
    let bank = madeBanks.get(key);
    if (!bank) {
      bank = cachedBank([cfg.standIn, opts], () => makeStandIn(cfg.standIn, opts));
      if (madeBanks.size >= MADE_BANKS_KEPT) madeBanks.delete(madeBanks.keys().next().value!);
    } else madeBanks.delete(key);
    madeBanks.set(key, bank);
    return bank;
  }
  // Loaded lazily so the synthetic path (and the webview bundle) never pulls in file IO.
  const { readFeatureFile } = await import('../io/featureFile');
  const { shape, data } = await readFeatureFile(cfg.features, cfg.featuresKey);
  if (shape.length !== 3) {
    throw new Error(
      `Features in ${cfg.features} have shape [${shape.join(', ')}]; expected rank 3 [classes, exemplars, dim]`,
    );
  }
  const [classes, exemplars, dim] = shape;
  if (data.length !== classes * exemplars * dim) {
    throw new Error(`Features in ${cfg.features}: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  }
  const key = cfg.featuresKey ? ` (${cfg.featuresKey})` : '';
  return { classes, exemplars, dim, data, source: `${cfg.features}${key}` };
}

/**
 * Builds the task (features, label scheme, splits) for a config. With `model`, the features' width is
 * checked against `model.inputDim` here, naming the file and the setting, rather than at the first step.
 */
export async function loadTaskData(cfg: DataConfig, model?: { inputDim: number }): Promise<TaskData> {
  const bank = await loadFeatureBank(cfg);
  if (model && bank.dim !== model.inputDim) {
    const what = cfg.features === 'synthetic' ? 'the synthetic features have' : `features in ${bank.source} have`;
    throw new Error(
      `${what} ${bank.dim} values per exemplar but model.inputDim is ${model.inputDim}: set model.inputDim to ${bank.dim}`,
    );
  }
  const labels = makeLabelScheme(cfg.numLabels, cfg.labelSplit, cfg.labelSplitSeed);
  return new TaskData(bank, cfg, labels);
}
