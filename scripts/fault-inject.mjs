#!/usr/bin/env node
// Fault injection (opt-in, not in CI): `npm run test:faults [-- --tries 20 --sequences 40000 --seed 1 --keep]`.
// Trains one uninterrupted reference run, then, for each try, starts the same run, SIGKILLs it at a random
// moment (before the first checkpoint, mid-run, during a checkpoint write…), records what the kill left
// (status as a reader sees it, rows, newest checkpoint, leftovers of interrupted writes) and continues the
// run — alternately with `--resume DIR` and by repeating `--run-id` (the Slurm path). Each continued run must
// end bit for bit where the reference did: metrics.jsonl (but wall times), every checkpoint file, the final
// optimiser state, and nothing left over. Uses the built CLI (out/cli.js); one training at a time.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'out', 'cli.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const TRIES = Number(opt('tries', 20)),
  SEQUENCES = Number(opt('sequences', 40000)),
  SEED = Number(opt('seed', 1));
const KEEP = args.includes('--keep');
if (!fs.existsSync(CLI)) {
  console.error('fault-inject: out/cli.js is missing: run `npm run build` first');
  process.exit(2);
}

// Deterministic kill times for a given --seed (mulberry32).
let s = SEED >>> 0;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'il-faults-'));
const cfg = path.join(work, 'cfg.json');
// Checkpoints every 50 steps and evaluations every ~62: many unit writes for a kill to land in.
fs.writeFileSync(cfg, JSON.stringify({ train: { sequences: SEQUENCES, evalEvery: 2000, checkpointEvery: 1600 } }));
const runs = path.join(work, 'runs');
const trainArgs = (id) => [CLI, 'train', '--preset', 'fast', '--config', cfg, '--out', runs, '--run-id', id];

function run(argv, killAfterMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    const timer = killAfterMs === undefined ? null : setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    p.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, err, ms: Date.now() - t0 });
    });
  });
}

const rows = (dir) =>
  fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const r = JSON.parse(l);
      delete r.wallTime;
      return JSON.stringify(r);
    });
const files = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

/** What a killed run looks like to a reader. */
function inspect(dir) {
  if (!fs.existsSync(path.join(dir, 'run.json')))
    return {
      status: fs.existsSync(dir) ? 'no run.json yet' : 'no folder',
      rows: 0,
      newest: '—',
      leftovers: files(dir).filter((f) => f.includes('.tmp-')),
    };
  const rj = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  const lock = fs.existsSync(path.join(dir, 'run.lock'));
  let torn = false;
  const text = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
  if (text && !text.endsWith('\n')) torn = true;
  const ck = files(path.join(dir, 'checkpoints'));
  const weights = ck
    .map((f) => /^seq-(\d+)\.safetensors$/.exec(f))
    .filter(Boolean)
    .map((m) => Number(m[1]));
  const newest = weights.length ? Math.max(...weights) : -1;
  const leftovers = [
    ...files(dir).filter((f) => f.includes('.tmp-')),
    ...ck.filter((f) => {
      if (f.includes('.tmp-')) return true;
      const a = /^adam-(\d+)\.safetensors$/.exec(f),
        sm = /^seq-(\d+)\.summary\.json$/.exec(f);
      return (a && Number(a[1]) !== newest) || (sm && Number(sm[1]) > newest);
    }),
  ];
  return {
    status: `${rj.status}${lock ? ' + stale lock' : ''}`,
    rows: text.split('\n').filter(Boolean).length - (torn ? 1 : 0),
    torn,
    newest: newest < 0 ? 'none' : String(newest),
    leftovers,
  };
}

function compare(dir, ref) {
  const diffs = [];
  const a = rows(dir),
    b = rows(ref);
  if (a.length !== b.length || a.some((r, i) => r !== b[i])) diffs.push(`metrics (${a.length} vs ${b.length} rows)`);
  const ca = files(path.join(dir, 'checkpoints')),
    cb = files(path.join(ref, 'checkpoints'));
  if (ca.join() !== cb.join())
    diffs.push(`checkpoint files (${ca.length} vs ${cb.length}: ${ca.filter((f) => !cb.includes(f)).join(' ')})`);
  for (const f of cb.filter((x) => ca.includes(x) && x.endsWith('.safetensors'))) {
    if (!fs.readFileSync(path.join(dir, 'checkpoints', f)).equals(fs.readFileSync(path.join(ref, 'checkpoints', f))))
      diffs.push(`${f} differs`);
  }
  const extra = files(dir).filter(
    (f) => !['run.json', 'metrics.jsonl', 'checkpoints', 'report.md', 'loss.svg'].includes(f),
  );
  if (extra.length) diffs.push(`left over: ${extra.join(' ')}`);
  const st = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8'));
  if (st.status !== 'completed' || st.error) diffs.push(`run.json ${st.status}${st.error ? ` (${st.error})` : ''}`);
  return diffs;
}

console.log(
  `fault injection: ${TRIES} SIGKILLs of \`train --preset fast --sequences ${SEQUENCES}\` (checkpoint every 1600, eval every 2000), seed ${SEED}, in ${work}`,
);
const refRun = await run(trainArgs('ref'));
if (refRun.code !== 0) {
  console.error(`the reference run failed:\n${refRun.err}`);
  process.exit(1);
}
const ref = path.join(runs, 'ref');
console.log(
  `reference: ${refRun.ms} ms wall (process start to exit), ${rows(ref).length} rows, ${files(path.join(ref, 'checkpoints')).length} checkpoint files\n`,
);

console.log(
  '| try | killed at | status after the kill | rows | newest checkpoint | leftovers of interrupted writes | continued with | result |',
);
console.log('|---:|---:|---|---:|---:|---|---|---|');
let failures = 0;
for (let i = 0; i < TRIES; i++) {
  const id = `try-${i}`,
    dir = path.join(runs, id);
  const at = Math.round(150 + rand() * (refRun.ms - 150));
  const k = await run(trainArgs(id), at);
  const killed = k.signal === 'SIGKILL';
  const seen = inspect(dir);
  const viaResume = i % 2 === 0 && fs.existsSync(path.join(dir, 'run.json'));
  const c = await run(viaResume ? [CLI, 'train', '--resume', dir] : trainArgs(id));
  const diffs = c.code === 0 ? compare(dir, ref) : [`exit ${c.code}: ${c.err.trim().split('\n').pop()}`];
  if (diffs.length) failures++;
  const left = seen.leftovers.length ? seen.leftovers.join(', ') : '—';
  console.log(
    `| ${i} | ${at} ms${killed ? '' : ' (had ended)'} | ${seen.status}${seen.torn ? ', torn last line' : ''} | ${seen.rows} | ${seen.newest} | ${left} | ${viaResume ? '--resume' : '--run-id'} | ${diffs.length ? `**DIFF**: ${diffs.join('; ')}` : 'bit for bit'} |`,
  );
  if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
}
console.log(
  `\n${TRIES - failures}/${TRIES} continued runs ended bit for bit where the uninterrupted run did${failures ? ` — ${failures} did not` : ''}.`,
);
if (!KEEP) fs.rmSync(work, { recursive: true, force: true });
else console.log(`kept ${work}`);
process.exit(failures ? 1 : 0);
