/**
 * `induction-lab`: the engine without VS Code. Subcommands: train, presets, forward, measure, sweep,
 * subcircuits, reproduce, export, llc, dynamics. Errors are one line on stderr with a non-zero exit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveRunConfig, RunConfig, validateEvalThread } from './train/runConfig';
import { DEFAULT_PRESET, resolvePreset, presetNames } from './science/presets';
import { trainCommand } from './train/command';
import { RunDir, defaultRunsRoot } from './io';
import { readCheckpoint } from './model/checkpoint';
import { parseClampArg } from './clampArg';
import { clampHelpLines } from './clamps/kinds';
import { forwardJson } from './forward/command';
import { computePatterns, PATTERNS_MODES, PatternsMode } from './measures/patterns';
import { fmtSeq } from './train/report';
import { runSweep, SweepJob } from './train/sweep';
import { enableRelaxedSimd } from './fast/relaxedSimd';
import { onStopSignals, survivePipes, say } from './train/stopSignals';

enableRelaxedSimd();
survivePipes();
import { runSubcircuits, SUBCIRCUIT_SET } from './science/subcircuits';
import { experimentPresets } from './science/presets';
import { FIGURES, FigureId, figureJobs, reproduce as reproduceFigure, DEFAULT_STAND_IN } from './science/reproduce';
import { STAND_INS, isStandIn } from './data';
import { slurmFiles, writeSlurmFiles, findCliBin } from './science/slurm';
import type { FromChildMessage } from '../shared/protocol';
import { jsonProgress, ProgressSink, sweepProgress } from './io/cliProgress';

const HELP = `induction-lab — train and inspect the induction-head model of "What needs to go right for an induction head?"

Usage:
  induction-lab train [--preset NAME [--scale fast|paper] | --config FILE] [--out DIR] [--seed N] [--sequences N] [--clamp SPEC]... [--backend auto|wasm|cpu|tensorflow] [--run-id ID] [--eval-thread auto|on|off]
  induction-lab train --resume RUN_DIR [--eval-thread auto|on|off]
  induction-lab presets [--scale fast|paper]
  induction-lab forward CHECKPOINT --input FILE [--engine auto|fast|tfjs]
  induction-lab patterns RUN_DIR [--checkpoint SEQUENCES] [--mode single|average|aligned] [--eval-set NAME]
                         [--sequence I | --custom "x1 ℓ1 x2 ℓ2 xq"]
  induction-lab measure RUN_DIR [--checkpoint SEQUENCES | --checkpoints all|N|LIST | --follow] [--what NAMES] [--subsample N] [--workers N] [--progress json] [--json] [--force]
  induction-lab sweep PREFIX [--scale fast|paper] [--workers N] [--out DIR] [--seed N]
  induction-lab subcircuits [--scale fast|paper] [--workers N] [--out DIR] [--seed N] [--sequences N] [--progress json]
  induction-lab reproduce FIGURE [--scale fast|paper] [--seeds 5,6] [--stand-in NAME] [--out DIR] [--runs DIR] [--workers N] [--subsample N] [--emit slurm | --no-train] [--progress json]
  induction-lab findings [--scale fast|paper|smoke] [--seeds 5,6,7,8,9] [--stand-ins structured,independent] [--only IDS] [--out DIR] [--runs DIR] [--doc FILE] [--workers N] [--subsample N] [--no-train] [--progress json]
  induction-lab features [--file FEATURES]... [--feature-seed N]
  induction-lab export RUN_DIR [--tensorboard DIR] [--format tensorboard|icl-dynamics|csv|parquet|eval-sets [OUT]]
  induction-lab llc RUN_DIR [--checkpoints all|latest|N|LIST] [--per-head | --heads LIST] [--calibrate] [--clean] [--follow] [SGLD options]
  induction-lab dynamics RUN_DIR [--probe N] [--patterns] [--clean] [--components K]
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
                           e.g. L2H3) or <layer>:<head> (code layers from 0, e.g. 1:3). Kinds, in the
                           order they compose (spec §3.4):
${clampHelpLines('                             ').join('\n')}
                           window: add from=SEQ and/or until=SEQ, e.g. ablate:L2H1,from=32000,until=64000
           --resume DIR    continue a stopped or interrupted run from its newest checkpoint (from 0 if it has none)
           --run-id ID     fixed run folder name (resumed if stopped, skipped if complete; refused if it holds
                           a run with another config)
           --eval-thread M auto, on or off: periodic evaluation on a worker thread (the spare core) while
                           training goes on, or on the training thread; the same numbers either way. auto
                           (train.evalThread, default): the thread when this process has a spare core
           One process writes a run folder at a time (run.lock): a second one is refused, naming the owner.
           Ctrl-C, SIGTERM (kill, scancel) and SIGHUP stop after the current step with a checkpoint; the
           exit code is then 128 + the signal's number. A second Ctrl-C aborts at once.
measure    Computes per-checkpoint measures (default: the latest checkpoint), caches them in
           RUN_DIR/measures/ and prints them. --what takes a comma list or "all": dense,
           induction-strength, prev-token-score, ablations, additivity, complementarity,
           influence-matrix, composition, paths, posthoc, path-patching, learning-time. The dense set
           has 78,400 sequences; --subsample N (e.g. 2000) measures a fixed random subset, advisable
           for influence-matrix (264 configurations), path-patching (8×8×3 edges × 3 corruptions),
           paths and posthoc (many checkpoints). At one checkpoint, influence-matrix splits its
           configurations over --workers processes (default: one per core from 10,000 sequences).
           Over training: --checkpoints all (every checkpoint), N (N spread over the run) or a
           comma list of sequence counts computes the measures at each, on --workers processes
           (default: one per core), cached per checkpoint (a killed computation resumes), and
           writes one RUN_DIR/measures/<measure>-over-training[-subN].json per measure.
           --follow does the same while the run trains, a checkpoint behind the newest.
           --progress json writes progress as JSON lines on stderr (for the extension).
sweep      Trains every figure preset whose name starts with PREFIX (e.g. fig5b, fig6.labels10,
           appfig15), one process per core; finished runs are reused, stopped ones resumed.
subcircuits  Trains the subcircuit set from one initialisation (no clamp; A+B = copy clamped;
           B = layer 1 + copy; C = induction pattern; B+C = layer 1) and prints when each learns.
reproduce  Regenerates a figure of the paper (fig3a, fig3b, fig4a, fig4b, fig5a, fig5b, fig6, appfig11,
           appfig15): trains the runs it needs (one process per core; finished runs reused), computes
           its measures and writes DIR/FIGURE/figure.svg, data.json and data.csv. --emit slurm writes a
           Slurm job-array script (DIR/FIGURE/slurm.sh: absolute paths, submit from any folder) running this
           CLI per run, and the merge job it chains. --no-train draws from finished runs only and fails
           naming the missing ones (what the merge job runs). --seeds trains every seed (runs reused)
           and draws the mean, each seed and their range; data.json and data.csv keep every seed's
           values. --stand-in picks the synthetic data (structured or independent; default ${DEFAULT_STAND_IN}).
findings   Decides, for each stand-in and seed, which of the paper's findings (spec §7) hold — plateau then
           phase change, the Fig 5b ordering, redundancy, keep-one monotone in IS, negative-IS clamp,
           label/class effects on subcircuits B and C, unseen classes, … — training what is missing
           (the same run folders as reproduce, reused) and writing DIR/findings.md and findings.json;
           --doc FILE replaces the generated section of FILE; --only takes finding ids; --scale smoke
           checks the pipeline in seconds; --no-train decides from finished runs only (the rest: n/a).
features   Measures the synthetic stand-ins (and feature files: .npy, .safetensors, .h5) — norm,
           non-negativity, inter-class cosine, effective rank, how much of an unseen class lies in
           the training classes' span — and prints them as a Markdown table.
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
llc        Local learning coefficient of checkpoints by SGLD (devinterp's estimator): λ̂ = nβ·(mean draw loss
           − L(w*)), mean ± std over chains, with diagnostics and warnings next to each number; stages read
           from the curve over log-time. Cached in RUN_DIR/llc/as-trained/ (or llc/clean/ with --clean: the
           run's clamps removed while sampling; by default they apply). Options: --epsilon (3e-5) --gamma
           (1e4) --nbeta (m / ln m) --chains (10) --draws (100) --burn-in (0) --steps-between-draws (1)
           --batch-size (the run's) --seed (0) --init-batches (chains) --workers (cores) --engine auto|fast|tfjs
           --force --json --progress json --paired (each draw against w* on its own minibatch instead of
           L(w*)). --per-head: the weight-refined LLC of every head (its Q, K, V rows and W_proj columns;
           always paired; ε 1e-4, γ 1e3, nβ 10·m/ln m unless given); --heads L1H2,L2H3 for some.
           --calibrate: an ε × nβ grid at --checkpoints (default 3 spread over the run) with a
           recommendation (--epsilons, --nbeta-multipliers). --checkpoints N: N spread over log sequences.
           --follow: estimate checkpoints as they arrive while the run trains.
dynamics   Essential dynamics: the model's query logits (and with --patterns every head's query-row
           pattern) on a fixed probe set (--probe 1024 sequences) at every checkpoint, PCA over checkpoints;
           writes RUN_DIR/dynamics/as-trained/ (or clean/) dynamics.{json,csv,svg}.
--progress json  (measure, subcircuits, reproduce, llc, dynamics, findings) one JSON object per line on stderr:
           {"type":"progress","task","done","total","unit","etaSeconds"?,"message"?}; text goes to stdout.
forward    Runs a checkpoint on sequences from a JSON file
           {"exemplars": [[x1, x2, xq], …], "labels": [[y1, y2, yq?], …]} and prints
           {"engine": …, "logits": [[…L at the query…], …], "patterns": [layer][sequence][head][query][key]}
           (the fast engine unless --engine tfjs; --backend picks the TF.js backend).
measure-worker  (internal) a worker process of measure --checkpoints; it talks to its parent over IPC.
`;

function fail(msg: string): never {
  process.stderr.write(`induction-lab: ${msg}\n`);
  process.exit(2);
}

interface Args {
  _: string[];
  flags: Map<string, string[]>;
}
const BOOLEAN_FLAGS = new Set([
  'help',
  'force',
  'json',
  'no-train',
  'per-head',
  'calibrate',
  'clean',
  'follow',
  'patterns',
  'paired',
]);
function parseArgs(argv: string[]): Args {
  const a: Args = { _: [], flags: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t.startsWith('--')) {
      const [k, inline] = t.slice(2).split(/=(.*)/s, 2);
      const boolean = BOOLEAN_FLAGS.has(k);
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
  for (const k of a.flags.keys())
    if (!known.has(k) && k !== 'help') fail(`unknown option --${k} for ${cmd} (see --help)`);
}

function scaleOf(a: Args): 'fast' | 'paper' {
  const s = one(a, 'scale') ?? 'fast';
  if (s !== 'fast' && s !== 'paper') fail(`--scale must be fast or paper, got "${s}"`);
  return s;
}

function progressBar(done: number, total: number, extra: string): string {
  const w = 30,
    f = total > 0 ? Math.min(1, done / total) : 1;
  return `[${'#'.repeat(Math.round(f * w)).padEnd(w, '.')}] ${(f * 100).toFixed(0).padStart(3)}% ${extra}`;
}

async function train(a: Args): Promise<void> {
  const known = new Set([
    'preset',
    'scale',
    'config',
    'out',
    'seed',
    'sequences',
    'clamp',
    'backend',
    'resume',
    'name',
    'run-id',
    'eval-thread',
  ]);
  checkFlags(a, known, 'train');
  const resumeDir = one(a, 'resume');
  // How evaluation runs, not what the run is: an override, never stored in the config.
  const et = one(a, 'eval-thread');
  const evalThread = et === undefined ? undefined : validateEvalThread(et, '--eval-thread');
  const runId = one(a, 'run-id');
  const root = path.resolve(one(a, 'out') ?? defaultRunsRoot(process.cwd()));
  if (resumeDir) {
    const extra = [...a.flags.keys()].filter((k) => k !== 'resume' && k !== 'help' && k !== 'eval-thread');
    if (extra.length)
      fail(`--resume continues a run with its own config: drop ${extra.map((k) => `--${k}`).join(', ')}`);
    return trainCommand({ root, resumeDir, evalThread });
  }
  const base = resolvePreset(one(a, 'preset') ?? DEFAULT_PRESET, scaleOf(a));
  let raw: Record<string, unknown> = {};
  const file = one(a, 'config');
  if (file) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      fail(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (e) {
      fail(`config ${file} is not valid JSON: ${(e as Error).message}`);
    }
  }
  let config = resolveRunConfig(raw, base);
  const seed = int(a, 'seed'),
    seqs = int(a, 'sequences');
  if (seed !== undefined) config.train.initSeed = seed;
  if (seqs !== undefined) config.train.sequences = seqs;
  const backend = one(a, 'backend');
  if (backend) config.train.backend = backend as RunConfig['train']['backend'];
  if (one(a, 'name')) config.name = one(a, 'name')!;
  for (const c of a.flags.get('clamp') ?? []) config.clamps.push(parseClampArg(c, config.model));
  config = resolveRunConfig(config as unknown as Record<string, unknown>, config);
  return trainCommand({ config, root, runId, evalThread });
}

async function forwardCmd(a: Args): Promise<void> {
  const ckpt = a._[1];
  const input = one(a, 'input');
  if (!ckpt) fail('forward needs a checkpoint path');
  if (!input) fail('forward needs --input FILE');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(input, 'utf8'));
  } catch (e) {
    fail(`cannot read input ${input}: ${(e as Error).message}`);
  }
  const engine = one(a, 'engine') ?? 'auto';
  if (!['auto', 'fast', 'tfjs'].includes(engine)) fail(`--engine must be auto, fast or tfjs, got "${engine}"`);
  const out = await forwardJson(ckpt, raw, {
    engine: engine as 'auto',
    backend: (one(a, 'backend') ?? 'auto') as 'auto',
  });
  const bad = Object.entries(readCheckpoint(ckpt).params)
    .filter(([, v]) => v.some((x) => !Number.isFinite(x)))
    .map(([k]) => k);
  if (bad.length)
    say(
      `induction-lab: warning: ${ckpt} has non-finite weights (NaN or ±Infinity) in ${bad.join(', ')}: its outputs are not numbers (null in the JSON)\n`,
    );
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function patternsCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['checkpoint', 'mode', 'eval-set', 'sequence', 'custom', 'backend']), 'patterns');
  const runDir = a._[1];
  if (!runDir) fail('patterns needs a run folder');
  const mode = (one(a, 'mode') ?? 'single') as PatternsMode;
  if (!PATTERNS_MODES.includes(mode)) fail(`--mode must be ${PATTERNS_MODES.join(', ')}, got "${mode}"`);
  const out = await computePatterns({
    runDir,
    mode,
    checkpoint: int(a, 'checkpoint'),
    evalSet: one(a, 'eval-set'),
    sequence: int(a, 'sequence'),
    custom: one(a, 'custom'),
    backend: (one(a, 'backend') ?? 'auto') as 'auto',
  });
  process.stdout.write(JSON.stringify(out) + '\n');
}

/**
 * `--progress json` (contracts.md §2): machine-readable progress lines on stderr, the human text moved to
 * stdout. Returns the sink, or undefined without the flag.
 */
