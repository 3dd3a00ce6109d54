/** What the runs tree lists (src/extension/runListing.ts) from real folders on disk. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkpointChildren,
  checkpointLabel,
  isResumable,
  liveStatus,
  listCheckpoints,
  listGroup,
  listRoot,
  rangeLabel,
  readRunNode,
  STALE_MS,
} from '../../src/extension/runListing';
import { findRuns } from '../../src/extension/labData';
import { listRuns } from '../../src/engine/io/runStore';

function makeRun(dir: string, rj: Record<string, unknown>, checkpoints: number[] = []): void {
  fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify(rj));
  for (const n of checkpoints) fs.writeFileSync(path.join(dir, 'checkpoints', `seq-${n}.safetensors`), '');
}

test('runs newest first with unique names; subcircuits/ and reproduce/ become groups', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-tree-'));
  try {
    const demo = { kind: 'ablate', heads: ['L2H0', 'L2H1', 'L2H2', 'L2H4', 'L2H5', 'L2H6', 'L2H7'] };
    makeRun(path.join(root, '2026-12-01T10-00-00-demo-aaaa'), {
      preset: 'demo',
      status: 'completed',
      created: '2026-12-01T10:00:00Z',
      config: { clamps: [demo] },
    });
    makeRun(path.join(root, '2026-12-01T11-00-00-demo-bbbb'), {
      preset: 'demo',
      status: 'completed',
      created: '2026-12-01T11:00:00Z',
      config: { clamps: [demo, { kind: 'induction', heads: ['L2H3'], strength: 1 }] },
      engine: 'fast (wasm relaxed)',
      backend: 'wasm',
    });
    makeRun(path.join(root, 'subcircuits', 'subcircuits-fast-seed5-noclamp'), {
      preset: 'fig5b.noclamp@fast',
      status: 'completed',
    });
    makeRun(path.join(root, 'reproduce', 'fig5b.noclamp-fast-seed5'), {
      preset: 'fig5b.noclamp@fast',
      status: 'completed',
    });
    fs.mkdirSync(path.join(root, 'empty-folder'));
    const { runs, groups } = await listRoot(root);
    assert.deepEqual(
      runs.map((r) => r.fullName),
      ['demo · only L2H3 · IH L2H3 · #bbbb', 'demo · only L2H3 · #aaaa'],
    );
    assert.equal(runs[0].engine, 'fast engine (WebAssembly SIMD, relaxed)');
    assert.deepEqual(
      groups.map((g) => [g.name, g.count]),
      [
        ['reproduce', 1],
        ['subcircuits', 1],
      ],
    );
    const sub = await listGroup(groups[1].dir);
    assert.equal(sub[0].name, 'fig5b.noclamp');
    assert.equal(sub[0].group, 'subcircuits');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('checkpoints: digit grouping, flat up to 20, ranges of 10 above', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-tree-'));
  try {
    const many = Array.from({ length: 101 }, (_, i) => i * 10_000);
    makeRun(path.join(root, 'paper'), { preset: 'paper', status: 'completed' }, many);
    const run = (await readRunNode(path.join(root, 'paper')))!;
    const cks = await listCheckpoints(run);
    assert.deepEqual(
      cks.map((c) => c.sequences),
      many,
    );
    assert.equal(checkpointLabel(1_000_000), 'seq 1,000,000');
    const kids = checkpointChildren(run, cks);
    assert.equal(kids.length, 11);
    assert.ok(kids.every((k) => k.kind === 'checkpoints'));
    assert.equal(rangeLabel((kids[1] as { checkpoints: typeof cks }).checkpoints), 'seq 100,000 – 190,000');
    assert.equal(checkpointChildren(run, cks.slice(0, 20)).length, 20);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a "running" run is interrupted when its child died under us, or nobody writes it for a while', () => {
  const now = 1e12;
  assert.deepEqual(liveStatus('running', { owned: true, died: false, lastWrite: 0, now }), { status: 'running' });
  assert.equal(liveStatus('running', { owned: false, died: true, lastWrite: now, now }).status, 'interrupted');
  assert.equal(liveStatus('running', { owned: false, died: false, lastWrite: now - 1000, now }).status, 'running');
  const stale = liveStatus('running', { owned: false, died: false, lastWrite: now - STALE_MS - 60_000, now });
  assert.equal(stale.status, 'interrupted');
  assert.match(stale.note!, /nothing was written for 6 min/);
  assert.deepEqual(liveStatus('completed', { owned: false, died: true, lastWrite: 0, now }), { status: 'completed' });
});

test('the run lock decides when it can: a held lock is running, a missing one interrupted, at once', async () => {
  const now = 1e12;
  const lock = (status: string) => ({
    status,
    note: status === 'running' ? 'pid 42 on host since …' : 'interrupted (its training process is gone)',
  });
  assert.deepEqual(
    liveStatus('running', { owned: false, died: false, lastWrite: now, now, lock: lock('interrupted') }),
    { status: 'interrupted', note: 'interrupted (its training process is gone)' },
  );
  assert.equal(
    liveStatus('completed', { owned: false, died: false, lastWrite: now, now, lock: lock('running') }).status,
    'running',
    'a restart not yet recorded',
  );
  // A real folder: "running" in run.json, no run.lock (the writer was killed) → interrupted, with no wait.
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-tree-'));
  try {
    makeRun(path.join(root, 'killed'), { preset: 'fast', status: 'running' });
    const n = (await readRunNode(path.join(root, 'killed')))!;
    assert.equal(n.status, 'interrupted');
    assert.match(n.statusNote!, /interrupted/);
    assert.ok(isResumable(n), "the palette's Resume picker offers an interrupted run");
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test("Resume: the palette picker and the tree's inline action offer the same statuses", () => {
  for (const st of ['cancelled', 'failed', 'interrupted']) assert.ok(isResumable({ status: st }), st);
  for (const st of ['running', 'completed', 'created', undefined]) assert.ok(!isResumable({ status: st }), String(st));
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
  const inline = pkg.contributes.menus['view/item/context'].filter(
    (m: { command: string }) => m.command === 'inductionLab.resumeRun',
  );
  assert.ok(inline.length >= 1);
  for (const m of inline) {
    const re = /viewItem =~ \/(.*)\/$/.exec(m.when)![1];
    const matches = (st: string) => new RegExp(re.replace(/\\\\/g, '\\')).test(`run.${st}`);
    for (const st of ['cancelled', 'failed', 'interrupted', 'running', 'completed']) {
      assert.equal(matches(st), isResumable({ status: st }), `${m.when} / ${st}`);
    }
  }
});

test('one reader, one order: the tree (runListing) and the views (labData.findRuns) list runs alike', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'il-tree-'));
  try {
    // Created times out of id order (a run resumed under an older id keeps its created), one without `created`.
    const done = (created?: string) => ({ preset: 'fast', status: 'completed', ...(created ? { created } : {}) });
    makeRun(path.join(root, '2026-12-01T09-00-00-a-0001'), done('2026-12-01T12:00:00.000Z'));
    makeRun(path.join(root, '2026-12-01T10-00-00-b-0002'), done('2026-12-01T10:00:00.000Z'));
    makeRun(path.join(root, '2026-12-01T11-00-00-c-0003'), { preset: 'fast', status: 'completed' });
    makeRun(path.join(root, '2026-12-01T08-00-00-d-0004'), { preset: 'fast', status: 'completed' });
    makeRun(path.join(root, 'subcircuits', 'subcircuits-fast-seed5-noclamp'), done());
    // A run folder being created (checkpoints/ but no run.json yet) is neither a run, a group nor a problem.
    fs.mkdirSync(path.join(root, '2026-12-01T12-00-00-e-0005', 'checkpoints'), { recursive: true });
    const want = [
      '2026-12-01T09-00-00-a-0001',
      '2026-12-01T10-00-00-b-0002',
      '2026-12-01T11-00-00-c-0003',
      '2026-12-01T08-00-00-d-0004',
    ];
    assert.deepEqual(
      listRoot(root).runs.map((r) => path.basename(r.dir)),
      want,
    );
    assert.deepEqual(
      findRuns([root]).map((r) => r.summary.id),
      want,
    );
    // The views (Compare) also list the grouped runs.
    assert.ok(findRuns([root], { groups: true }).some((r) => r.summary.id === 'subcircuits-fast-seed5-noclamp'));
    const all = listRuns(root, { groups: true });
    assert.deepEqual(
      all.filter((e) => e.group).map((e) => [e.group, e.id]),
      [['subcircuits', 'subcircuits-fast-seed5-noclamp']],
    );
    assert.deepEqual(all.problems, []);
    assert.deepEqual(
      listRoot(root).groups.map((g) => [g.name, g.count]),
      [['subcircuits', 1]],
    );
    // Without groups (the CLI's listing) the group folder is a folder without run.json, as before.
    assert.ok(listRuns(root).problems.some((p) => p.id === 'subcircuits'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
