/**
 * `induction-lab`: the engine without VS Code. Subcommands: train, presets, forward. Errors are one
 * line on stderr with a non-zero exit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveRunConfig, DEFAULT_PRESET, RunConfig } from './train/runConfig';
import { resolvePreset, presetNames } from './presets';
import { trainCommand } from './train/command';
import { defaultRunsRoot } from './io';
import { readCheckpoint } from './model/checkpoint';
import { parseClampFlag } from './clamps/spec';
import { forwardJson } from './inspect';
import { computePatterns, PATTERNS_MODES, PatternsMode } from './patterns';
import { fmtSeq } from './report';
import { runSweep, SweepJob } from './sweep';
import { enableRelaxedSimd } from './fast/relaxedSimd';
import { onStopSignals, survivePipes, say } from './stopSignals';

enableRelaxedSimd();
survivePipes();
import { runSubcircuits } from './science/subcircuits';
import { experimentPresets } from './presets';
import { FIGURES, FigureId, reproduce as reproduceFigure } from './science/reproduce';
import { slurmFiles, writeSlurmFiles, findCliBin } from './science/slurm';
import type { FromChildMessage } from '../shared/protocol';

const HELP = `induction-lab — train and inspect the induction-head model of "What needs to go right for an induction head?"

Usage:
  induction-lab train [--preset NAME [--scale fast|paper] | --config FILE] [--out DIR] [--seed N] [--sequences N] [--clamp SPEC]... [--backend auto|wasm|cpu|tensorflow] [--run-id ID]
  induction-lab train --resume RUN_DIR
  induction-lab presets [--scale fast|paper]
  induction-lab forward CHECKPOINT --input FILE
  induction-lab patterns RUN_DIR [--checkpoint SEQUENCES] [--mode single|average|aligned] [--eval-set NAME]
                         [--sequence I | --custom "x1 ℓ1 x2 ℓ2 xq"]
  induction-lab measure RUN_DIR [--checkpoint SEQUENCES] [--what NAMES] [--subsample N] [--json] [--force]
  induction-lab sweep PREFIX [--scale fast|paper] [--workers N] [--out DIR] [--seed N]
  induction-lab subcircuits [--scale fast|paper] [--workers N] [--out DIR] [--seed N] [--sequences N]
  induction-lab reproduce FIGURE [--scale fast|paper] [--seeds 5,6] [--out DIR] [--runs DIR] [--workers N] [--subsample N] [--emit slurm | --no-train]
  induction-lab export RUN_DIR [--tensorboard DIR] [--format tensorboard|icl-dynamics|csv|parquet|eval-sets [OUT]]
  induction-lab --help

train      Trains a model in this process and writes a run folder (run.json, metrics.jsonl,
           checkpoints/seq-N.safetensors, report.md). Default preset: ${DEFAULT_PRESET}.
           --config FILE   JSON run config, applied on top of --preset (or the paper's defaults)
           --out DIR       folder that holds run folders (default .induction-lab/runs)
           --seed N        model init seed (train.initSeed; the paper's main seed is 5)
           --sequences N   total training sequences (train.sequences)
           --preset NAME   paper, fast, demo, smoke, or a figure condition such as fig5b.perfect_l1
           --scale S       fast (lr 1e-4, shorter; default) or paper (lr 1e-5, the paper's lengths) for figure presets
           --clamp SPEC    add a clamp: KIND[:ITEM,ITEM…] where an item is a head (optionally HEAD@VALUE
                           for strength/temperature) or key=value (from, until, strength, temperature,
                           rows=labels, till, from-layer). Heads: L<layer>H<head> (paper layers from 1,
                           e.g. L2H3) or <layer>:<head> (code layers from 0, e.g. 1:3). Kinds:
                             ablate:L2H1,L2H2            zero-ablate heads
                             prev-token:L1H2@0.9         previous-token pattern (strength s; rows=labels)
                             induction:L2H3@1            induction pattern at the query row
                             match:L2H3@0                match heads by cosine (temperature)
                             layer1                      perfect previous-token input (subcircuit A)
                             copy:L2H3                   perfect copy from the head's scores
                             temperature:L1H4@2          divide clean scores by T
                             disallow-prev-token:L1H2    no previous-token attention (rows=labels)
                             silence-non-label:L2H3      query attends to label tokens only
                             ablate-embedding            zero token embedding
                             preserve:values,patterns    two-pass preservation (analysis)
                             graft-in:CKPT,till=0        Layer 1 from a trained checkpoint
                           window: add from=SEQ and/or until=SEQ, e.g. ablate:L2H1,from=32000,until=64000
           --resume DIR    continue a stopped or interrupted run from its newest checkpoint (from 0 if it has none)
           --run-id ID     fixed run folder name (resumed if stopped, skipped if complete; refused if it holds
                           a run with another config)
           One process writes a run folder at a time (run.lock): a second one is refused, naming the owner.
           Ctrl-C, SIGTERM (kill, scancel) and SIGHUP stop after the current step with a checkpoint; the
           exit code is then 128 + the signal's number. A second Ctrl-C aborts at once.
measure    Computes per-checkpoint measures (default: the latest checkpoint), caches them in
           RUN_DIR/measures/ and prints them. --what takes a comma list or "all": dense,
           induction-strength, prev-token-score, ablations, additivity, complementarity,
           influence-matrix, composition, paths, posthoc, learning-time. The dense set has 78,400
           sequences; --subsample N (e.g. 2000) measures a fixed random subset, advisable for
           influence-matrix (264 configurations), paths and posthoc (many checkpoints).
sweep      Trains every figure preset whose name starts with PREFIX (e.g. fig5b, fig6.labels10,
           appfig15), one process per core; finished runs are reused, stopped ones resumed.
subcircuits  Trains the subcircuit set from one initialisation (no clamp; A+B = copy clamped;
           B = layer 1 + copy; C = induction pattern; B+C = layer 1) and prints when each learns.
reproduce  Regenerates a figure of the paper (fig3a, fig3b, fig4a, fig4b, fig5a, fig5b, fig6, appfig11,
           appfig15): trains the runs it needs (one process per core; finished runs reused), computes
           its measures and writes DIR/FIGURE/figure.svg, data.json and data.csv. --emit slurm writes a
           Slurm job-array script (DIR/FIGURE/slurm.sh: absolute paths, submit from any folder) running this
           CLI per run, and the merge job it chains. --no-train draws from finished runs only and fails
           naming the missing ones (what the merge job runs).
patterns   Prints (JSON) every head's attention at the checkpoint nearest --checkpoint (default the
           latest), with the run's clamps active there: one sequence of --eval-set (default fsl_train,
           --sequence I) or one typed with --custom (x = class or class/exemplar, ℓ = label, e.g.
           "12 3 40 1 12"), or the eval set's mean: --mode average (plain) or aligned (the query row
           re-indexed so ℓ2 is the correct label in every sequence, as induction strength is defined).
export     Writes a run in other formats (a running run: a snapshot up to its last complete evaluation).
           --tensorboard DIR   TensorBoard events of every evaluation (new runs also write them live in
                               RUN_DIR/tensorboard/ unless train.tensorboard is false)
           --format F [OUT]    icl-dynamics (the authors' config.json + log.h5 + eval_data.h5, in a folder),
                               csv (- = stdout), parquet, eval-sets (the fixed evaluation sequences, for the
                               Python reader), tensorboard; OUT defaults to a file or folder in RUN_DIR
forward    Runs a checkpoint on sequences from a JSON file
           {"exemplars": [[x1, x2, xq], …], "labels": [[y1, y2, yq?], …]} and prints
           {"logits": [[…L at the query…], …], "patterns": [layer][sequence][head][query][key]}.
`;

function fail(msg: string): never {
  process.stderr.write(`induction-lab: ${msg}\n`);
  process.exit(2);
}

interface Args { _: string[]; flags: Map<string, string[]> }
function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t.startsWith('--')) {
      const [k, inline] = t.slice(2).split(/=(.*)/s, 2);
      const boolean = k === 'help' || k === 'force' || k === 'json' || k === 'no-train';
      const v = inline ?? (boolean ? 'true' : argv[++i]);
      if (v === undefined) fail(`--${k} needs a value`);
      a.flags.set(k, [...(a.flags.get(k) ?? []), v]);
    } else a._.push(t);
  }
  return a;
}
const one = (a: Args, k: string) => a.flags.get(k)?.at(-1);
function int(a: Args, k: string): number | undefined {
  const v = one(a, k);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`--${k} must be a whole number, got "${v}"`);
  return Number(v);
}

function checkFlags(a: Args, known: Set<string>, cmd: string): void {
  for (const k of a.flags.keys()) if (!known.has(k) && k !== 'help') fail(`unknown option --${k} for ${cmd} (see --help)`);
}

function scaleOf(a: Args): 'fast' | 'paper' {
  const s = one(a, 'scale') ?? 'fast';
  if (s !== 'fast' && s !== 'paper') fail(`--scale must be fast or paper, got "${s}"`);
  return s;
}

function progressBar(done: number, total: number, extra: string): string {
  const w = 30, f = total > 0 ? Math.min(1, done / total) : 1;
  return `[${'#'.repeat(Math.round(f * w)).padEnd(w, '.')}] ${(f * 100).toFixed(0).padStart(3)}% ${extra}`;
}

async function train(a: Args): Promise<void> {
  const known = new Set(['preset', 'scale', 'config', 'out', 'seed', 'sequences', 'clamp', 'backend', 'resume', 'name', 'run-id']);
  checkFlags(a, known, 'train');
  const resumeDir = one(a, 'resume');
  const runId = one(a, 'run-id');
  const root = path.resolve(one(a, 'out') ?? defaultRunsRoot(process.cwd()));
  if (resumeDir) {
    const extra = [...a.flags.keys()].filter((k) => k !== 'resume' && k !== 'help');
    if (extra.length) fail(`--resume continues a run with its own config: drop ${extra.map((k) => `--${k}`).join(', ')}`);
    return trainCommand({ root, resumeDir });
  }
  const base = resolvePreset(one(a, 'preset') ?? DEFAULT_PRESET, scaleOf(a));
  let raw: Record<string, unknown> = {};
  const file = one(a, 'config');
  if (file) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { fail(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code}`); }
    try { raw = JSON.parse(text); } catch (e) { fail(`config ${file} is not valid JSON: ${(e as Error).message}`); }
  }
  let config = resolveRunConfig(raw, base);
  const seed = int(a, 'seed'), seqs = int(a, 'sequences');
  if (seed !== undefined) config.train.initSeed = seed;
  if (seqs !== undefined) config.train.sequences = seqs;
  const backend = one(a, 'backend');
  if (backend) config.train.backend = backend as RunConfig['train']['backend'];
  if (one(a, 'name')) config.name = one(a, 'name')!;
  for (const c of a.flags.get('clamp') ?? []) config.clamps.push(parseClampFlag(c, config.model));
  config = resolveRunConfig(config as unknown as Record<string, unknown>, config);
  return trainCommand({ config, root, runId });
}

async function forwardCmd(a: Args): Promise<void> {
  const ckpt = a._[1];
  const input = one(a, 'input');
  if (!ckpt) fail('forward needs a checkpoint path');
  if (!input) fail('forward needs --input FILE');
  let raw: unknown;
  try { raw = JSON.parse(fs.readFileSync(input, 'utf8')); } catch (e) { fail(`cannot read input ${input}: ${(e as Error).message}`); }
  const out = await forwardJson(ckpt, raw, (one(a, 'backend') ?? 'auto') as 'auto');
  const bad = Object.entries(readCheckpoint(ckpt).params).filter(([, v]) => v.some((x) => !Number.isFinite(x))).map(([k]) => k);
  if (bad.length) say(`induction-lab: warning: ${ckpt} has non-finite weights (NaN or ±Infinity) in ${bad.join(', ')}: its outputs are not numbers (null in the JSON)\n`);
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function patternsCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['checkpoint', 'mode', 'eval-set', 'sequence', 'custom', 'backend']), 'patterns');
  const runDir = a._[1];
  if (!runDir) fail('patterns needs a run folder');
  const mode = (one(a, 'mode') ?? 'single') as PatternsMode;
  if (!PATTERNS_MODES.includes(mode)) fail(`--mode must be ${PATTERNS_MODES.join(', ')}, got "${mode}"`);
  const out = await computePatterns({
    runDir, mode, checkpoint: int(a, 'checkpoint'), evalSet: one(a, 'eval-set'), sequence: int(a, 'sequence'),
    custom: one(a, 'custom'), backend: (one(a, 'backend') ?? 'auto') as 'auto',
  });
  process.stdout.write(JSON.stringify(out) + '\n');
}

function sweepDisplay(): (job: SweepJob, m: FromChildMessage) => void {
  const last = new Map<string, number>();
  return (job, m) => {
    if (m.type === 'progress') {
      if (Date.now() - (last.get(job.key) ?? 0) < 5000 && m.sequences < m.totalSequences) return;
      last.set(job.key, Date.now());
      process.stderr.write(`${job.key}: ${progressBar(m.sequences, m.totalSequences, `loss ${m.trainLoss.toFixed(3)}`)}\n`);
    } else if (m.type === 'started') process.stderr.write(`${job.key}: started on ${m.backend} → ${m.runDir}\n`);
    else if (m.type === 'finished') process.stderr.write(`${job.key}: ${m.status} in ${m.seconds.toFixed(0)} s\n`);
    else if (m.type === 'error') process.stderr.write(`${job.key}: error: ${m.message}\n`);
  };
}

/** Every stop signal (Ctrl-C, SIGTERM, SIGHUP) cancels all running children, which checkpoint. */
function stopOnSignals(): () => boolean {
  const st = onStopSignals((sig) => say(`\n${sig}: stopping all runs after their current step${sig === 'SIGINT' ? ' (Ctrl-C again to abort)' : ''}…\n`));
  process.on('exit', () => { if (st.exitCode !== undefined && !process.exitCode) process.exitCode = st.exitCode; });
  return () => st.signal !== null;
}

