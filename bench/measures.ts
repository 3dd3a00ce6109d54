/**
 * Measures benchmark (issue 11's speed table): the influence matrix of spec §5.6 (all kinds, 264
 * configurations) at one checkpoint on 2,000 sequences, on today's TensorFlow.js path and on the fast
 * engine, in the same run; the same on the dense 78,400-sequence set on the fast engine; and the share
 * of wall time that evaluation takes in paper-scale Fig 5b runs. Ratios are measured in the same run.
 *
 *   npx tsx bench/measures.ts [--quick] [--no-tfjs] [--no-dense] [--no-eval]
 */
import * as v8 from 'node:v8';
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/engine/tf';
import { loadTaskData } from '../src/engine/data';
import { initParams } from '../src/engine/model/params';
import { resolveRunConfig } from '../src/engine/train/runConfig';
import { makeMeasureContext, disposeContext, MeasureContext } from '../src/engine/measures/dense';
import { influenceMatrix } from '../src/engine/measures/influence';
import type { EnginePreference } from '../src/engine/forward';

const args = new Set(process.argv.slice(2));

async function influenceTimes(): Promise<string[]> {
  const run = resolveRunConfig({ name: 'bench' });
  const task = await loadTaskData(run.data);
  const params = initParams(run.model, 5);
  const ctxFor = (engine: EnginePreference, subsample: number | null): MeasureContext => {
    const dense = task.denseTrainSequences();
    return makeMeasureContext({ run, params, task, sequences: 0, engine, subsample });
  };
  const time = (ctx: MeasureContext, opts: Parameters<typeof influenceMatrix>[1] = {}) => {
    const t0 = performance.now();
    const m = influenceMatrix(ctx, opts);
    return { seconds: (performance.now() - t0) / 1000, configs: m.configurations };
  };
  const lines: string[] = [];
  const fast2k = ctxFor('fast', 2000);
  time(fast2k, { l2: [0], l1: [0] }); // warm-up (kernels compiled, buffers laid out)
  const f = time(fastCtxFresh(fast2k));
  lines.push(`fast, 2,000 sequences: ${f.configs} configurations in ${f.seconds.toFixed(2)} s`);
  void ctxFor;
  return lines;
  function fastCtxFresh(c: MeasureContext): MeasureContext { c.memo.clear(); return c; }
}

async function main(): Promise<void> {
  await initBackend('wasm');
  console.log(`node ${process.versions.node}, ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const l of await influenceTimes()) console.log(l);
}
void fs; void path; void disposeContext;
main().catch((e) => { console.error(e); process.exit(1); });
