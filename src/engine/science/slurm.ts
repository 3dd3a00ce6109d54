/**
 * `reproduce FIGURE --emit slurm`: a Slurm job array that trains each run of a figure with this same
 * CLI, and a merge job that draws the figure once every task has ended. Everything is absolute (the node
 * binary that emitted the script, the CLI's bin file, the folders), so the scripts work when submitted
 * from any folder, with `--export=NONE`, and never ask npx (which outside the project would look the
 * name up on the public registry). The CLI is `exec`ed, so Slurm's signals (scancel, time limit,
 * preemption: SIGTERM, then SIGKILL after KillWait) reach the training itself, which stops with a
 * checkpoint; resubmitting the task resumes it.
 *
 * Every submission's first task chains its own merge job with `afterany`, so the merge runs whether
 * tasks succeeded or not; it trains nothing (`--no-train`) and fails naming the runs still missing and
 * the `sbatch --array=…` line that trains them, which chains a new merge job.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FigureId, figureJobs, DEFAULT_STAND_IN } from './reproduce';
import type { StandIn } from '../data';
import { Scale } from './conditions';
import { RunConfig } from '../train/runConfig';

export interface SlurmFiles {
  /** The array job (submit this). */
  script: string;
  /** The merge job (submitted by the array's first task). */
  merge: string;
  configs: Array<{ key: string; config: RunConfig }>;
  /** Where each file goes. */
  paths: { script: string; merge: string; configs: string; logs: string; workDir: string };
}

export interface SlurmOptions {
  node: string;
  cli: string;
  /** Per training task. */
  time?: string;
  mem?: string;
  /** For the merge job (it reads every run and may compute measures). */
  mergeTime?: string;
  mergeMem?: string;
  /** The synthetic stand-in of the runs (default: the data config's default). */
  standIn?: StandIn;
}

/** The CLI's bin file of this installation (bin/induction-lab.js next to package.json), found from `from` upwards. */
export function findCliBin(from: string): string {
  for (let d = path.resolve(from); ; d = path.dirname(d)) {
    const bin = path.join(d, 'bin', 'induction-lab.js');
    if (fs.existsSync(bin) && fs.existsSync(path.join(d, 'package.json'))) {
      if (!fs.existsSync(path.join(d, 'out', 'cli.js')))
        throw new Error(
          `${path.join(d, 'out', 'cli.js')} is missing (the Slurm tasks run it): run \`npm run build\` first`,
        );
      return bin;
    }
    if (path.dirname(d) === d) throw new Error(`cannot find bin/induction-lab.js above ${from}`);
  }
}

/** Single-quoted for bash. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** #SBATCH lines are not parsed by a shell: a path there must be plain. */
function sbatchPath(p: string): string {
  if (!/^[\w@%+=:,./-]+$/.test(p))
    throw new Error(
      `Slurm #SBATCH lines cannot hold the path "${p}" (spaces or special characters): choose --out / --runs without them`,
    );
  return p;
}

