/**
 * Evaluation share of paper-scale Fig 5b runs (issue 11's last speed row: ≤ 15 % of the wall time), in one
 * run. Each of the six conditions trains a slice of its 6e5 sequences three times, as `induction-lab train`
 * does (the CLI bundle, one process each): without evaluations (evalEvery beyond the slice), with them on the
 * training thread (`--eval-thread off`) and on the evaluation thread (`--eval-thread on`). Each is timed
 * whole (wall and CPU, user + system of every thread, by /usr/bin/time) and again as a one-step run; the
 * difference is the slice's marginal time, what the run's fixed costs (start-up, data, the first cold
 * evaluations, the worker's load: seconds, against a full run's minutes) do not blur:
 *
 *   evaluation share (wall) = (marginal with evaluations − marginal without) / marginal with evaluations
 *
 * The CPU share of the synchronous run is what a sweep with both cores busy pays (its children have no
 * spare core: the thread is off there and cannot help).
 *
 *   npm run build && npx tsx bench/evalShare.ts [--fraction F] [--only NAME,NAME] [--repeat R]
 *
 * F: the slice of each run (default 0.2: 120,000 sequences, 119 evaluations during training). On 2 idle cores
 * ≈ 4 min. R: each mode's runs R times, the fastest kept (one run's wall time varies by ±20 % on a quiet machine
 * of this kind).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fig5bConditions } from '../src/engine/science/conditions';

const argv = process.argv.slice(2);
const value = (k: string) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : undefined;
};
const FRACTION = Number(value('--fraction') ?? 0.2);
const REPEAT = Math.max(1, Number(value('--repeat') ?? 1));
const FIG5B = fig5bConditions()
  .map((c) => c.name)
  .filter((n) => !value('--only') || value('--only')!.split(',').includes(n));
const CLI = path.resolve(__dirname, '..', 'out', 'cli.js');
const fmt = (s: number) => (s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2));
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

interface Timing {
  /** Seconds of CPU, user + system, the whole process. */
  cpu: number;
  wall: number;
  thread: boolean;
}

function trainOnce(root: string, condition: string, mode: 'none' | 'off' | 'on', sequences: number): Timing {
  const id = `${condition}-${mode}-${sequences}`;
  const cfg = path.join(root, `${id}.json`);
  // Paper scale: evalEvery 1,000, checkpoints only the final one (the preset's), no TensorBoard writes.
  const train: Record<string, unknown> = { sequences, tensorboard: false };
  if (mode === 'none') train.evalEvery = sequences * 10;
  fs.writeFileSync(cfg, JSON.stringify({ train }));
  const args = ['train', '--preset', `fig5b.${condition}`, '--scale', 'paper', '--config', cfg, '--out', root];
  const timeFile = path.join(root, `${id}.time`);
  const r = spawnSync(
    '/usr/bin/time',
    [
      '-f',
      '%e %U %S',
      '-o',
      timeFile,
      process.execPath,
      CLI,
      ...args,
      '--run-id',
      id,
      '--eval-thread',
      mode === 'on' ? 'on' : 'off',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`train ${id} failed: ${r.stderr.trim().split('\n').pop()}`);
  const [wall, user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
  const rj = JSON.parse(fs.readFileSync(path.join(root, id, 'run.json'), 'utf8')) as { evalThread?: boolean };
  fs.rmSync(path.join(root, id), { recursive: true, force: true });
  return { cpu: user + sys, wall, thread: !!rj.evalThread };
}

function main(): void {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first`);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-evalshare-'));
  const sequences = Math.round((600_000 * FRACTION) / 32) * 32;
  console.log(
    `node ${process.versions.node}, ${os.cpus()[0]?.model ?? '?'} × ${os.availableParallelism()} cores, ` +
      `load average ${load()} at start; each run: ${sequences.toLocaleString('en')} sequences of 600,000, the fastest of ${REPEAT} ` +
      `(${Math.floor((sequences - 1) / 1000)} evaluations of 4 × 1,000 sequences during training)\n`,
  );
  console.log(
    '| Fig 5b condition (paper scale), marginal time of the slice | wall: no evaluation | synchronous | ' +
      'eval thread | CPU: none / sync / thread | share (wall), synchronous | ' +
      '**share (wall), eval thread (goal ≤ 15 %)** | share of CPU, synchronous (= a 2-worker sweep) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const sum = { none: 0, off: 0, on: 0, cNone: 0, cOff: 0 };
  try {
    for (const n of FIG5B) {
      /** The slice's marginal wall and CPU: the run minus its one-step run. */
      const marginal = (mode: 'none' | 'off' | 'on') => {
        // The fastest of REPEAT runs: other processes and the machine's own variation only ever add time.
        let best: { wall: number; cpu: number } | null = null;
        for (let r = 0; r < REPEAT; r++) {
          const one = trainOnce(root, n, mode, 32),
            full = trainOnce(root, n, mode, sequences);
          if (full.thread !== (mode === 'on'))
            throw new Error(`fig5b.${n}: the evaluation thread did not run as asked`);
          const m = { wall: full.wall - one.wall, cpu: full.cpu - one.cpu };
          if (!best || m.wall < best.wall) best = m;
        }
        return best!;
      };
      const none = marginal('none'),
        off = marginal('off'),
        on = marginal('on');
      sum.none += none.wall;
      sum.off += off.wall;
      sum.on += on.wall;
      sum.cNone += none.cpu;
      sum.cOff += off.cpu;
      console.log(
        `| fig5b.${n} | ${fmt(none.wall)} s | ${fmt(off.wall)} s | ${fmt(on.wall)} s | ` +
          `${fmt(none.cpu)} / ${fmt(off.cpu)} / ${fmt(on.cpu)} s | ${pct((off.wall - none.wall) / off.wall)} | ` +
          `**${pct((on.wall - none.wall) / on.wall)}** | ${pct((off.cpu - none.cpu) / off.cpu)} |`,
      );
    }
    console.log(
      `| **all six** | ${fmt(sum.none)} s | ${fmt(sum.off)} s | ${fmt(sum.on)} s | | ` +
        `${pct((sum.off - sum.none) / sum.off)} | **${pct((sum.on - sum.none) / sum.on)}** | ` +
        `${pct((sum.cOff - sum.cNone) / sum.cOff)} |`,
    );
    console.log(`\nload average at the end ${load()}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
main();