async function sweep(a: Args): Promise<void> {
  checkFlags(a, new Set(['scale', 'workers', 'out', 'seed']), 'sweep');
  const prefix = a._[1];
  if (!prefix) fail('sweep needs a preset prefix, e.g. fig5b (see `induction-lab presets`)');
  const scale = scaleOf(a);
  const chosen = experimentPresets(scale).filter((p) => p.name === prefix || p.name.startsWith(prefix + '.'));
  if (!chosen.length) fail(`no figure preset starts with "${prefix}" (families: fig5b, fig6, fig4b, appfig8, appfig15)`);
  const seed = int(a, 'seed');
  const jobs = chosen.map((p) => {
    const config = resolvePreset(p.name, scale);
    if (seed !== undefined) config.train.initSeed = seed;
    return { key: `${p.name}-${scale}-seed${config.train.initSeed}`, config };
  });
  const root = path.resolve(one(a, 'out') ?? path.join(defaultRunsRoot(process.cwd()), 'sweeps'));
  process.stderr.write(`${jobs.length} runs → ${root}\n`);
  const res = await runSweep(jobs, { root, workers: int(a, 'workers'), onMessage: sweepDisplay(), shouldStop: stopOnSignals() });
  for (const r of res) process.stdout.write(`${r.status.padEnd(10)} ${r.reused ? '(reused) ' : ''}${r.runDir}${r.error ? `  ${r.error}` : ''}\n`);
  if (res.some((r) => r.status === 'failed')) process.exitCode = 1;
}

