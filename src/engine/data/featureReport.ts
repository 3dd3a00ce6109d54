/**
 * `induction-lab features`: the properties (featureStats.ts) of each synthetic stand-in and of any feature
 * file, side by side, so a stand-in can be judged against real features (spec §1.5).
 */
import { featureProperties, FeatureProperties } from './featureStats';
import { loadFeatureBank } from './load';
import { STAND_INS } from './standIn';
import { TaskData } from './sampler';
import type { DataConfig } from './types';

const ROWS: Array<[keyof FeatureProperties, string, (x: number) => string]> = [
  ['meanNorm', 'mean ‖x‖ (training exemplar)', (x) => x.toFixed(1)],
  ['meanValue', 'mean entry', (x) => x.toFixed(3)],
  ['zeroFraction', 'fraction of exact zeros', (x) => x.toFixed(3)],
  ['meanInterClassCosine', 'mean inter-class cosine', (x) => x.toFixed(3)],
  ['effectiveRank', 'effective rank (participation ratio of the class covariance)', (x) => x.toFixed(1)],
  ['top32VarianceFraction', 'class variance in the top 32 directions', (x) => x.toFixed(3)],
  ['testInTrainSpan', 'unseen class inside the span of the 50 training classes', (x) => x.toFixed(3)],
  ['exemplarToPrototypeCosine', 'cos(held-out drawing, its training exemplar)', (x) => x.toFixed(3)],
];

export interface FeatureColumn {
  name: string;
  properties: FeatureProperties;
}

/** Measures every stand-in (at `featureSeed`) and every feature file given. */
export async function featureColumns(files: string[] = [], featureSeed = 0): Promise<FeatureColumn[]> {
  const base: DataConfig = { ...TaskData.DEFAULT_DATA_CONFIG, featureSeed };
  const out: FeatureColumn[] = [];
  for (const standIn of STAND_INS)
    out.push({
      name: `${standIn}${standIn === base.standIn ? ' (default)' : ''}`,
      properties: featureProperties(await loadFeatureBank({ ...base, standIn })),
    });
  for (const f of files)
    out.push({ name: f, properties: featureProperties(await loadFeatureBank({ ...base, features: f })) });
  return out;
}

export function featureTable(cols: FeatureColumn[]): string {
  const o = [`| property | ${cols.map((c) => c.name).join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`];
  for (const [k, label, fmt] of ROWS)
    o.push(`| ${label} | ${cols.map((c) => fmt(c.properties[k] as number)).join(' | ')} |`);
  return o.join('\n') + '\n';
}