function progressOption(a: Args): ProgressSink | undefined {
  const v = one(a, 'progress');
  if (v === undefined) return undefined;
  if (v !== 'json') fail(`--progress supports json, got "${v}"`);
  return jsonProgress();
}

/** Where a command's human text goes: stderr, or stdout when stderr carries --progress json. */
const textOut = (json: boolean) => (s: string) => (json ? process.stdout : process.stderr).write(s);

/** Runs of a sweep already complete in `root` (reused without messages): the progress count starts there. */
function completedJobs(root: string, keys: string[]): number {
  return keys.filter((k) => {
    try {
      return RunDir.open(path.join(root, k)).readRunJson<{ status?: string }>().status === 'completed';
    } catch {
      return false;
    }
  }).length;
}

function withProgress(
  display: (job: SweepJob, m: FromChildMessage) => void,
  progress?: (job: SweepJob, m: FromChildMessage) => void,
) {
  return progress
    ? (job: SweepJob, m: FromChildMessage) => {
        display(job, m);
        progress(job, m);
      }
    : display;
}

function sweepDisplay(write: (s: string) => void = say): (job: SweepJob, m: FromChildMessage) => void {
  const last = new Map<string, number>();
  return (job, m) => {
    if (m.type === 'progress') {
      if (Date.now() - (last.get(job.key) ?? 0) < 5000 && m.sequences < m.totalSequences) return;
      last.set(job.key, Date.now());
      write(`${job.key}: ${progressBar(m.sequences, m.totalSequences, `loss ${m.trainLoss.toFixed(3)}`)}\n`);
    } else if (m.type === 'started')
      write(`${job.key}: started on the ${m.engine} engine (${m.engineDetail}) → ${m.runDir}\n`);
    else if (m.type === 'finished') write(`${job.key}: ${m.status} in ${m.seconds.toFixed(0)} s\n`);
    else if (m.type === 'error') write(`${job.key}: error: ${m.message}\n`);
  };
}

