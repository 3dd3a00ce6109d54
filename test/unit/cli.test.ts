/** The `induction-lab` CLI as a user runs it: exit codes, one-line errors, a run folder, forward's JSON. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors, encodeNpy } from '../../src/engine/io';
import { resolvePreset, presetNames } from '../../src/engine/science/presets';
import { encodeCheckpoint } from '../../src/engine/model/checkpoint';
import { initParams } from '../../src/engine/model/params';
import { DEFAULT_STAND_IN } from '../../src/engine/science/reproduce';
import { cliArgv } from './procHelpers';
import { parseClampArg } from '../../src/engine/clampArg';

const ROOT = path.join(__dirname, '..', '..');
function cli(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
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
  // Every preset the registry resolves, one line each: its name, then its description.
  const names = presetNames();
  assert.ok(names.length > 4, 'the figure families are listed too');
  for (const p of names) {
    const line = r.out.split('\n').find((l) => l.split(/\s+/)[0] === p.name);
    assert.ok(line, `preset ${p.name} listed`);
    assert.ok(line.includes(p.description), `${p.name}'s description`);
    assert.doesNotThrow(() => resolvePreset(p.name), `${p.name} resolves`);
  }
  // Every command the dispatcher handles (read from cli.ts, not from the help) has a usage line in --help.
  const src = fs.readFileSync(path.join(ROOT, 'src/engine/cli.ts'), 'utf8');
  const commands = [...src.matchAll(/^\s*case '([a-z-]+)':/gm)].map((m) => m[1]).filter((c) => c !== 'measure-worker');
  assert.ok(commands.includes('train') && commands.includes('measure'), commands.join(', '));
  const help = cli(['--help']).out;
  for (const c of commands) assert.match(help, new RegExp(`^\\s*induction-lab ${c}\\b`, 'm'), `--help shows ${c}`);
});

test('train writes a run folder with a report; forward inspects its checkpoint', () => {
  const dir = tmp();
  const cfg = path.join(dir, 'cfg.json');
  fs.writeFileSync(
    cfg,
    JSON.stringify({ data: { evalSize: 20 }, train: { evalEvery: 64, checkpointEvery: 64, backend: 'cpu' } }),
  );
  const r = cli([
    'train',
    '--preset',
    'smoke',
    '--config',
    cfg,
    '--sequences',
    '128',
    '--clamp',
    'ablate:L2H1,from=64',
    '--out',
    dir,
  ]);
  assert.equal(r.code, 0, r.err);
  const [run] = fs.readdirSync(dir).filter((f) => f !== 'cfg.json');
  const runDir = path.join(dir, run);
  assert.match(r.out, /\| train \(`fsl_train`\) \|/);
  // train.backend chooses the TF.js backend only; the fast engine still trains (contracts.md §1).
  assert.match(
    r.err,
    /engine: fast \(WebAssembly SIMD( \(relaxed\))?\); train\.backend "cpu" applies to the TensorFlow\.js engine only/,
  );
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
  fs.writeFileSync(
    input,
    JSON.stringify({
      exemplars: [
        [v(0), v(1), v(0)],
        [v(2), v(3), v(3)],
      ],
      labels: [
        [0, 1],
        [2, 4, 4],
      ],
    }),
  );
  const f = cli(['forward', ckpt, '--input', input, '--backend', 'cpu']);
  assert.equal(f.code, 0, f.err);
  const out = JSON.parse(f.out);
  assert.equal(out.logits.length, 2);
  assert.equal(out.logits[0].length, 5);
  assert.equal(out.patterns.length, 2, 'one entry per layer');
  assert.equal(out.patterns[0].length, 2, 'per sequence');
  assert.equal(out.patterns[0][0].length, 8, 'per head');
  for (const row of out.patterns[1][1][3])
    assert.ok(Math.abs(row.reduce((s: number, x: number) => s + x, 0) - 1) < 1e-5, 'rows sum to 1');
  assert.equal(out.patterns[0][0][0][0][1], 0, 'causal: token 0 cannot see token 1');

  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v(0), v(1)]], labels: [[0, 1]] }));
  const bad = cli(['forward', ckpt, '--input', input]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /input\.exemplars\[0\] must hold 3 vectors/);
  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v(0), v(1), v(0)]], labels: [[0, 7]] }));
  assert.match(
    cli(['forward', ckpt, '--input', input]).err,
    /input\.labels\[0\]\[1\] must be an integer label in \[0, 4\], got 7/,
  );
  const cut = path.join(dir, 'cut.safetensors');
  fs.writeFileSync(cut, fs.readFileSync(ckpt).subarray(0, 1000));
  const c = cli(['forward', cut, '--input', input]);
  assert.equal(c.code, 2);
  assert.match(c.err, /cut\.safetensors/);
});

test("reproduce draws the toy-model figure and emits a Slurm job array for a figure's runs", () => {
  const dir = tmp();
  const r = cli(['reproduce', 'fig5a', '--out', dir]);
  assert.equal(r.code, 0, r.err);
  const data = JSON.parse(fs.readFileSync(path.join(dir, 'fig5a', 'data.json'), 'utf8'));
  const it = data.numbers.iterationsTo10pct;
  assert.ok(it.none > it.c && it.c > it['b+c'], `clamping factors shortens the plateau: ${JSON.stringify(it)}`);
  assert.match(fs.readFileSync(path.join(dir, 'fig5a', 'figure.svg'), 'utf8'), /^<svg/);
  assert.match(fs.readFileSync(path.join(dir, 'fig5a', 'data.csv'), 'utf8'), /^panel,series,x,y,seed\n/);
  const runs = path.join(dir, 'runs');
  const s = cli(['reproduce', 'fig5b', '--scale', 'paper', '--emit', 'slurm', '--out', dir, '--runs', runs]);
  assert.equal(s.code, 0, s.err);
  const file = path.join(dir, 'fig5b', 'slurm.sh');
  const script = fs.readFileSync(file, 'utf8');
  assert.match(script, /#SBATCH --job-name=induction-lab-fig5b\n/);
  assert.match(script, /#SBATCH --array=0-5\n/, 'the array range is in the header: a plain `sbatch slurm.sh` works');
  assert.match(script, /#SBATCH --time=\d\d:\d\d:\d\d\n/);
  assert.match(script, /#SBATCH --mem=\d+G\n/);
  assert.ok(script.includes(`#SBATCH --chdir=${path.join(dir, 'fig5b')}\n`));
  assert.ok(
    script.includes(`#SBATCH --output=${path.join(dir, 'fig5b', 'slurm-logs')}/%x-%A_%a.out\n`),
    'logs under the output folder',
  );
  assert.ok(
    fs.statSync(path.join(dir, 'fig5b', 'slurm-logs')).isDirectory(),
    'Slurm does not create the log folder itself',
  );
  assert.match(
    script,
    new RegExp(
      `KEYS=\\('fig5b\\.noclamp-paper-${DEFAULT_STAND_IN}-seed5' .*'fig5b\\.perfect_l1_and_copy-paper-${DEFAULT_STAND_IN}-seed5'\\)`,
    ),
  );
  assert.doesNotMatch(script, /npx/);
  // The node that emitted it and this installation's bin file, exec'ed so scancel's SIGTERM reaches the training.
  assert.ok(script.includes(`NODE='${process.execPath}'`));
  assert.ok(script.includes(`CLI='${path.join(ROOT, 'bin', 'induction-lab.js')}'`));
  assert.ok(
    script.includes(
      `exec "$NODE" "$CLI" train --config '${path.join(dir, 'fig5b', 'slurm-configs')}/'"$KEY".json --out '${runs}' --run-id "$KEY"`,
    ),
  );
  assert.match(
    script,
    /if \[ "\$SLURM_ARRAY_TASK_ID" = "\$\{SLURM_ARRAY_TASK_MIN:-0\}" \]; then\n {2}sbatch --dependency=afterany:"\$SLURM_ARRAY_JOB_ID" '[^']*slurm-merge\.sh'/,
  );
  const merge = fs.readFileSync(path.join(dir, 'fig5b', 'slurm-merge.sh'), 'utf8');
  for (const re of [
    /#SBATCH --time=\d\d:\d\d:\d\d\n/,
    /#SBATCH --mem=\d+G\n/,
    /#SBATCH --output=.*slurm-logs\/%x-%j\.out\n/,
    new RegExp(
      `\\nexec '.*' reproduce fig5b --scale paper --seeds 5 --stand-in ${DEFAULT_STAND_IN} --runs '.*' --out '.*' --no-train --slurm-script '.*slurm\\.sh'\\n$`,
    ),
  ]) {
    assert.match(merge, re);
  }
  // Outside Slurm, or with an index the array does not have, the script says so (before starting node).
  const env = { ...process.env, SLURM_ARRAY_TASK_ID: '' };
  let b = spawnSync('bash', [file], { encoding: 'utf8', env });
  assert.equal(b.status, 2);
  assert.match(b.stderr, /^induction-lab: submit this script with sbatch \(it is a job array over 6 runs\)\n$/);
  b = spawnSync('bash', [file], { encoding: 'utf8', env: { ...env, SLURM_ARRAY_TASK_ID: '6' } });
  assert.equal(b.status, 2);
  assert.match(b.stderr, /array index 6 is out of range: fig5b has runs 0-5/);
  const cfg = JSON.parse(
    fs.readFileSync(
      path.join(dir, 'fig5b', 'slurm-configs', `fig5b.perfect_l1-paper-${DEFAULT_STAND_IN}-seed5.json`),
      'utf8',
    ),
  );
  assert.equal(cfg.data.standIn, DEFAULT_STAND_IN);
  assert.equal(cfg.train.lr, 1e-5);
  assert.equal(cfg.train.sequences, 600_000);
  assert.deepEqual(
    cfg.clamps.map((c: { kind: string }) => c.kind),
    ['ablate', 'layer1'],
  );
  // The merge job trains nothing: it names the runs that are missing and how to train them.
  const m = cli([
    'reproduce',
    'fig5b',
    '--scale',
    'paper',
    '--out',
    dir,
    '--runs',
    runs,
    '--no-train',
    '--slurm-script',
    file,
  ]);
  assert.equal(m.code, 2);
  assert.match(
    m.err,
    new RegExp(
      `^induction-lab: 6 of 6 run\\(s\\) are not complete: #0 fig5b\\.noclamp-paper-${DEFAULT_STAND_IN}-seed5 \\(missing\\), #1 .*; train them first: sbatch --array=0,1,2,3,4,5 .*slurm\\.sh\\n$`,
    ),
  );
  assert.ok(!fs.existsSync(path.join(dir, 'fig5b', 'figure.svg')), 'no figure from missing runs');
  assert.match(cli(['reproduce', 'fig99']).err, /reproduce needs a figure: fig3a, fig3b/);
});

test('errors found before training name the problem in one line and leave no run folder', () => {
  const dir = tmp();
  const out = path.join(dir, 'runs');
  const cfg = (name: string, c: unknown) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, JSON.stringify(c));
    return p;
  };
  const narrow = path.join(dir, 'narrow.npy');
  fs.writeFileSync(narrow, encodeNpy([1623, 5, 16], new Float32Array(1623 * 5 * 16).fill(0.5)));
  const cases: Array<[string[], RegExp]> = [
    [
      ['--config', cfg('missing.json', { data: { features: path.join(dir, 'nope.npy') } })],
      /^induction-lab: feature file not found: .*nope\.npy\n$/,
    ],
    [
      ['--config', cfg('narrow.json', { data: { features: narrow } })],
      /^induction-lab: features in .*narrow\.npy have 16 values per exemplar but model\.inputDim is 512: set model\.inputDim to 16\n$/,
    ],
    [['--sequences', '0'], /^induction-lab: train\.sequences must be an integer in \[1, 10000000000\], got 0\n$/],
    [
      ['--clamp', 'prev-token:L1H2@-1'],
      /^induction-lab: --clamp "prev-token:L1H2@-1": strength must be a number in \[0, 1\], got -1\n$/,
    ],
    [['--clamp', 'prev-token:L1H2@abc'], /^induction-lab: --clamp "prev-token:L1H2@abc": "@abc" must be a number\n$/],
  ];
  for (const [args, re] of cases) {
    const r = cli(['train', '--preset', 'smoke', '--out', out, '--run-id', 'x', ...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, re);
    assert.ok(!fs.existsSync(path.join(out, 'x')), `no run folder after ${args.join(' ')}`);
  }
  for (const cmd of [
    ['sweep', 'fig5b', '--wrokers', '2'],
    ['subcircuits', '--wrokers', '2'],
  ]) {
    const r = cli([...cmd, '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.err, new RegExp(`^induction-lab: unknown option --wrokers for ${cmd[0]} \\(see --help\\)\\n$`));
  }
});

test('a length that is not whole batches is rounded up with a note; --resume and --run-id agree on a finished run', () => {
  const dir = tmp();
  const r = cli(['train', '--preset', 'smoke', '--sequences', '40', '--out', dir, '--run-id', 'r']);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /warning: train\.sequences = 40 is not a multiple of the batch size 32: training 64 sequences \(2 steps\)/,
  );
  assert.match(r.err, /64\/64 seq/);
  assert.doesNotMatch(r.err, /\/40 seq/);
  const run = path.join(dir, 'r');
  const metrics = fs.readFileSync(path.join(run, 'metrics.jsonl'));
  for (const args of [
    ['--preset', 'smoke', '--sequences', '40', '--out', dir, '--run-id', 'r'],
    ['--resume', run],
  ]) {
    const again = cli(['train', ...args]);
    assert.equal(again.code, 0, again.err);
    assert.equal(again.err, `${run} is already complete; nothing to do\n`);
  }
  assert.ok(fs.readFileSync(path.join(run, 'metrics.jsonl')).equals(metrics), 'nothing appended');
  const other = cli(['train', '--preset', 'smoke', '--sequences', '40', '--seed', '7', '--out', dir, '--run-id', 'r']);
  assert.equal(other.code, 2);
  assert.match(
    other.err,
    /^induction-lab: run folder .*r holds a run with another config \(train\.initSeed: 5 → 7\); choose another --run-id or delete the folder\n$/,
  );
});

test('forward warns about non-finite weights and names a model_config that is not JSON', () => {
  const dir = tmp();
  const c = resolvePreset('smoke').model;
  const params = initParams(c, 1);
  params['blocks.0.attn.qkv.weight'][3] = NaN;
  const nan = path.join(dir, 'nan.safetensors');
  fs.writeFileSync(nan, encodeCheckpoint({ config: c, sequences: 0, params }));
  const input = path.join(dir, 'in.json');
  const v = Array.from({ length: 512 }, (_, i) => (i % 7) / 7);
  fs.writeFileSync(input, JSON.stringify({ exemplars: [[v, v, v]], labels: [[0, 1]] }));
  const r = cli(['forward', nan, '--input', input, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err,
    /^induction-lab: warning: .*nan\.safetensors has non-finite weights \(NaN or ±Infinity\) in blocks\.0\.attn\.qkv\.weight: its outputs are not numbers \(null in the JSON\)\n$/,
  );
  const bad = path.join(dir, 'bad-meta.safetensors');
  fs.writeFileSync(
    bad,
    encodeSafetensors(
      { w: { dtype: 'F32', shape: [1], data: new Float32Array(1) } },
      { model_config: '{"dModel": 64,' },
    ),
  );
  const b = cli(['forward', bad, '--input', input]);
  assert.equal(b.code, 2);
  assert.match(
    b.err,
    /^induction-lab: .*bad-meta\.safetensors: model_config in the safetensors metadata is not valid JSON \(/,
  );
});

test('a --clamp error names the flag and the value given (not the clamps[0] the parser validates it as)', () => {
  const m = { depth: 2, numHeads: 8, contextLen: 2 };
  const err = (t: string) => {
    try {
      parseClampArg(t, m);
    } catch (e) {
      return (e as Error).message;
    }
    return '';
  };
  assert.equal(
    err('path-patch:L1H2>L2H3,with=banana'),
    '--clamp "path-patch:L1H2>L2H3,with=banana": with must be one of corrupt, zero, mean, got "banana"',
  );
  assert.match(err('path-patch:L1H2>L1H3'), /^--clamp "path-patch:L1H2>L1H3": a path-patch edge's receiver must/);
  assert.equal(err('prev-token:L1H2@abc'), '--clamp "prev-token:L1H2@abc": "@abc" must be a number');
  assert.equal(err('ablate:L2H9'), '--clamp "ablate:L2H9": unknown head "L2H9": each layer has 8 heads (H0…H7)');
  assert.equal(parseClampArg('ablate:L2H1', m).kind, 'ablate');
});
