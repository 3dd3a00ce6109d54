/**
 * Every named preset: the basic ones (paper, fast, demo, smoke; `PRESETS`) and one per condition of
 * the paper's figures, named `<figure>.<condition>` (e.g. `fig5b.perfect_l1`, `fig6.labels10.perfect_match`,
 * `fig4b.only_l2h3`, `appfig8.pt_l1h125`, `appfig15.is_0p9`) at the `fast` or `paper` scale.
 */
import type { DataConfig } from '../data';
import { resolveRunConfig, merge, baseConfig, RunConfig, DeepPartial } from '../train/runConfig';
import { FORMATION_RULE } from '../train/checkpointSchedule';
import {
  Condition,
  Scale,
  fig5bConditions,
  fig6Columns,
  FIG6_ROWS,
  singleHeadConditions,
  prevTokenVariants,
  strengthSweep,
  scaleSettings,
  REST_HEADS,
} from './conditions';

export interface Preset {
  description: string;
  config: DeepPartial<RunConfig>;
}

export const PRESETS: Record<string, Preset> = {
  paper: {
    description:
      "The paper's main run (Fig 3): lr 1e-5, 1e6 sequences, all 8 Layer-2 heads. Minutes to tens of minutes.",
    config: {
      train: {
        lr: 1e-5,
        sequences: 1_000_000,
        evalEvery: 5000,
        checkpoints: { log: 16, linear: 101, lossChange: 0.05 },
      },
    },
  },
  fast: {
    description:
      'The main run at lr 1e-4 (spec §9.4): the phase change after ≈ 1–4k steps instead of ≈ 8–14k. 2e5 sequences.',
    config: { train: { lr: 1e-4, sequences: 200_000, evalEvery: 2000, checkpoints: { ...FORMATION_RULE } } },
  },
  demo: {
    description:
      "A clamped run at the fast scale: one induction head (L2H3) with the other seven Layer-2 heads ablated, as in the paper's §4–5 controls. 1.6e5 sequences.",
    config: {
      train: { lr: 1e-4, sequences: 160_000, evalEvery: 2000, checkpoints: { log: 10, linear: 9, lossChange: 0.05 } },
      clamps: [{ kind: 'ablate', heads: REST_HEADS }],
    },
  },
  smoke: {
    description: 'A seconds-long run for checking a set-up: 100 steps, small eval sets.',
    config: {
      train: { lr: 1e-4, sequences: 3200, evalEvery: 800, checkpoints: { log: 4, linear: 3 } },
      data: { evalSize: 100 } as Partial<DataConfig>,
    },
  },
};

export const DEFAULT_PRESET = 'demo';

/** The config of a preset; an unknown name is an error listing the known ones. */
export function presetConfig(name: string): RunConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  return resolveRunConfig(merge(baseConfig(), { name, preset: name, ...p.config }));
}

export interface ExperimentPreset {
  name: string;
  description: string;
  config: DeepPartial<RunConfig>;
  condition?: Condition;
}

function family(
  prefix: string,
  conds: Condition[],
  settings: DeepPartial<RunConfig>,
  what: string,
  extra: DeepPartial<RunConfig> = {},
): ExperimentPreset[] {
  return conds.map((c) => ({
    name: `${prefix}.${c.name}`,
    description: `${what}: ${c.label} (clamped ${c.stepsClamped}; learns ${c.stepsLearned})`,
    condition: c,
    config: merge(merge(settings, extra), { ...c.config, name: `${prefix}.${c.name}`.replace(/[^\w.-]/g, '_') }),
  }));
}

export function experimentPresets(scale: Scale): ExperimentPreset[] {
  const fig6Long = scaleSettings(scale, 2_000_000, 5000, 300_000);
  // Clamped runs converge within ≈ 3e4 sequences at the fast scale (Fig 5b), so their fast runs are short.
  const fig6Short = scaleSettings(scale, 300_000, 1000, 32_000);
  return [
    ...family('fig5b', fig5bConditions(), scaleSettings(scale, 600_000, 1000, 200_000), 'Fig 5b clamp condition'),
    ...FIG6_ROWS.flatMap((row) =>
      fig6Columns().flatMap((col) =>
        family(
          `fig6.${row.name}`,
          [col],
          col.name === 'noclamp' ? fig6Long : fig6Short,
          `Fig 6 ${row.label}, ${col.label}`,
          { data: row.data } as DeepPartial<RunConfig>,
        ),
      ),
    ),
    ...family(
      'fig4b',
      singleHeadConditions(),
      scaleSettings(scale, 1_000_000, 5000, 250_000),
      'Fig 4b single Layer-2 head',
    ),
    ...family(
      'appfig8',
      prevTokenVariants(),
      scaleSettings(scale, 800_000, 5000, 200_000),
      'App Fig 8 previous-token clamp',
    ),
    ...family(
      'appfig15',
      strengthSweep(),
      scaleSettings(scale, 600_000, 5000, 150_000),
      'App Fig 15 induction-strength sweep',
    ),
  ];
}

export function presetNames(scale: Scale = 'fast'): Array<{ name: string; description: string }> {
  return [
    ...Object.entries(PRESETS).map(([name, p]) => ({ name, description: p.description })),
    ...experimentPresets(scale),
  ];
}

/** The validated config of any preset; unknown names are an error listing the families. */
export function resolvePreset(name: string, scale: Scale = 'fast'): RunConfig {
  if (PRESETS[name]) return presetConfig(name);
  const e = experimentPresets(scale).find((p) => p.name === name);
  if (!e)
    throw new Error(
      `unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')}, and fig5b.*, fig6.*, fig4b.*, appfig8.*, appfig15.* — see \`induction-lab presets\`)`,
    );
  return resolveRunConfig({ ...e.config, preset: `${name}@${scale}` }, baseConfig());
}
