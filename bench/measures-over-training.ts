/**
 * Measures over training (issue 11, speed row 3): `induction-lab measure RUN --checkpoints all --what all
 * --subsample 2000` on a `fast` run, on 1 worker and on every core, then the same command again with
 * everything cached (what a resumed computation costs). Prints wall times, the speed-up, and the mean
 * cost of each measure per checkpoint (from the `seconds` the cache files record).
 *
 * Run: npm run bench:overtime
 *      (= npm run build && npx tsx bench/measures-over-training.ts [--run DIR] [--what all] [--subsample 2000]
 *       [--workers 1,2] [--checkpoints all])
 * Without --run it trains `fast` once into $TMPDIR/il-bench-measures/ (≈ 30 s) and reuses it later.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const opt = (k: string, d: string) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const CLI = path.join(__dirname, '..', 'out', 'cli.js');
const GOAL_SECONDS = 60;

/** The built CLI (what users and the extension run; workers fork the same bundle). */
function cli(args: string[]): { seconds: number; stdout: string; cpu: number } {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, CLI, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0)
    throw new Error(`induction-lab ${args.join(' ')} failed (${r.status}): ${r.stderr.trim().split('\n').pop()}`);
  // /usr/bin/time writes "user sys" (of the process and its children) as the last stderr line.
  const [user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout, cpu: user + sys };
}

function trainedRun(): string {
  const root = path.join(os.tmpdir(), 'il-bench-measures');
  const dir = path.join(root, 'fast-seed5');
  try {
    if (JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')).status === 'completed') return dir;
  } catch {
    /* not there yet */
  }
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
  const mean = (s: number[]) => s.reduce((a, b) => a + b, 0) / s.length;
  return [...by.entries()]
    .map(([u, s]): [string, number, number] => [u, s.length, mean(s)])
    .sort((a, b) => b[2] - a[2]);
}

interface Row {
  label: string;
  workers: number;
  seconds: number;
  cpu: number;
  computed: number;
  cached: number;
  engine: string;
}

function main(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first`);
  const runDir = path.resolve(opt('run', '') || trainedRun());
  const what = opt('what', 'all'),
    subsample = opt('subsample', '2000'),
    checkpoints = opt('checkpoints', 'all');
  const workerCounts = [...new Set(opt('workers', `1,${os.availableParallelism()}`).split(',').map(Number))].filter(
    (w) => w >= 1,
  );
  const measure = (workers: number) => {
    const r = cli([
      'measure',
      runDir,
      '--checkpoints',
      checkpoints,
      '--what',
      what,
      '--subsample',
      subsample,
      '--workers',
      String(workers),
      '--json',
      '--progress',
      'none',
    ]);
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      computed: number[];
      cached: number[];
      workers: string;
    };
    return { seconds: r.seconds, cpu: r.cpu, computed: s.computed.length, cached: s.cached.length, engine: s.workers };
  };
  const rows: Row[] = [];
  let costs: Array<[string, number, number]> = [];
  for (const w of workerCounts) {
    fs.rmSync(path.join(runDir, 'measures'), { recursive: true, force: true });
    rows.push({ label: 'from scratch', workers: w, ...measure(w) });
    if (w === workerCounts[0]) costs = unitCosts(runDir, subsample);
  }
  const most = workerCounts[workerCounts.length - 1];
  rows.push({ label: 'again, all cached', workers: most, ...measure(most) });

  const base = rows[0].seconds;
  const n = rows[0].computed + rows[0].cached;
  console.log(
    `\n\`measure --checkpoints ${checkpoints} --what ${what} --subsample ${subsample}\` on ${runDir} (${n} checkpoints)\n`,
  );
  console.log(
    '| run | workers | checkpoints computed / cached | wall time | CPU time (all processes) | CPU / workers ' +
      '| per checkpoint (wall) | speed-up vs 1st row | goal ≤ 60 s (wall) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const per = r.computed ? `${(r.seconds / r.computed).toFixed(2)} s` : '—';
    const goal = r.label === 'from scratch' ? (r.seconds <= GOAL_SECONDS ? 'met' : 'not met') : '';
    console.log(
      `| ${r.label} | ${r.workers} | ${r.computed} / ${r.cached} | ${r.seconds.toFixed(1)} s | ${r.cpu.toFixed(1)} s ` +
        `| ${(r.cpu / r.workers).toFixed(1)} s | ${per} ` +
        `| ${(base / r.seconds).toFixed(2)}× | ${goal} |`,
    );
  }
  const w0 = rows[0].workers;
  console.log(
    `\nMean cost of each measure at one checkpoint (${w0} worker${w0 > 1 ? 's' : ''}; seconds the cache files record):\n`,
  );
  console.log('| measure (cache unit) | checkpoints | s per checkpoint |\n|---|---:|---:|');
  for (const [u, k, s] of costs) console.log(`| ${u} | ${k} | ${s.toFixed(3)} |`);
  console.log(`\n- engine: ${[...new Set(rows.map((r) => r.engine).filter(Boolean))].join('; ')}`);
  const load = os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  console.log(
    `- ${os.availableParallelism()} cores, load average ${load} at the end (other work slows every row alike); ` +
      'on a loaded machine the wall time says little: CPU / workers is what the same work takes on that many ' +
      'idle cores if the workers stay busy (a lower bound on the wall time there)',
  );
}

main();