export function slurmFiles(
  fig: FigureId,
  scale: Scale,
  seeds: number[],
  runsRoot: string,
  out: string,
  o: SlurmOptions,
): SlurmFiles {
  const standIn = o.standIn ?? DEFAULT_STAND_IN;
  const jobs = figureJobs(fig, scale, seeds, standIn);
  if (!jobs.length) throw new Error(`${fig} trains no runs: draw it with \`induction-lab reproduce ${fig}\``);
  const workDir = path.join(out, fig);
  const paths = {
    script: path.join(workDir, 'slurm.sh'),
    merge: path.join(workDir, 'slurm-merge.sh'),
    configs: path.join(workDir, 'slurm-configs'),
    logs: path.join(workDir, 'slurm-logs'),
    workDir,
  };
  for (const p of [workDir, paths.logs, runsRoot]) sbatchPath(p);
  const name = `induction-lab-${fig}`;
  const last = jobs.length - 1;
  const script = [
    '#!/bin/bash',
    `# Induction Lab: the ${jobs.length} runs of ${fig} at the ${scale} scale as a Slurm job array; the first task chains the`,
    '# merge job that draws the figure once every task has ended. Submit from any folder:',
    `#   sbatch ${paths.script}`,
    '# Failed or cancelled tasks: resubmit their indices (each submission chains its own merge job), e.g.',
    `#   sbatch --array=2,4 ${paths.script}`,
    '# A cancelled task stopped with a checkpoint and resumes from it; a finished one is not trained again.',
    `#SBATCH --job-name=${name}`,
    `#SBATCH --array=0-${last}`,
    '#SBATCH --cpus-per-task=1',
    `#SBATCH --mem=${o.mem ?? '2G'}`,
    `#SBATCH --time=${o.time ?? '04:00:00'}`,
    `#SBATCH --chdir=${workDir}`,
    `#SBATCH --output=${paths.logs}/%x-%A_%a.out`,
    'set -euo pipefail',
    `NODE=${q(o.node)}`,
    `CLI=${q(o.cli)}`,
    `KEYS=(${jobs.map((j) => q(j.key)).join(' ')})`,
    'if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then',
    `  echo "induction-lab: submit this script with sbatch (it is a job array over ${jobs.length} runs)" >&2; exit 2`,
    'fi',
    `if [ "$SLURM_ARRAY_TASK_ID" -lt 0 ] || [ "$SLURM_ARRAY_TASK_ID" -gt ${last} ]; then`,
    `  echo "induction-lab: array index $SLURM_ARRAY_TASK_ID is out of range: ${fig} has runs 0-${last}" >&2; exit 2`,
    'fi',
    'KEY=${KEYS[$SLURM_ARRAY_TASK_ID]}',
    `cd ${q(workDir)}`,
    'if [ "$SLURM_ARRAY_TASK_ID" = "${SLURM_ARRAY_TASK_MIN:-0}" ]; then',
    `  sbatch --dependency=afterany:"$SLURM_ARRAY_JOB_ID" ${q(paths.merge)} || echo "induction-lab: could not submit the merge job; run: sbatch ${paths.merge}" >&2`,
    'fi',
    `exec "$NODE" "$CLI" train --config ${q(paths.configs + '/')}"$KEY".json --out ${q(runsRoot)} --run-id "$KEY"`,
  ];
  const merge = [
    '#!/bin/bash',
    `# Induction Lab: draws ${fig} from the runs of ${path.basename(paths.script)} (trains nothing). Chained by the array's first`,
    '# task with afterany; fails naming the runs still missing. Can also be submitted by hand: sbatch <this file>',
    `#SBATCH --job-name=${name}-merge`,
    '#SBATCH --cpus-per-task=1',
    `#SBATCH --mem=${o.mergeMem ?? '4G'}`,
    `#SBATCH --time=${o.mergeTime ?? '02:00:00'}`,
    `#SBATCH --chdir=${workDir}`,
    `#SBATCH --output=${paths.logs}/%x-%j.out`,
    'set -euo pipefail',
    `cd ${q(workDir)}`,
    `exec ${q(o.node)} ${q(o.cli)} reproduce ${fig} --scale ${scale} --seeds ${seeds.join(',')} --stand-in ${standIn} --runs ${q(runsRoot)} --out ${q(out)} --no-train --slurm-script ${q(paths.script)}`,
  ];
  return {
    script: script.join('\n') + '\n',
    merge: merge.join('\n') + '\n',
    configs: jobs.map((j) => ({ key: j.key, config: j.config })),
    paths,
  };
}

/** Writes the scripts, the per-run configs and the (empty) log folder; Slurm does not create --output folders. */
export function writeSlurmFiles(f: SlurmFiles): void {
  fs.mkdirSync(f.paths.configs, { recursive: true });
  fs.mkdirSync(f.paths.logs, { recursive: true });
  for (const c of f.configs)
    fs.writeFileSync(path.join(f.paths.configs, `${c.key}.json`), JSON.stringify(c.config, null, 2) + '\n');
  fs.writeFileSync(f.paths.script, f.script, { mode: 0o755 });
  fs.writeFileSync(f.paths.merge, f.merge, { mode: 0o755 });
}
