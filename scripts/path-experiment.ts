/**
 * The K-edge experiment of docs/path-patching.md (issue 18 part 3), per seed: the single-IH `demo` run (the
 * control), then — with the strongest previous-token head P of that seed's control (PT score at 160k, the
 * preset's end, spec §5.4) — the same run with P node-ablated, with the K-edge P → L2H3 cut
 * (path-patch, with = zero) and with that edge's gradient stopped (stop-gradient), every run on the fast
 * engine, one at a time. The formation point is the learning time (spec §5.10: the first evaluation with
 * fsl_train loss < 0.4·ln 2). Writes FIGURE_DIR/{figure.svg, data.json, data.csv} (loss curves, one panel per
 * seed) and prints the table the docs quote. Finished runs in RUNS_DIR are reused.
 *
 * Every run trains SEQUENCES (default 240k: the preset's 160k plus room for a late formation; the learning rate
 * is constant, so the first 160k are the preset's run), with a checkpoint at 160k for the choice of P.
 *
 *   npm run build && npx tsx scripts/path-experiment.ts --seeds 5,6,7 [--sequences N] --runs RUNS_DIR --figure DIR
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FigureData, LineSeries, DARK2, figureCsv, figureSvg } from '../src/engine/science/figureSvg';

const argv = process.argv.slice(2);
const value = (k: string, d: string) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : d;
};
const SEEDS = value('--seeds', '5,6,7').split(',').map(Number),
  RUNS = path.resolve(value('--runs', '/tmp/path-experiment')),
  FIGURE = path.resolve(value('--figure', 'docs/figures/path-kcut')),
  SEQUENCES = Number(value('--sequences', '240000')),
  SELECT_AT = 160_000;
const CLI = path.join(__dirname, '..', 'out', 'cli.js');
const RECEIVER = 'L2H3';

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`induction-lab ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** Trains (unless a finished run is there) and returns its folder. */
function train(seed: number, id: string, clamps: string[]): string {
  const dir = path.join(RUNS, id);
  const done = (() => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).status === 'completed';
    } catch {
      return false;
    }
  })();
  if (!done) {
    fs.rmSync(dir, { recursive: true, force: true });
    const t0 = Date.now();
    const config = path.join(RUNS, `config-${SEQUENCES}.json`);
    const checkpoints = { log: 10, linear: 9, lossChange: 0.05, at: [SELECT_AT] }; // the demo preset's, + 160k
    fs.writeFileSync(config, JSON.stringify({ train: { sequences: SEQUENCES, checkpoints } }));
    const args = ['--preset', 'demo', '--config', config, '--seed', String(seed), '--out', RUNS];
    cli(['train', ...args, '--run-id', id, ...clamps.flatMap((c) => ['--clamp', c])]);
    console.error(`trained ${id} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const engine = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).engine;
  if (engine !== 'fast') throw new Error(`${id} trained on ${engine}, not the fast engine`);
  return dir;
}

interface Measured {
  learningTime: number;
  reached: boolean;
  pt: Record<string, number>;
  is: number;
  curve: { xs: number[]; ys: number[] };
}

function measure(dir: string, checkpoint?: number): Measured {
  const at = checkpoint === undefined ? [] : ['--checkpoint', String(checkpoint)];
  const out = cli(['measure', dir, ...at, '--what', 'learning-time,prev-token-score,induction-strength', '--json']);
  const r = JSON.parse(out.trim().split('\n').at(-1)!).results;
  const pt: Record<string, number> = {};
  r['prev-token-score'].heads.forEach((h: string, i: number) => (pt[h] = r['prev-token-score'].values[i]));
  const is = r['induction-strength'].values[r['induction-strength'].heads.indexOf(RECEIVER)];
  const xs: number[] = [],
    ys: number[] = [];
  for (const line of fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line);
    if (m.eval?.fsl_train) {
      xs.push(m.sequences);
      ys.push(m.eval.fsl_train.loss);
    }
  }
  return { learningTime: r['learning-time'].value, reached: r['learning-time'].reached, pt, is, curve: { xs, ys } };
}

const kSeq = (x: number) => `${Math.round(x / 1000)}k`;

const CONDITIONS = (p: string) => [
  { key: 'control', label: 'control', clamps: [] as string[] },
  { key: 'ablate', label: `node ablation of ${p}`, clamps: [`ablate:${p}`] },
  { key: 'kcut', label: `K-edge ${p}→${RECEIVER} cut`, clamps: [`path-patch:${p}>${RECEIVER},input=k,with=zero`] },
  { key: 'kstop', label: `stop-gradient on ${p}→${RECEIVER}.K`, clamps: [`stop-gradient:${p}>${RECEIVER},input=k`] },
];

function main(): void {
  fs.mkdirSync(RUNS, { recursive: true });
  const rows: string[] = [];
  const panels: FigureData['panels'] = [];
  const data: Record<string, unknown>[] = [];
  for (const seed of SEEDS) {
    const tag = `${SEQUENCES / 1000}k`,
      controlDir = train(seed, `s${seed}-control-${tag}`, []);
    const control = measure(controlDir),
      atSelect = measure(controlDir, SELECT_AT);
    const l1 = Object.keys(control.pt).filter((h) => h.startsWith('L1'));
    const P = l1.reduce((a, h) => (atSelect.pt[h] > atSelect.pt[a] ? h : a));
    const series: LineSeries[] = [];
    CONDITIONS(P).forEach((cond, ci) => {
      const m = cond.key === 'control' ? control : measure(train(seed, `s${seed}-${cond.key}-${tag}`, cond.clamps));
      const ptHeads = l1.filter((h) => m.pt[h] >= 0.7).map((h) => `${h} ${m.pt[h].toFixed(2)}`);
      rows.push(
        `| ${seed} | ${cond.label} | ${m.reached ? kSeq(m.learningTime) : `not by ${kSeq(m.learningTime)}`} | ` +
          `${m.is.toFixed(3)} | ${m.pt[P].toFixed(2)} | ${ptHeads.join(', ') || '—'} |`,
      );
      series.push({ label: cond.label, xs: m.curve.xs, ys: m.curve.ys, color: DARK2[ci], dashed: ci === 3 });
      data.push({ seed, strongestPTH: P, ptAt160k: atSelect.pt, condition: cond.key, clamps: cond.clamps, ...m });
    });
    panels.push({
      kind: 'lines',
      title: `seed ${seed} (strongest PT head of the control at 160k: ${P})`,
      xLabel: '# sequences seen',
      yLabel: 'fsl_train loss',
      series,
      hline: { y: 0.4 * Math.LN2, label: '0.4·ln 2' },
    });
  }
  const cfg = JSON.parse(
    fs.readFileSync(path.join(RUNS, `s${SEEDS[0]}-control-${SEQUENCES / 1000}k`, 'run.json'), 'utf8'),
  );
  const evalCadence = { every: cfg.config.train.evalEvery, size: cfg.config.data.evalSize };
  const fig: FigureData = {
    id: 'path-kcut',
    title:
      `Cutting the K-edge from the strongest PT head into ${RECEIVER} while training ` +
      `(single-IH demo, seeds ${SEEDS.join(', ')}, ${kSeq(SEQUENCES)} sequences)`,
    columns: Math.min(3, SEEDS.length),
    panels,
    notes: [
      `fsl_train loss per evaluation (every ${evalCadence.every} sequences, ${evalCadence.size} evaluation sequences); ` +
        'the learning time is the first evaluation under 0.4·ln 2. Every run on the fast engine (fast/pathFold.ts); ' +
        'scripts/path-experiment.ts.',
    ],
    seeds: SEEDS,
  };
  fs.mkdirSync(FIGURE, { recursive: true });
  fs.writeFileSync(path.join(FIGURE, 'figure.svg'), figureSvg(fig));
  fs.writeFileSync(path.join(FIGURE, 'data.csv'), figureCsv(fig));
  fs.writeFileSync(path.join(FIGURE, 'data.json'), JSON.stringify({ figure: fig, runs: data }, null, 2) + '\n');
  console.log(
    `| seed | run (demo: REST_HEADS ablated) | learning time | IS ${RECEIVER} at ${kSeq(SEQUENCES)} | ` +
      `PT of P at ${kSeq(SEQUENCES)} | L1 heads with PT ≥ 0.7 at ${kSeq(SEQUENCES)} |`,
  );
  console.log('|---:|---|---:|---:|---:|---|');
  for (const r of rows) console.log(r);
}

main();
