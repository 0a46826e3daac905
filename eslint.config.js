// ESLint flat config. The import boundaries between layers are errors, never warnings:
// a folder is a layer (see README "Layout"), and crossing a boundary fails `npm test`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';

const ELECTRON_MESSAGE = 'Only main/electron and main/preload may import electron.';
const ELECTRON = { name: 'electron', message: ELECTRON_MESSAGE };
const ELECTRON_SUBPATHS = { group: ['electron/*'], message: ELECTRON_MESSAGE };
/** `await import('electron')` and `require('electron')` are caught too, not only static imports. */
const NO_DYNAMIC_ELECTRON = [
  { selector: "ImportExpression[source.value=/^electron(\\/|$)/]", message: ELECTRON_MESSAGE },
  { selector: "CallExpression[callee.name='require'][arguments.0.value=/^electron(\\/|$)/]", message: ELECTRON_MESSAGE },
];

/** The core's time and logs go through what is injected (main/core/Clock.ts, main/core/Logger.ts), so tests run in virtual time. */
const TIME_MESSAGE = 'In main/core, read the time and set timers through the injected Clock/Scheduler (main/core/Clock.ts).';
const NO_AMBIENT_TIME = [
  { selector: "MemberExpression[object.name='Date'][property.name='now']", message: TIME_MESSAGE },
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: TIME_MESSAGE },
];

/** Zones for import-x/no-restricted-paths: files in `target` may not import from `from`. */
const zones = [
  { target: './shared', from: ['./main', './renderer', './server', './test'], message: 'shared/ is the contract: it imports nothing but itself.' },
  { target: './renderer', from: ['./main', './server'], message: 'renderer/ talks to the core only through the shared contract.' },
  { target: './main/core', from: ['./main/electron', './main/preload', './renderer', './server'], message: 'main/core is Electron-free and knows nothing of the UI or the relay internals.' },
  { target: './main/preload', from: ['./main/core', './renderer', './server'], message: 'the preload only bridges the shared contract.' },
  { target: './main/electron', from: ['./renderer', './server'], message: 'the shell drives main/core; it never imports UI or relay code.' },
  { target: './server', from: ['./main', './renderer'], message: 'the relay imports shared/ only.' },
  { target: './scripts', from: ['./main/electron', './main/preload', './renderer'], message: 'scripts (the browser harness among them) start the core through main/core/app/createRoundsApp, never through the Electron shell.' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.rounds-data/**', 'dist/**', 'build/**', 'bench/**', 'test/artifacts/**', 'test/fixtures/lint/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'] })],
    },
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Pure layers: no Node built-ins and no Electron.
    files: ['shared/**/*.ts', 'renderer/**/*.{ts,tsx}'],
    ignores: ['**/*.test.ts', '**/*.test.tsx'],
    rules: {
      'import-x/no-nodejs-modules': 'error',
      'no-restricted-imports': ['error', { paths: [ELECTRON], patterns: [{ group: ['node:*'], message: 'No Node built-ins in this layer.' }, ELECTRON_SUBPATHS] }],
      'no-restricted-syntax': ['error', ...NO_DYNAMIC_ELECTRON],
    },
  },
  {
    files: ['main/core/**/*.ts', 'server/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [ELECTRON], patterns: [ELECTRON_SUBPATHS] }],
      'no-restricted-syntax': ['error', ...NO_DYNAMIC_ELECTRON],
    },
  },
  {
    // The core: one source of time (the injected Clock/Scheduler) and one logger (the injected Logger).
    files: ['main/core/**/*.ts'],
    ignores: ['**/*.test.ts', 'main/core/Clock.ts', 'main/core/Logger.ts'],
    rules: {
      'no-restricted-syntax': ['error', ...NO_DYNAMIC_ELECTRON, ...NO_AMBIENT_TIME],
      'no-restricted-globals': ['error', ...['setTimeout', 'setInterval', 'setImmediate'].map((name) => ({ name, message: TIME_MESSAGE }))],
      'no-console': ['error'],
    },
  },
  {
    // Tests: no Electron either, and never a focused test (`it.only`, `it.only.each`, `test.concurrent.only`, ...).
    files: ['**/*.test.ts', '**/*.test.tsx', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-imports': ['error', { paths: [ELECTRON], patterns: [ELECTRON_SUBPATHS] }],
      'no-restricted-syntax': ['error', ...NO_DYNAMIC_ELECTRON,
        { selector: "MemberExpression[property.name='only']", message: 'No .only in committed tests.' },
      ],
    },
  },
);
