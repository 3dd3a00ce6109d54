/**
 * Disks that refuse writes, on real file systems: a read-only mount (EROFS, which Node's recursive mkdir
 * reports as ENOENT) and a tiny tmpfs that fills up while metrics are appended (the error must be the
 * metrics one, not run.json's, and run.json must say "failed"). They mount tmpfs, so they run as root
 * (CI machines of this kind are) and are skipped otherwise.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cliSync, tmpDir, runJson } from './procHelpers';

const mounts: string[] = [];
function tmpfs(options: string): string | null {
  const dir = tmpDir('il-disk-');
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  mounts.push(dir);
  return dir;
}
after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
});
const root = process.getuid?.() === 0;

test(
  'a read-only file system is named as such (EROFS), not "no such file"',
  { skip: !root && 'needs root to mount tmpfs' },
  (t) => {
    const ro = tmpfs('ro,size=64k');
    if (!ro) {
      t.skip('mount failed');
      return;
    }
    const r = cliSync(['train', '--preset', 'smoke', '--out', path.join(ro, 'a', 'b')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^induction-lab: cannot create run folder .*: EROFS \(read-only file system\)\n$/);
  },
);

test(
  'a disk that fills up while metrics are appended: the metrics error, status "failed", whole lines only',
  { skip: !root && 'needs root to mount tmpfs' },
  (t) => {
    // 100 KiB: room for run.json, the lock and the 64 KiB space reserve, then ≈ 25 metric rows.
    const small = tmpfs('size=100k');
    if (!small) {
      t.skip('mount failed');
      return;
    }
    const cfg = path.join(tmpDir(), 'cfg.json');
    fs.writeFileSync(
      cfg,
      JSON.stringify({ train: { sequences: 64000, evalEvery: 320, checkpointEvery: 0 }, data: { evalSize: 20 } }),
    );
    const r = cliSync(['train', '--preset', 'smoke', '--config', cfg, '--out', small, '--run-id', 'full']);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /\ninduction-lab: cannot append to .*full\/metrics\.jsonl: ENOSPC \(disk full\)\n$/);
    const run = path.join(small, 'full');
    const rj = runJson(run);
    assert.equal(rj.status, 'failed');
    assert.match(rj.error ?? '', /metrics\.jsonl: ENOSPC/);
    const text = fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8');
    const lines = text.split('\n');
    const whole = lines.slice(0, -1); // drops the '' after the last newline, or a torn last line (allowed)
    assert.ok(whole.length >= 5, `${whole.length} rows before the disk filled`);
    for (const l of whole) JSON.parse(l);
    assert.deepEqual(
      fs.readdirSync(run).filter((f) => f.includes('.tmp-') || f === 'run.lock' || f === '.space-reserve'),
      [],
      'no temp file, lock or reserve left',
    );
  },
);
