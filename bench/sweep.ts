/**
 * Sweep scaling: the same set of short training runs scheduled on 1 worker and on every core (one child
 * process each, as `induction-lab sweep` and `reproduce` run them). Prints runs per minute and the speed-up.
 * Run: npx tsx bench/sweep.ts [--runs N] [--sequences N]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runSweep } from '../src/engine/train/sweep';
import { resolvePreset } from '../src/engine/science/presets';

const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(`--${k}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('runs', 6),
  SEQ = arg('sequences', 32_000);

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  // The bundled child, as the CLI and the extension fork it (not the TypeScript source under tsx, whose
  // per-child compile would be measured too). `npm ci` builds it; else run `npm run build` first.
  const built = path.join(__dirname, '..', 'out', 'child.js');
  if (!fs.existsSync(built)) throw new Error(`${built} not found: run \`npm run build\` first`);
  const entry = { file: built, execArgv: [] };
  const jobs = (tag: string) =>
    Array.from({ length: N }, (_, i) => {
      const config = resolvePreset('demo');
      config.train.sequences = SEQ;
      config.train.evalEvery = 8000;
      config.train.checkpointEvery = 0;
      config.train.initSeed = 100 + i;
      return { key: `${tag}-${i}`, config };
    });
  const rows: Array<{ workers: number; seconds: number; engine: string }> = [];
  for (const workers of [...new Set([1, cores])]) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-bench-sweep-'));
    let engine = '';
    const t0 = performance.now();
    const res = await runSweep(jobs(`w${workers}`), {
      root,
      workers,
      entry,
      onMessage: (_j, m) => {
        if (m.type === 'started') engine = m.engine;
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    if (res.some((r) => r.status !== 'completed'))
      throw new Error(
        `a run failed: ${res
          .map((r) => r.error)
          .filter(Boolean)
          .join('; ')}`,
      );
    rows.push({ workers, seconds, engine });
    fs.rmSync(root, { recursive: true, force: true });
  }
  const base = rows[0];
  console.log(`| workers | runs | wall time | runs/min | speed-up vs 1 worker |\n|---:|---:|---:|---:|---:|`);
  for (const r of rows)
    console.log(
      `| ${r.workers} | ${N} | ${r.seconds.toFixed(1)} s | ${((N * 60) / r.seconds).toFixed(2)} | ${(base.seconds / r.seconds).toFixed(2)}× |`,
    );
  console.log(
    `\n- ${N} demo runs of ${SEQ.toLocaleString('en-US')} sequences each (engine: ${rows[0].engine}), ${cores} cores, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at end`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
