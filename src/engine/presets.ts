/**
 * Every named preset: the basic ones of runConfig.ts (paper, fast, demo, smoke) and one per condition of
 * the paper's figures, named `<figure>.<condition>` (e.g. `fig5b.perfect_l1`, `fig6.labels10.perfect_match`,
 * `fig4b.only_l2h3`, `appfig8.pt_l1h125`, `appfig15.is_0p9`) at the `fast` or `paper` scale.
 */
import { PRESETS, presetConfig, resolveRunConfig, merge, baseConfig, RunConfig, DeepPartial } from './train/runConfig';
import { Condition, Scale, fig5bConditions, fig6Columns, FIG6_ROWS, singleHeadConditions, prevTokenVariants, strengthSweep, scaleSettings } from './science/conditions';

export interface ExperimentPreset { name: string; description: string; config: DeepPartial<RunConfig>; condition?: Condition }

function family(prefix: string, conds: Condition[], settings: DeepPartial<RunConfig>, what: string, extra: DeepPartial<RunConfig> = {}): ExperimentPreset[] {
  return conds.map((c) => ({
    name: `${prefix}.${c.name}`, description: `${what}: ${c.label} (clamped ${c.stepsClamped}; learns ${c.stepsLearned})`, condition: c,
    config: merge(merge(settings, extra), { ...c.config, name: `${prefix}.${c.name}`.replace(/[^\w.-]/g, '_') }),
  }));
}

export function experimentPresets(scale: Scale): ExperimentPreset[] {
  const fig6Long = scaleSettings(scale, 2_000_000, 5000, 300_000);
  // Clamped runs converge within ≈ 3e4 sequences at the fast scale (Fig 5b), so their fast runs are short.
  const fig6Short = scaleSettings(scale, 300_000, 1000, 32_000);
  return [
    ...family('fig5b', fig5bConditions(), scaleSettings(scale, 600_000, 1000, 200_000), 'Fig 5b clamp condition'),
    ...FIG6_ROWS.flatMap((row) => fig6Columns().flatMap((col) => family(`fig6.${row.name}`, [col], col.name === 'noclamp' ? fig6Long : fig6Short, `Fig 6 ${row.label}, ${col.label}`, { data: row.data } as DeepPartial<RunConfig>))),
    ...family('fig4b', singleHeadConditions(), scaleSettings(scale, 1_000_000, 5000, 250_000), 'Fig 4b single Layer-2 head'),
    ...family('appfig8', prevTokenVariants(), scaleSettings(scale, 800_000, 5000, 200_000), 'App Fig 8 previous-token clamp'),
    ...family('appfig15', strengthSweep(), scaleSettings(scale, 600_000, 5000, 150_000), 'App Fig 15 induction-strength sweep'),
  ];
}

export function presetNames(scale: Scale = 'fast'): Array<{ name: string; description: string }> {
  return [...Object.entries(PRESETS).map(([name, p]) => ({ name, description: p.description })), ...experimentPresets(scale)];
}

/** The validated config of any preset; unknown names are an error listing the families. */
export function resolvePreset(name: string, scale: Scale = 'fast'): RunConfig {
  if (PRESETS[name]) return presetConfig(name);
  const e = experimentPresets(scale).find((p) => p.name === name);
  if (!e) throw new Error(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')}, and fig5b.*, fig6.*, fig4b.*, appfig8.*, appfig15.* — see \`induction-lab presets\`)`);
  return resolveRunConfig({ ...e.config, preset: `${name}@${scale}` }, baseConfig());
}
