// ESLint flat config (issue 16 part 7). Aim: rules that catch real bugs, not style — layout is Prettier's job
// (.prettierrc), so no formatting rule is enabled here. `npm run lint` runs in `npm test` before the unit tests.
//
// - Everywhere: eslint's and typescript-eslint's recommended sets (unused code, unreachable code, accidental
//   fallthrough, `any` leaks, control characters in regexes, ...). Names starting with `_` may stay unused.
// - A few zero-noise bug catchers on top: eqeqeq (null checks may use ==), no-self-compare,
//   array-callback-return (a .map() callback that forgets to return).
// - The VS Code layer (src/extension.ts, src/extension/**) and the two engine entry points (cli.ts, child.ts)
//   also get type-aware promise rules: a floating promise there is an unhandled rejection that nobody sees in
//   the extension host, or that kills the CLI with a stack trace instead of its one `induction-lab: ...` line.
//   VS Code's `Thenable` (showInformationMessage & co.) is not a Promise to these rules, so they do not flag it.
//   Type information costs ~10 s (a whole tsc program), so only these files pay for it; the engine, webviews
//   and tests have no floating promise today, but node:test's test() returns one, so tests would be all noise.
// - Unused eslint-disable comments are errors, so every one that stays names a rule that really fires there.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  {
    // What .gitignore ignores (build output, the e2e harness's code-server in .cache/, run folders).
    ignores: [
      'out/**',
      '.cache/**',
      'dist/**',
      'node_modules/**',
      'python/**',
      '.vscode-test/**',
      '.induction-lab/**',
      'figures/**',
      'findings/**',
      'test-results/**',
      '**/__pycache__/**',
      // Generated from kernels.c by scripts/build-wasm.sh / build-llc-wasm.sh (two base64 lines).
      'src/engine/fast/wasm/binary.ts',
      'src/engine/llc/wasm/binary.ts',
    ],
  },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // `catch {}` after a best-effort cleanup (rm of a temp file, a kill of a gone process) is deliberate here.
      'no-empty': ['error', { allowEmptyCatch: true }],
      // `any` stays visible (a warning) instead of blocking: the few left are at JSON / tf.js boundaries.
      '@typescript-eslint/no-explicit-any': 'warn',
      'prefer-const': ['error', { destructuring: 'all' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-self-compare': 'error',
      'array-callback-return': 'error',
    },
  },
  {
    files: ['src/webview/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Playwright scripts: code inside page.evaluate() runs in the browser.
    files: ['scripts/vscode-e2e/**/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    // The unit suite loads TypeScript through tsx's CommonJS hook (no ESM loader thread per file), where a
    // dynamic import() of a relative .ts path does not resolve: tests import statically.
    files: ['test/unit/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ImportExpression[source.type="Literal"][source.value=/^[.][.]?[/]/]',
          message: 'test:unit runs under tsx/cjs, where a dynamic import() of a .ts file fails: import it statically.',
        },
      ],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/extension.ts', 'src/extension/**/*.ts', 'src/engine/cli.ts', 'src/engine/child.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
);