/** Every stop signal (Ctrl-C, SIGTERM, SIGHUP) cancels all running children, which checkpoint. */
function stopOnSignals(): () => boolean {
  const st = onStopSignals((sig) =>
    say(`\n${sig}: stopping all runs after their current step${sig === 'SIGINT' ? ' (Ctrl-C again to abort)' : ''}…\n`),
  );
  process.on('exit', () => {
    if (st.exitCode !== undefined && !process.exitCode) process.exitCode = st.exitCode;
  });
  return () => st.signal !== null;
}

async function sweep(a: Args): Promise<void> {
  checkFlags(a, new Set(['scale', 'workers', 'out', 'seed']), 'sweep');
  const prefix = a._[1];
  if (!prefix) fail('sweep needs a preset prefix, e.g. fig5b (see `induction-lab presets`)');
  const scale = scaleOf(a);
  const chosen = experimentPresets(scale).filter((p) => p.name === prefix || p.name.startsWith(prefix + '.'));
  if (!chosen.length)
    fail(`no figure preset starts with "${prefix}" (families: fig5b, fig6, fig4b, appfig8, appfig15)`);
  const seed = int(a, 'seed');
  const jobs = chosen.map((p) => {
    const config = resolvePreset(p.name, scale);
    if (seed !== undefined) config.train.initSeed = seed;
    return { key: `${p.name}-${scale}-seed${config.train.initSeed}`, config };
  });
  const root = path.resolve(one(a, 'out') ?? path.join(defaultRunsRoot(process.cwd()), 'sweeps'));
  process.stderr.write(`${jobs.length} runs → ${root}\n`);
  const res = await runSweep(jobs, {
    root,
    workers: int(a, 'workers'),
    onMessage: sweepDisplay(),
    shouldStop: stopOnSignals(),
  });
  for (const r of res)
    process.stdout.write(
      `${r.status.padEnd(10)} ${r.reused ? '(reused) ' : ''}${r.runDir}${r.error ? `  ${r.error}` : ''}\n`,
    );
  if (res.some((r) => r.status === 'failed')) process.exitCode = 1;
}

