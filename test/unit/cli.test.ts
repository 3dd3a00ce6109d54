/** The `induction-lab` CLI as a user runs it: exit codes, one-line errors, a run folder, forward's JSON. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeSafetensors } from '../../src/engine/io';
import { DEFAULT_STAND_IN } from '../../src/engine/science/reproduce';

const ROOT = path.join(__dirname, '..', '..');
function cli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/engine/cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'il-cli-'));

test('unknown preset, unknown option and malformed config fail with one clear line and exit 2', () => {
  let r = cli(['train', '--preset', 'nope']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^induction-lab: unknown preset "nope" \(known: paper, fast, demo, smoke, and fig5b.*/);
  r = cli(['train', '--frobnicate', '1']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown option --frobnicate/);
  const dir = tmp();
  fs.writeFileSync(path.join(dir, 'bad.json'), '{"train": {"lr": ');
  r = cli(['train', '--config', path.join(dir, 'bad.json')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /config .*bad\.json is not valid JSON/);
  r = cli(['train', '--clamp', 'ablate:2:9', '--out', dir]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown head "2:9"/);
  r = cli(['train', '--preset', 'smoke', '--out', path.join(dir, 'bad.json', 'x')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /cannot create run folder .*ENOTDIR/);
});

test('presets and --help list what exists', () => {
  const r = cli(['presets']);
  assert.equal(r.code, 0);
  for (const p of ['paper', 'fast', 'demo', 'smoke']) assert.match(r.out, new RegExp(`^${p}\\s`, 'm'));
  assert.match(cli(['--help']).out, /induction-lab train/);
});

test('train writes a run folder with a report; forward inspects its checkpoint', () => {
  const dir = tmp();
  const cfg = path.join(dir, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify({ data: { evalSize: 20 }, train: { evalEvery: 64, checkpointEvery: 64, backend: 'cpu' } }));
  const r = cli(['train', '--preset', 'smoke', '--config', cfg, '--sequences', '128', '--clamp', 'ablate:L2H1,from=64', '--out', dir]);
  assert.equal(r.code, 0, r.err);
  const [run] = fs.readdirSync(dir).filter((f) => f !== 'cfg.json');
  const runDir = path.join(dir, run);
  assert.match(r.out, /\| train \(`fsl_train`\) \|/);
  assert.match(r.err, /backend: tfjs \(cpu\)/);
  assert.doesNotMatch(r.err, /Hi, looks like/);
  const runJson = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
  assert.equal(runJson.status, 'completed');
  assert.deepEqual(runJson.config.clamps, [{ kind: 'ablate', heads: ['L2H1'], from: 64 }]);
  assert.equal(fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').length, 3);
  assert.ok(fs.existsSync(path.join(runDir, 'report.md')) && fs.existsSync(path.join(runDir, 'loss.svg')));
  const ckpt = path.join(runDir, 'checkpoints', 'seq-128.safetensors');
  const { tensors } = decodeSafetensors(fs.readFileSync(ckpt), ckpt);
  assert.deepEqual(tensors.get('blocks.1.attn.qkv.weight')!.shape, [192, 64]);
  assert.deepEqual(tensors.get('embed.exemplar.weight')!.shape, [64, 512]);
  assert.deepEqual(tensors.get('embed.label.weight')!.shape, [64, 5]);

  const input = path.join(dir, 'in.json');
  const v = (k: number) => Array.from({ length: 512 }, (_, i) => Math.abs(Math.sin(i * (k + 1))));
  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v(0), v(1), v(0)], [v(2), v(3), v(3)]], labels: [[0, 1], [2, 4, 4]] }));
  const f = cli(['forward', ckpt, '--input', input, '--backend', 'cpu']);
  assert.equal(f.code, 0, f.err);
  const out = JSON.parse(f.out);
  assert.equal(out.logits.length, 2);
  assert.equal(out.logits[0].length, 5);
  assert.equal(out.patterns.length, 2, 'one entry per layer');
  assert.equal(out.patterns[0].length, 2, 'per sequence');
  assert.equal(out.patterns[0][0].length, 8, 'per head');
  for (const row of out.patterns[1][1][3]) assert.ok(Math.abs(row.reduce((s: number, x: number) => s + x, 0) - 1) < 1e-5, 'rows sum to 1');
  assert.equal(out.patterns[0][0][0][0][1], 0, 'causal: token 0 cannot see token 1');

  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v(0), v(1)]], labels: [[0, 1]] }));
  const bad = cli(['forward', ckpt, '--input', input]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /input\.exemplars\[0\] must hold 3 vectors/);
  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v(0), v(1), v(0)]], labels: [[0, 7]] }));
  assert.match(cli(['forward', ckpt, '--input', input]).err, /input\.labels\[0\]\[1\] must be an integer label in \[0, 4\], got 7/);
  const cut = path.join(dir, 'cut.safetensors');
  fs.writeFileSync(cut, fs.readFileSync(ckpt).subarray(0, 1000));
  const c = cli(['forward', cut, '--input', input]);
  assert.equal(c.code, 2);
  assert.match(c.err, /cut\.safetensors/);
});

test('reproduce draws the toy-model figure and emits a Slurm job array for a figure\'s runs', () => {
  const dir = tmp();
  const r = cli(['reproduce', 'fig5a', '--out', dir]);
  assert.equal(r.code, 0, r.err);
  const data = JSON.parse(fs.readFileSync(path.join(dir, 'fig5a', 'data.json'), 'utf8'));
  const it = data.numbers.iterationsTo10pct;
  assert.ok(it.none > it.c && it.c > it['b+c'], `clamping factors shortens the plateau: ${JSON.stringify(it)}`);
  assert.match(fs.readFileSync(path.join(dir, 'fig5a', 'figure.svg'), 'utf8'), /^<svg/);
  assert.match(fs.readFileSync(path.join(dir, 'fig5a', 'data.csv'), 'utf8'), /^panel,series,x,y,seed\n/);
  const s = cli(['reproduce', 'fig5b', '--scale', 'paper', '--emit', 'slurm', '--out', dir, '--runs', path.join(dir, 'runs')]);
  assert.equal(s.code, 0, s.err);
  const script = fs.readFileSync(path.join(dir, 'fig5b', 'slurm.sh'), 'utf8');
  assert.match(script, /#SBATCH --job-name=induction-lab-fig5b/);
  assert.match(script, new RegExp(`KEYS=\\(fig5b\\.noclamp-paper-${DEFAULT_STAND_IN}-seed5 .*fig5b\\.perfect_l1_and_copy-paper-${DEFAULT_STAND_IN}-seed5\\)`));
  assert.match(script, new RegExp(`reproduce fig5b --scale paper --seeds 5 --stand-in ${DEFAULT_STAND_IN} `));
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'fig5b', 'slurm-configs', `fig5b.perfect_l1-paper-${DEFAULT_STAND_IN}-seed5.json`), 'utf8'));
  assert.equal(cfg.data.standIn, DEFAULT_STAND_IN);
  assert.equal(cfg.train.lr, 1e-5);
  assert.equal(cfg.train.sequences, 600_000);
  assert.deepEqual(cfg.clamps.map((c: { kind: string }) => c.kind), ['ablate', 'layer1']);
  assert.match(cli(['reproduce', 'fig99']).err, /reproduce needs a figure: fig3a, fig3b/);
});
