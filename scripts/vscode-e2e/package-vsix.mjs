// Builds the .vsix with @vscode/vsce from a staging copy of the extension: the manifest, .vscodeignore,
// out/, media/, README/LICENSE and the production dependencies (`npm ls --omit=dev`). vsce matches every
// file of the folder it packages against .vscodeignore, which in the repository itself would include the
// ~12k files of .cache/ (40+ s); the staging copy holds only what can ship. .vscodeignore then decides.
// CLI: node scripts/vscode-e2e/package-vsix.mjs [out.vsix]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const defaultRoot = resolve(here, '../..');
const TOP_LEVEL = ['package.json', '.vscodeignore', 'README.md', 'CHANGELOG.md', 'LICENSE', 'LICENSE.md', 'LICENSE.txt', 'out', 'media'];

/** Top-level package folders of the production dependency tree (nested node_modules come with them). */
function productionModules(root) {
  const out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const mods = new Set();
  for (const line of out.split('\n')) {
    const rel = relative(root, line.trim());
    if (!rel.startsWith(`node_modules${sep}`) || rel.split(`${sep}node_modules${sep}`).length > 1) continue;
    if (existsSync(join(root, rel))) mods.add(rel);
  }
  return [...mods];
}

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
    for (const mod of productionModules(root)) cpSync(join(root, mod), join(staging, mod), { recursive: true });
    mkdirSync(dirname(resolve(outFile)), { recursive: true });
    const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
    const args = [vsce, 'package', '--out', resolve(outFile), '--allow-missing-repository'];
    if (!['LICENSE', 'LICENSE.md', 'LICENSE.txt'].some((f) => existsSync(join(root, f)))) args.push('--skip-license');
    const r = spawnSync(process.execPath, args, { cwd: staging, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) throw new Error(`vsce package failed (exit ${r.status ?? r.signal}):\n${output}`);
    const done = output.split('\n').find((l) => l.includes('Packaged:'));
    log(`${done?.replace(/^.*DONE\s*/, '').trim() ?? `packaged ${outFile}`} — version ${version}`);
    return { file: resolve(outFile), bytes: statSync(outFile).size, seconds: (Date.now() - t0) / 1000 };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const version = JSON.parse(readFileSync(join(defaultRoot, 'package.json'), 'utf8')).version;
  packageVsix({ outFile: process.argv[2] ?? join(defaultRoot, `induction-lab-${version}.vsix`) });
}