async function subcircuits(a: Args): Promise<void> {
  checkFlags(a, new Set(['scale', 'workers', 'out', 'seed', 'sequences', 'progress']), 'subcircuits');
  const root = path.resolve(one(a, 'out') ?? path.join(defaultRunsRoot(process.cwd()), 'subcircuits'));
  const sink = progressOption(a);
  const { curves, runs } = await runSubcircuits({
    scale: scaleOf(a),
    root,
    workers: int(a, 'workers'),
    initSeed: int(a, 'seed'),
    sequences: int(a, 'sequences'),
    onMessage: withProgress(sweepDisplay(textOut(!!sink)), sink && sweepProgress(SUBCIRCUIT_SET.length, sink)),
    shouldStop: stopOnSignals(),
  });
  process.stdout.write(
    '| measures | clamped steps | learns | learning time (loss < 0.4·ln 2) | final loss | status |\n|---|---|---|---:|---:|---|\n',
  );
  for (const c of curves)
    process.stdout.write(
      `| ${c.measures} | ${c.label} | ${c.stepsLearned} | ${fmtSeq(c.learningTime)} | ${c.ys.length ? c.ys[c.ys.length - 1].toFixed(4) : '—'} | ${c.status} |\n`,
    );
  if (runs.some((r) => r.status === 'failed')) process.exitCode = 1;
}

