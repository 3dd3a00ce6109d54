/**
 * `induction-lab`: the engine without VS Code. Subcommands: train, presets, forward. Errors are one
 * line on stderr with a non-zero exit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { presetConfig, resolveRunConfig, PRESETS, DEFAULT_PRESET, RunConfig } from './train/runConfig';
import { runTraining } from './train/trainer';
import { RunDir, makeRunId, defaultRunsRoot } from './io';
import { parseClampFlag } from './clamps/spec';
import { forwardJson } from './inspect';
import { summarizeRun } from './report';
import type { FromChildMessage } from '../shared/protocol';

const HELP = `induction-lab — train and inspect the induction-head model of "What needs to go right for an induction head?"

Usage:
  induction-lab train [--preset NAME | --config FILE] [--out DIR] [--seed N] [--sequences N] [--clamp SPEC]... [--backend auto|wasm|cpu|tensorflow] [--resume RUN_DIR]
  induction-lab presets
  induction-lab forward CHECKPOINT --input FILE
  induction-lab --help

train      Trains a model in this process and writes a run folder (run.json, metrics.jsonl,
           checkpoints/seq-N.safetensors, report.md). Default preset: ${DEFAULT_PRESET}.
           --config FILE   JSON run config, applied on top of --preset (or the paper's defaults)
           --out DIR       folder that holds run folders (default .induction-lab/runs)
           --seed N        model init seed (train.initSeed; the paper's main seed is 5)
           --sequences N   total training sequences (train.sequences)
           --clamp SPEC    add a clamp, e.g. ablate:L2H1,L2H2  or  ablate:1:0,1:1@from=32000,until=64000
                           heads: L<layer>H<head> (paper layers from 1) or <layer>:<head> (code layers from 0)
           --resume DIR    continue a stopped run from its last checkpoint
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
      const boolean = k === 'help';
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

function progressBar(done: number, total: number, extra: string): string {
  const w = 30, f = total > 0 ? Math.min(1, done / total) : 1;
  return `[${'#'.repeat(Math.round(f * w)).padEnd(w, '.')}] ${(f * 100).toFixed(0).padStart(3)}% ${extra}`;
}

async function train(a: Args): Promise<void> {
  const known = new Set(['preset', 'config', 'out', 'seed', 'sequences', 'clamp', 'backend', 'resume', 'name']);
  for (const k of a.flags.keys()) if (!known.has(k)) fail(`unknown option --${k} for train (see --help)`);
  let config: RunConfig;
  let runDir: RunDir;
  const resumeDir = one(a, 'resume');
  if (resumeDir) {
    runDir = RunDir.open(resumeDir);
    config = resolveRunConfig(runDir.readRunJson<{ config: unknown }>().config);
  } else {
    const base = presetConfig(one(a, 'preset') ?? DEFAULT_PRESET);
    let raw: Record<string, unknown> = {};
    const file = one(a, 'config');
    if (file) {
      let text: string;
      try { text = fs.readFileSync(file, 'utf8'); } catch (e) { fail(`cannot read config ${file}: ${(e as NodeJS.ErrnoException).code}`); }
      try { raw = JSON.parse(text); } catch (e) { fail(`config ${file} is not valid JSON: ${(e as Error).message}`); }
    }
    config = resolveRunConfig(raw, base);
    const seed = int(a, 'seed'), seqs = int(a, 'sequences');
    if (seed !== undefined) config.train.initSeed = seed;
    if (seqs !== undefined) config.train.sequences = seqs;
    const backend = one(a, 'backend');
    if (backend) config.train.backend = backend as RunConfig['train']['backend'];
    if (one(a, 'name')) config.name = one(a, 'name')!;
    for (const c of a.flags.get('clamp') ?? []) config.clamps.push(parseClampFlag(c, config.model));
    config = resolveRunConfig(config as unknown as Record<string, unknown>, config);
    const root = path.resolve(one(a, 'out') ?? defaultRunsRoot(process.cwd()));
    runDir = RunDir.create(root, makeRunId(config.name));
  }
  let stop = false;
  process.on('SIGINT', () => { if (stop) process.exit(130); stop = true; process.stderr.write('\nstopping after this step (Ctrl-C again to abort)…\n'); });
  const tty = process.stderr.isTTY;
  let lastLine = 0;
  const emit = (m: FromChildMessage) => {
    if (m.type === 'started') process.stderr.write(`run ${m.runId} → ${m.runDir}\nbackend: ${m.backend}${m.backendNotes.length ? ` (skipped ${m.backendNotes.join('; ')})` : ''}\n`);
    else if (m.type === 'progress') {
      const line = progressBar(m.sequences, m.totalSequences, `${m.sequences}/${m.totalSequences} seq · ${m.stepsPerSecond.toFixed(0)} steps/s · loss ${m.trainLoss.toFixed(3)}`);
      if (tty) process.stderr.write(`\r${line}`);
      else if (Date.now() - lastLine > 5000 || m.sequences >= m.totalSequences) { process.stderr.write(line + '\n'); lastLine = Date.now(); }
    } else if (m.type === 'metrics') {
      const r = m.record;
      const is = r.inductionStrength.length ? ` maxIS ${Math.max(...r.inductionStrength).toFixed(2)}` : '';
      process.stderr.write(`${tty ? '\r\x1b[K' : ''}eval @ ${r.sequences} seq: train loss ${r.eval.fsl_train.loss.toFixed(3)} acc ${r.eval.fsl_train.acc.toFixed(3)}${is}\n`);
    } else if (m.type === 'warning') process.stderr.write(`warning: ${m.message}\n`);
  };
  const fin = await runTraining(config, runDir, { emit, shouldStop: () => stop }, !!resumeDir);
  if (tty) process.stderr.write('\n');
  const report = summarizeRun(runDir);
  process.stdout.write(report + '\n');
  process.stderr.write(`${fin.status} in ${fin.seconds.toFixed(1)} s · report: ${path.join(runDir.path, 'report.md')}\n`);
}

async function forwardCmd(a: Args): Promise<void> {
  const ckpt = a._[1];
  const input = one(a, 'input');
  if (!ckpt) fail('forward needs a checkpoint path');
  if (!input) fail('forward needs --input FILE');
  let raw: unknown;
  try { raw = JSON.parse(fs.readFileSync(input, 'utf8')); } catch (e) { fail(`cannot read input ${input}: ${(e as Error).message}`); }
  const out = await forwardJson(ckpt, raw, (one(a, 'backend') ?? 'auto') as 'auto');
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const cmd = a._[0];
  if (!cmd || a.flags.has('help') || cmd === 'help') { process.stdout.write(HELP); return; }
  switch (cmd) {
    case 'train': return train(a);
    case 'presets':
      for (const [n, p] of Object.entries(PRESETS)) process.stdout.write(`${n.padEnd(8)} ${n === DEFAULT_PRESET ? '(default) ' : ''}${p.description}\n`);
      return;
    case 'forward': return forwardCmd(a);
    default: fail(`unknown command "${cmd}" (train, presets, forward; see --help)`);
  }
}

main(process.argv.slice(2)).catch((e: Error) => fail(e.message.split('\n')[0]));
