/**
 * One unit of LLC work: some chains of one estimate (a checkpoint, clamped or clean, the whole model or
 * one head) on a run's checkpoint. The same runner executes jobs in this thread or in a worker thread
 * (worker.ts); it keeps the run's task data, the last checkpoint and one target per (checkpoint, clamp
 * mode) so the 17 estimates of a checkpoint (model + 16 heads) load everything once.
 */
import { loadTaskData, TaskData } from '../data';
import { RunDir } from '../io';
import { readCheckpoint } from '../model/checkpoint';
import { readRunConfig } from '../measures/dense';
import { RunConfig } from '../train/runConfig';
import { SgldKernel } from './kernel';
import { Baseline, ChainResult, PairedLosses, SgldOptions, sampleChains } from './sampler';
import type { LlcSettings } from '../../shared/llc';
import { EngineChoice, activeClamps, chooseEngine, flatten, headRanges, transformerTarget } from './transformerTarget';
import { initBackend } from '../model/tf';
import type { SgldTarget } from './sampler';
import type { Batch } from '../data';

export interface LlcJob {
  id: number;
  runDir: string;
  sequences: number;
  /** Sample without the run's clamps. */
  clean: boolean;
  /** A head (e.g. "L2H3") for the weight-refined LLC, or null for every weight. */
  head: string | null;
  options: Omit<SgldOptions, 'ranges' | 'onStep'>;
  batchSize: number;
  engine: 'auto' | 'fast' | 'tfjs';
}

export interface LlcJobResult {
  id: number;
  settings: LlcSettings;
  baseline: Baseline;
  chains: ChainResult[];
  cancelled: boolean;
  engine: EngineChoice;
  /** Seconds spent in this job (this thread). */
  seconds: number;
}

export class JobRunner {
  private run: { dir: string; config: RunConfig; task: TaskData } | null = null;
  private ckpt: { key: string; w0: Float32Array } | null = null;
  private target: { key: string; t: SgldTarget<Batch> & { engine: EngineChoice } } | null = null;
  private kernel: SgldKernel | null = null;
  private baselines = new Map<string, Baseline>();
  /** The paired draws' L_m(w*) per (checkpoint, clamp mode, seed): shared by the heads of a checkpoint. */
  private paired = new Map<string, PairedLosses>();

  async load(runDir: string): Promise<{ config: RunConfig; task: TaskData }> {
    if (this.run?.dir !== runDir) {
      const config = readRunConfig(RunDir.open(runDir));
      this.run = { dir: runDir, config, task: await loadTaskData(config.data) };
      this.ckpt = null;
      this.target = null;
      this.baselines.clear();
      this.paired.clear();
    }
    return this.run;
  }

  async execute(job: LlcJob, onStep?: (steps: number) => boolean | void): Promise<LlcJobResult> {
    const t0 = performance.now();
    const { config, task } = await this.load(job.runDir);
    const rd = RunDir.open(job.runDir);
    const ckKey = `${job.sequences}`;
    if (this.ckpt?.key !== ckKey)
      this.ckpt = {
        key: ckKey,
        w0: flatten(config.model, readCheckpoint(rd.checkpointPath(job.sequences), config.model).params),
      };
    const tKey = `${job.sequences}|${job.clean}|${job.batchSize}|${job.engine}`;
    if (this.target?.key !== tKey) {
      const clamps = job.clean ? [] : activeClamps(config.clamps, job.sequences);
      // The TensorFlow.js reference needs a backend (the fast engine does not load TF.js at all).
      if (chooseEngine(config.model, clamps, job.engine).engine === 'tfjs') await initBackend('auto');
      this.target = {
        key: tKey,
        t: transformerTarget({
          config: config.model,
          task,
          clamps,
          sequences: job.sequences,
          batchSize: job.batchSize,
          engine: job.engine,
        }),
      };
    }
    const target = this.target.t;
    // (A target that hosts its own kernel, the fast engine's, does not need this one.)
    if (!target.hostKernel && this.kernel?.size !== target.size) this.kernel = new SgldKernel(target.size);
    // L(w*) is the same for every head of a checkpoint: computed once.
    const bKey = `${tKey}|${job.options.initBatches ?? job.options.chains}`;
    let baseline = this.baselines.get(bKey);
    const pKey = `${tKey}|${job.options.seed}`;
    let pairedLosses = this.paired.get(pKey);
    if (!pairedLosses) {
      pairedLosses = new Map();
      this.paired.set(pKey, pairedLosses);
      if (this.paired.size > 64) this.paired.delete(this.paired.keys().next().value as string);
    }
    let steps = 0;
    const r = sampleChains(
      target,
      this.ckpt.w0,
      {
        // A head's estimate is always paired with w* on the same minibatch (sampler.ts, pairedBaseline).
        ...job.options,
        ranges: job.head ? headRanges(config.model, job.head) : undefined,
        pairedBaseline: job.head !== null || job.options.pairedBaseline === true,
        onStep: onStep ? () => onStep(++steps) : undefined,
      },
      { kernel: this.kernel ?? undefined, baseline, pairedLosses },
    );
    baseline ??= r.baseline;
    this.baselines.set(bKey, baseline);
    if (this.baselines.size > 64) this.baselines.delete(this.baselines.keys().next().value as string);
    return {
      id: job.id,
      settings: r.settings,
      baseline: r.baseline,
      chains: r.chains,
      cancelled: r.cancelled,
      engine: target.engine,
      seconds: (performance.now() - t0) / 1000,
    };
  }
}