async function measure(a: Args): Promise<void> {
  checkFlags(
    a,
    new Set([
      'checkpoint',
      'checkpoints',
      'follow',
      'workers',
      'progress',
      'what',
      'subsample',
      'backend',
      'points',
      'force',
      'json',
      'reference',
      'pt-head',
      'ih-head',
    ]),
    'measure',
  );
  if (!a._[1]) fail('measure needs a run folder');
  const progress = one(a, 'progress');
  if (progress !== undefined && progress !== 'json' && progress !== 'bar' && progress !== 'none')
    fail(`--progress takes json, bar or none, got "${progress}"`);
  if (a.flags.has('checkpoints') || a.flags.has('follow')) {
    if (a.flags.has('checkpoint'))
      fail('--checkpoint (one checkpoint) and --checkpoints / --follow (many) exclude each other');
    if (a.flags.has('points'))
      fail('--points chooses the checkpoints of paths/posthoc at one checkpoint; over training use --checkpoints');
    const { measureOverTraining } = await import('./measures/overTraining');
    const r = await measureOverTraining(
      {
        runDir: a._[1],
        checkpoints: one(a, 'checkpoints'),
        follow: a.flags.has('follow'),
        workers: int(a, 'workers'),
        what: a.flags.get('what'),
        subsample: int(a, 'subsample'),
        backend: one(a, 'backend'),
        force: a.flags.has('force'),
        reference: int(a, 'reference'),
        ptHead: one(a, 'pt-head'),
        ihHead: one(a, 'ih-head'),
        progress: (progress as 'json' | 'bar' | 'none' | undefined) ?? 'bar',
      },
      {
        out: (l) => process.stdout.write(l + '\n'),
        err: (t) => process.stderr.write(t),
        errIsTTY: process.stderr.isTTY,
      },
    );
    if (a.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
    if (r.failed.length)
      fail(
        `measures failed at ${r.failed.length} checkpoint${r.failed.length > 1 ? 's' : ''}: ${r.failed.map((f) => `${f.sequences}: ${f.error}`).join('; ')} (the others are cached; run the same command to retry)`,
      );
    if (r.stopped) process.exitCode = 130;
    return;
  }
  const { measureCommand } = await import('./measures/command');
  const r = await measureCommand(
    {
      runDir: a._[1],
      checkpoint: int(a, 'checkpoint'),
      what: a.flags.get('what'),
      subsample: int(a, 'subsample'),
      backend: one(a, 'backend'),
      points: int(a, 'points'),
      force: a.flags.has('force'),
      reference: int(a, 'reference'),
      ptHead: one(a, 'pt-head'),
      ihHead: one(a, 'ih-head'),
      workers: int(a, 'workers'),
      onProgress: progress === 'json' ? (p) => process.stderr.write(JSON.stringify(p) + '\n') : undefined,
    },
    (l) => process.stdout.write(l + '\n'),
  );
  if (a.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
}

async function reproduceCmd(a: Args): Promise<void> {
  checkFlags(
    a,
    new Set([
      'scale',
      'seeds',
      'stand-in',
      'out',
      'runs',
      'workers',
      'subsample',
      'emit',
      'no-train',
      'slurm-script',
      'progress',
    ]),
    'reproduce',
  );
  const sink = progressOption(a);
  const fig = a._[1] as FigureId;
  if (!fig || !(FIGURES as readonly string[]).includes(fig)) fail(`reproduce needs a figure: ${FIGURES.join(', ')}`);
  const scale = scaleOf(a);
  const seeds = seedsOf(a, '5');
  const standIn = one(a, 'stand-in') ?? DEFAULT_STAND_IN;
  if (!isStandIn(standIn)) fail(`--stand-in must be ${STAND_INS.join(' or ')}, got "${standIn}"`);
  const out = path.resolve(one(a, 'out') ?? path.join(process.cwd(), 'figures'));
  const runsRoot = path.resolve(one(a, 'runs') ?? path.join(defaultRunsRoot(process.cwd()), 'reproduce'));
  const emit = one(a, 'emit');
  if (emit !== undefined) {
    if (emit !== 'slurm') fail(`--emit supports slurm, got "${emit}"`);
    const files = slurmFiles(fig, scale, seeds, runsRoot, out, {
      node: process.execPath,
      cli: findCliBin(__dirname),
      standIn,
    });
    writeSlurmFiles(files);
    process.stdout.write(
      `wrote ${files.paths.script} (${files.configs.length} array tasks; its first task chains ${path.basename(files.paths.merge)}), ` +
        `${files.configs.length} configs in ${files.paths.configs}; logs go to ${files.paths.logs}\nsubmit from any folder: sbatch ${files.paths.script}\n`,
    );
    return;
  }
  const keys = figureJobs(fig, scale, seeds).map((j) => j.key);
  const progress = sink && sweepProgress(keys.length, sink, completedJobs(runsRoot, keys));
  const r = await reproduceFigure(fig, {
    scale,
    seeds,
    standIn,
    out,
    runsRoot,
    workers: int(a, 'workers'),
    subsample: int(a, 'subsample'),
    train: !a.flags.has('no-train'),
    slurmScript: one(a, 'slurm-script'),
    onMessage: withProgress(sweepDisplay(textOut(!!sink)), progress),
    shouldStop: stopOnSignals(),
    log: (l) => (sink ? textOut(true)(l + '\n') : say(l + '\n')),
  });
  process.stdout.write(`${r.figure.title}\n${JSON.stringify(r.numbers, null, 1)}\nwrote ${r.files.join(', ')}\n`);
}

async function llc(a: Args): Promise<void> {
  const known = [
    'checkpoints',
    'per-head',
    'heads',
    'calibrate',
    'clean',
    'follow',
    'force',
    'json',
    'epsilon',
    'gamma',
    'nbeta',
    'chains',
    'draws',
    'burn-in',
    'steps-between-draws',
    'batch-size',
    'seed',
    'init-batches',
    'epsilons',
    'nbeta-multipliers',
    'workers',
    'engine',
    'progress',
    'paired',
  ];
  checkFlags(a, new Set(known), 'llc');
  if (!a._[1]) fail('llc needs a run folder');
  const { llcCommand } = await import('./llc/command');
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nstopping after the current SGLD step (Ctrl-C again to abort)…\n');
  });
  const r = await llcCommand(
    {
      runDir: a._[1],
      checkpoints: one(a, 'checkpoints'),
      perHead: a.flags.has('per-head'),
      heads: one(a, 'heads'),
      calibrate: a.flags.has('calibrate'),
      clean: a.flags.has('clean'),
      follow: a.flags.has('follow'),
      force: a.flags.has('force'),
      epsilon: one(a, 'epsilon'),
      gamma: one(a, 'gamma'),
      nbeta: one(a, 'nbeta'),
      chains: one(a, 'chains'),
      draws: one(a, 'draws'),
      burnIn: one(a, 'burn-in'),
      stepsBetweenDraws: one(a, 'steps-between-draws'),
      batchSize: one(a, 'batch-size'),
      seed: one(a, 'seed'),
      initBatches: one(a, 'init-batches'),
      epsilons: one(a, 'epsilons'),
      nbetaMultipliers: one(a, 'nbeta-multipliers'),
      workers: one(a, 'workers'),
      engine: one(a, 'engine'),
      progress: one(a, 'progress'),
      paired: a.flags.has('paired'),
    },
    { out: (l) => process.stdout.write(l + '\n'), shouldStop: () => stop },
  );
  if (a.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
}

async function dynamics(a: Args): Promise<void> {
  checkFlags(a, new Set(['probe', 'patterns', 'clean', 'components', 'json', 'progress', 'seed']), 'dynamics');
  if (!a._[1]) fail('dynamics needs a run folder');
  const { dynamicsCommand } = await import('./dynamics/command');
  const r = await dynamicsCommand(
    {
      runDir: a._[1],
      probe: one(a, 'probe'),
      patterns: a.flags.has('patterns'),
      clean: a.flags.has('clean'),
      components: one(a, 'components'),
      progress: one(a, 'progress'),
      seed: one(a, 'seed'),
    },
    { out: (l) => process.stdout.write(l + '\n') },
  );
  if (a.flags.has('json')) process.stdout.write(JSON.stringify(r) + '\n');
}

function seedsOf(a: Args, fallback: string): number[] {
  const text = one(a, 'seeds') ?? fallback;
  if (!/^\d+(,\d+)*$/.test(text)) fail(`--seeds takes a comma list of whole numbers, got "${text}"`);
  return [...new Set(text.split(',').map(Number))];
}

async function findingsCmd(a: Args): Promise<void> {
  checkFlags(
    a,
    new Set([
      'scale',
      'seeds',
      'stand-ins',
      'only',
      'out',
      'runs',
      'doc',
      'workers',
      'subsample',
      'no-train',
      'progress',
    ]),
    'findings',
  );
  const { findingsCommand, parseStandIns, selectFindings } = await import('./science/findings');
  const scale = one(a, 'scale') ?? 'fast';
  if (scale !== 'fast' && scale !== 'paper' && scale !== 'smoke')
    fail(`--scale must be fast, paper or smoke, got "${scale}"`);
  const progress = one(a, 'progress');
  if (progress !== undefined && progress !== 'json') fail(`--progress supports json, got "${progress}"`);
  let standIns, only;
  try {
    standIns = parseStandIns(one(a, 'stand-ins'));
    only = one(a, 'only')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    selectFindings(only);
  } catch (e) {
    fail((e as Error).message);
  }
  const doc = one(a, 'doc');
  if (doc && !fs.existsSync(doc)) fail(`--doc ${doc}: no such file`);
  await findingsCommand(
    {
      scale,
      seeds: seedsOf(a, '5,6,7,8,9'),
      standIns,
      only,
      doc,
      train: !a.flags.has('no-train'),
      out: path.resolve(one(a, 'out') ?? path.join(process.cwd(), 'findings')),
      runsRoot: path.resolve(one(a, 'runs') ?? path.join(defaultRunsRoot(process.cwd()), 'reproduce')),
      workers: int(a, 'workers'),
      subsample: int(a, 'subsample'),
      onMessage: progress ? undefined : sweepDisplay(),
      shouldStop: stopOnSignals(),
      log: (l) => {
        if (!progress) say(l + '\n');
      },
      progress: progress ? (p) => process.stderr.write(JSON.stringify(p) + '\n') : undefined,
    },
    (text) => process.stdout.write(text),
  );
}

async function featuresCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['file', 'feature-seed']), 'features');
  const { featureColumns, featureTable } = await import('./data/featureReport');
  process.stdout.write(featureTable(await featureColumns(a.flags.get('file') ?? [], int(a, 'feature-seed') ?? 0)));
}