async function subcircuits(a: Args): Promise<void> {
  checkFlags(a, new Set(['scale', 'workers', 'out', 'seed', 'sequences']), 'subcircuits');
  const root = path.resolve(one(a, 'out') ?? path.join(defaultRunsRoot(process.cwd()), 'subcircuits'));
  const { curves, runs } = await runSubcircuits({
    scale: scaleOf(a), root, workers: int(a, 'workers'), initSeed: int(a, 'seed'), sequences: int(a, 'sequences'),
    onMessage: sweepDisplay(), shouldStop: stopOnSignals(),
  });
  process.stdout.write('| measures | clamped steps | learns | learning time (loss < 0.4·ln 2) | final loss | status |\n|---|---|---|---:|---:|---|\n');
  for (const c of curves) process.stdout.write(`| ${c.measures} | ${c.label} | ${c.stepsLearned} | ${fmtSeq(c.learningTime)} | ${c.ys.length ? c.ys[c.ys.length - 1].toFixed(4) : '—'} | ${c.status} |\n`);
  if (runs.some((r) => r.status === 'failed')) process.exitCode = 1;
}

async function measure(a: Args): Promise<void> {
  checkFlags(a, new Set(['checkpoint', 'what', 'subsample', 'backend', 'points', 'force', 'json', 'reference', 'pt-head', 'ih-head']), 'measure');
  if (!a._[1]) fail('measure needs a run folder');
  const { measureCommand } = await import('./measures/command');
  const r = await measureCommand({
    runDir: a._[1], checkpoint: int(a, 'checkpoint'), what: a.flags.get('what'), subsample: int(a, 'subsample'),
    backend: one(a, 'backend'), points: int(a, 'points'), force: a.flags.has('force'), reference: int(a, 'reference'),
    ptHead: one(a, 'pt-head'), ihHead: one(a, 'ih-head'),
  }, (l) => process.stdout.write(l + '\n'));
  if (a.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
}

async function reproduceCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['scale', 'seeds', 'out', 'runs', 'workers', 'subsample', 'emit', 'no-train', 'slurm-script']), 'reproduce');
  const fig = a._[1] as FigureId;
  if (!fig || !(FIGURES as readonly string[]).includes(fig)) fail(`reproduce needs a figure: ${FIGURES.join(', ')}`);
  const scale = scaleOf(a);
  const seedsText = one(a, 'seeds') ?? '5';
  if (!/^\d+(,\d+)*$/.test(seedsText)) fail(`--seeds takes a comma list of whole numbers, got "${seedsText}"`);
  const seeds = seedsText.split(',').map(Number);
  const out = path.resolve(one(a, 'out') ?? path.join(process.cwd(), 'figures'));
  const runsRoot = path.resolve(one(a, 'runs') ?? path.join(defaultRunsRoot(process.cwd()), 'reproduce'));
  const emit = one(a, 'emit');
  if (emit !== undefined) {
    if (emit !== 'slurm') fail(`--emit supports slurm, got "${emit}"`);
    const files = slurmFiles(fig, scale, seeds, runsRoot, out, { node: process.execPath, cli: findCliBin(__dirname) });
    writeSlurmFiles(files);
    process.stdout.write(`wrote ${files.paths.script} (${files.configs.length} array tasks; its first task chains ${path.basename(files.paths.merge)}), `
      + `${files.configs.length} configs in ${files.paths.configs}; logs go to ${files.paths.logs}\nsubmit from any folder: sbatch ${files.paths.script}\n`);
    return;
  }
  const r = await reproduceFigure(fig, {
    scale, seeds, out, runsRoot, workers: int(a, 'workers'), subsample: int(a, 'subsample'),
    train: !a.flags.has('no-train'), slurmScript: one(a, 'slurm-script'),
    onMessage: sweepDisplay(), shouldStop: stopOnSignals(), log: (l) => say(l + '\n'),
  });
  process.stdout.write(`${r.figure.title}\n${JSON.stringify(r.numbers, null, 1)}\nwrote ${r.files.join(', ')}\n`);
}

