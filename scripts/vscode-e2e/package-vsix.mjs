// Builds the .vsix with @vscode/vsce from a staging copy of the extension: the manifest, .vscodeignore,
// out/ (every bundle the extension, the child and the CLI load — no node_modules), media/, README/LICENSE.
// vsce matches every file of the folder it packages against .vscodeignore, which in the repository itself
// would include the ~12k files of .cache/ and node_modules/ (40+ s); the staging copy holds only what can
// ship, and `--no-dependencies` keeps vsce from collecting node_modules. Prints what it packed.
// CLI: node scripts/vscode-e2e/package-vsix.mjs [out.vsix]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const defaultRoot = resolve(here, '../..');
const TOP_LEVEL = [
  'package.json',
  '.vscodeignore',
  'README.md',
  'CHANGELOG.md',
  'LICENSE',
  'LICENSE.md',
  'LICENSE.txt',
  'out',
  'media',
];

/**
 * Packages the extension at `root` into `outFile`. Returns { file, bytes, seconds }.
 * @param {{ root?: string, outFile: string, log?: (s: string) => void }} opts
 */
export function packageVsix({ root = defaultRoot, outFile, log = console.log }) {
  const t0 = Date.now();
  const staging = mkdtempSync(join(tmpdir(), 'induction-lab-vsix-'));
  try {
    for (const name of TOP_LEVEL) {
      const src = join(root, name);
      if (!existsSync(src)) continue;
      cpSync(src, join(staging, name), {
        recursive: true,
        // The integration suite is not part of the extension.
        filter: (p) => !relative(root, p).startsWith(join('out', 'test')),
      });
    }
    log(`staged ${relative(tmpdir(), staging)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    mkdirSync(dirname(resolve(outFile)), { recursive: true });
    const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    const args = [vsce, 'package', '--out', resolve(outFile), '--allow-missing-repository', '--no-dependencies'];
    if (!['LICENSE', 'LICENSE.md', 'LICENSE.txt'].some((f) => existsSync(join(root, f)))) args.push('--skip-license');
    const r = spawnSync(process.execPath, args, {
      cwd: staging,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status ?? r.signal}):\n${output}`);
    const done = output.split('\n').find((l) => l.includes('Packaged:'));
    log(
      `${
        done
          // eslint-disable-next-line no-control-regex -- strips vsce's ANSI colour codes
          ?.replace(/\x1b\[[0-9;]*m/g, '')
          .replace(/^.*DONE\s*/, '')
          .trim() ?? `packaged ${outFile}`
      } — version ${version}`,
    );
    return { file: resolve(outFile), bytes: statSync(outFile).size, seconds: (Date.now() - t0) / 1000 };
  } finally {
    if (!process.env.KEEP_STAGING) rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const version = JSON.parse(readFileSync(join(defaultRoot, 'package.json'), 'utf8')).version;
  packageVsix({ outFile: process.argv[2] ?? join(defaultRoot, `induction-lab-${version}.vsix`) });
}