async function exportCmd(a: Args): Promise<void> {
  checkFlags(a, new Set(['tensorboard', 'format', 'out']), 'export');
  if (!a._[1]) fail('export needs a run folder');
  if (a._.length > 3) fail(`export takes one run folder and one output, got ${a._.slice(1).join(' ')}`);
  const { exportCommand } = await import('./export/command');
  await exportCommand(
    { run: a._[1], tensorboard: one(a, 'tensorboard'), format: one(a, 'format'), out: one(a, 'out') ?? a._[2] },
    {
      say: (l) => process.stdout.write(l + '\n'),
      note: (l) => process.stderr.write(l + '\n'),
      stdout: (t) => process.stdout.write(t),
    },
  );
}

async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const cmd = a._[0];
  if (!cmd || a.flags.has('help') || cmd === 'help') {
    process.stdout.write(HELP);
    return;
  }
  switch (cmd) {
    case 'train':
      return train(a);
    case 'presets': {
      const all = presetNames(scaleOf(a));
      const w = Math.max(...all.map((p) => p.name.length));
      for (const p of all)
        process.stdout.write(`${p.name.padEnd(w)}  ${p.name === DEFAULT_PRESET ? '(default) ' : ''}${p.description}\n`);
      return;
    }
    case 'forward':
      return forwardCmd(a);
    case 'patterns':
      return patternsCmd(a);
    case 'measure':
      return measure(a);
    case 'sweep':
      return sweep(a);
    case 'reproduce':
      return reproduceCmd(a);
    case 'subcircuits':
      return subcircuits(a);
    case 'export':
      return exportCmd(a);
    case 'measure-worker': {
      // Internal: a worker process of `measure --checkpoints` (it talks to its parent over IPC only).
      const { measureWorkerMain } = await import('./measures/overTraining');
      return measureWorkerMain();
    }
    case 'llc':
      return llc(a);
    case 'dynamics':
      return dynamics(a);
    case 'findings':
      return findingsCmd(a);
    case 'features':
      return featuresCmd(a);
    default:
      fail(
        `unknown command "${cmd}" (train, presets, forward, patterns, measure, sweep, subcircuits, reproduce, export, llc, dynamics, findings, features; see --help)`,
      );
  }
}

main(process.argv.slice(2)).catch((e: Error) => fail(e.message.split('\n')[0]));
