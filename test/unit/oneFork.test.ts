/**
 * One way to fork a child from the extension (issue 16 part 4): only src/extension/runManager.ts imports
 * node:child_process; the attention view's `patterns` goes through its runCli (patternsChild.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPatternsChild } from '../../src/extension/patternsChild';
import type { CliJob, CliOutput, CliRunner } from '../../src/extension/runManager';

const SRC = path.join(__dirname, '..', '..', 'src');

test('only the run manager imports child_process in the extension host', () => {
  const inExtension = fs.readdirSync(path.join(SRC, 'extension')).map((f) => path.join(SRC, 'extension', f));
  const files = [path.join(SRC, 'extension.ts'), ...inExtension];
  const imports = /from ['"](node:)?child_process['"]|require\(['"](node:)?child_process['"]\)/;
  const forking = files.filter((f) => imports.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(
    forking.map((f) => path.relative(SRC, f)),
    [path.join('extension', 'runManager.ts')],
  );
});

/** A runner that answers each call with the next canned output (or never, for a killed job). */
function fakeRunner(outputs: Array<CliOutput | 'hang'>): CliRunner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    runCli(args: string[]): CliJob {
      calls.push(args);
      const o = outputs.shift()!;
      let kill = () => {};
      const done =
        o === 'hang'
          ? new Promise<CliOutput>((resolve) => {
              kill = () => resolve({ code: null, killed: true, stdout: '', stderr: '' });
            })
          : Promise.resolve(o);
      return { done, kill: () => kill() };
    },
  };
}

test('patterns through the runner: its JSON, its last stderr line as the error, a superseded job', async () => {
  const json = { sequences: 3200, mode: 'single', tokens: ['x1'], layers: [] };
  const r = fakeRunner([
    { code: 0, killed: false, stdout: JSON.stringify(json), stderr: '' },
    { code: 2, killed: false, stdout: '', stderr: 'warning: slow\ninduction-lab: no checkpoint at 12 sequences\n' },
    { code: 0, killed: false, stdout: 'not json', stderr: '' },
    'hang',
  ]);
  assert.deepEqual(await runPatternsChild(r, ['patterns', '/run']).done, json);
  assert.deepEqual(r.calls[0], ['patterns', '/run']);
  await assert.rejects(runPatternsChild(r, ['patterns', '/run']).done, /^Error: no checkpoint at 12 sequences$/);
  await assert.rejects(runPatternsChild(r, ['patterns', '/run']).done, /patterns printed no JSON/);
  const job = runPatternsChild(r, ['patterns', '/run']);
  job.kill();
  await assert.rejects(job.done, /superseded/);
});