async function exportCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['tensorboard', 'format', 'out']), 'export');
  if (!a._[1]) fail('export needs a run folder');
  if (a._.length > 3) fail(`export takes one run folder and one output, got ${a._.slice(1).join(' ')}`);
  const { exportCommand } = await import('./export/command');
  await exportCommand({ run: a._[1], tensorboard: one(a, 'tensorboard'), format: one(a, 'format'), out: one(a, 'out') ?? a._[2] }, {
    say: (l) => process.stdout.write(l + '\n'), note: (l) => process.stderr.write(l + '\n'), stdout: (t) => process.stdout.write(t),
  });
}

async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const cmd = a._[0];
  if (!cmd || a.flags.has('help') || cmd === 'help') { process.stdout.write(HELP); return; }
  switch (cmd) {
    case 'train': return train(a);
    case 'presets': {
      const all = presetNames(scaleOf(a));
      const w = Math.max(...all.map((p) => p.name.length));
      for (const p of all) process.stdout.write(`${p.name.padEnd(w)}  ${p.name === DEFAULT_PRESET ? '(default) ' : ''}${p.description}\n`);
      return;
    }
    case 'forward': return forwardCmd(a);
    case 'patterns': return patternsCmd(a);
    case 'measure': return measure(a);
    case 'sweep': return sweep(a);
    case 'reproduce': return reproduceCmd(a);
    case 'subcircuits': return subcircuits(a);
    case 'export': return exportCmd(a);
    default: fail(`unknown command "${cmd}" (train, presets, forward, patterns, measure, sweep, subcircuits, reproduce, export; `
      + 'see --help)');
  }
}

main(process.argv.slice(2)).catch((e: Error) => fail(e.message.split('\n')[0]));
