/**
 * Measures over training (issue 11, speed row 3): `induction-lab measure RUN --checkpoints all --what all
 * --subsample 2000` on a `fast` run, on 1 worker and on every core, then the same command again with
 * everything cached (what a resumed computation costs). Prints wall times, the speed-up, and the mean
 * cost of each measure per checkpoint (from the `seconds` the cache files record).
 *
 * Run: npm run build && npx tsx bench/measures-over-training.ts [--run DIR] [--what all] [--subsample 2000] [--workers 1,2]
 *      [--checkpoints all]
 * Without --run it trains `fast` once into $TMPDIR/il-bench-measures/ (≈ 30 s) and reuses it later.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const opt = (k: string, d: string) => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? process.argv[i + 1] : d; };
const CLI = path.join(__dirname, '..', 'out', 'cli.js');
const GOAL_SECONDS = 60;

function cli(args: string[]): { seconds: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`induction-lab ${args.join(' ')} failed (${r.status}): ${r.stderr.trim().split('\n').pop()}`);
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout };
}

function trainedRun(): string {
  const root = path.join(os.tmpdir(), 'il-bench-measures');
  const dir = path.join(root, 'fast-seed5');
  try {
    if (JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).status === 'completed') return dir;
  } catch { /* not there yet */ }
  fs.rmSync(dir, { recursive: true, force: true });
  console.error('training the fast preset once (≈ 30 s)…');
  cli(['train', '--preset', 'fast', '--out', root, '--run-id', 'fast-seed5']);
  return dir;
}

/** Mean seconds per checkpoint of each measure, from the cache files' own timing. */
function unitCosts(runDir: string, subsample: string): Array<[string, number, number]> {
  const dir = path.join(runDir, 'measures');
  const by = new Map<string, number[]>();
  for (const f of fs.readdirSync(dir)) {
    const m = /^([a-z-]+)-seq-\d+(-sub(\d+))?\.json$/.exec(f);
    if (!m || (m[3] && m[3] !== subsample)) continue;
    const rec = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { seconds: number };
    by.set(m[1], [...(by.get(m[1]) ?? []), rec.seconds]);
  }
  return [...by.entries()].map(([u, s]) => [u, s.length, s.reduce((a, b) => a + b, 0) / s.length] as [string, number, number]).sort((a, b) => b[2] - a[2]);
}

function main(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first`);
  const runDir = path.resolve(opt('run', '') || trainedRun());
  const what = opt('what', 'all'), subsample = opt('subsample', '2000'), checkpoints = opt('checkpoints', 'all');
  const workerCounts = opt('workers', `1,${os.availableParallelism()}`).split(',').map(Number).filter((w, i, a) => w >= 1 && a.indexOf(w) === i);
  const rows: Array<{ label: string; workers: number; seconds: number; computed: number; cached: number; engine: string }> = [];
  const measure = (workers: number) => {
    const { seconds, stdout } = cli(['measure', runDir, '--checkpoints', checkpoints, '--what', what, '--subsample', subsample, '--workers', String(workers), '--json', '--progress', 'none']);
    const s = JSON.parse(stdout.trim().split('\n').pop()!) as { computed: number[]; cached: number[]; workers: string };
    return { seconds, computed: s.computed.length, cached: s.cached.length, engine: s.workers };
  };
  let costs: Array<[string, number, number]> = [];
  for (const w of workerCounts) {
    fs.rmSync(path.join(runDir, 'measures'), { recursive: true, force: true });
    rows.push({ label: 'from scratch', workers: w, ...measure(w) });
    if (w === workerCounts[0]) costs = unitCosts(runDir, subsample);
  }
  rows.push({ label: 'again, all cached', workers: workerCounts[workerCounts.length - 1], ...measure(workerCounts[workerCounts.length - 1]) });

  const base = rows[0].seconds;
  const n = rows[0].computed + rows[0].cached;
  console.log(`\n\`measure --checkpoints ${checkpoints} --what ${what} --subsample ${subsample}\` on ${runDir} (${n} checkpoints)\n`);
  console.log('| run | workers | checkpoints computed / cached | wall time | per checkpoint | speed-up vs 1st row | goal ≤ 60 s |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(`| ${r.label} | ${r.workers} | ${r.computed} / ${r.cached} | ${r.seconds.toFixed(1)} s | ${r.computed ? (r.seconds / r.computed).toFixed(2) + ' s' : '—'} | ${(base / r.seconds).toFixed(2)}× | ${r.label === 'from scratch' ? (r.seconds <= GOAL_SECONDS ? 'met' : 'not met') : ''} |`);
  }
  console.log(`\nMean cost of each measure at one checkpoint (${rows[0].workers} worker${rows[0].workers > 1 ? 's' : ''}; seconds recorded in the cache files):\n`);
  console.log('| measure (cache unit) | checkpoints | s per checkpoint |\n|---|---:|---:|');
  for (const [u, k, s] of costs) console.log(`| ${u} | ${k} | ${s.toFixed(3)} |`);
  console.log(`\n- engine: ${rows.map((r) => r.engine).filter((e, i, a) => e && a.indexOf(e) === i).join('; ')}`);
  console.log(`- ${os.availableParallelism()} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} at the end (other work on the machine slows every row alike)`);
}

main();
