import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const eslint = new ESLint({ cwd: root });

/** Lints `code` as if it were the file at `path` (relative to the repo) and returns the rules that fired. */
async function firedRules(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}/${path}` });
  return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => m.ruleId ?? 'parse-error');
}

describe('layer boundaries are lint errors', () => {
  it.each([
    ['renderer/probe.ts', "import { RoundsError } from '../main/core/errors';\nexport const x = RoundsError;", 'import-x/no-restricted-paths'],
    ['renderer/probe.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;", 'import-x/no-nodejs-modules'],
    ['renderer/probe.ts', "import { ipcRenderer } from 'electron';\nexport const x = ipcRenderer;", 'no-restricted-imports'],
    ['shared/probe.ts', "import { RoundsError } from '../main/core/errors';\nexport const x = RoundsError;", 'import-x/no-restricted-paths'],
    ['shared/probe.ts', "import { randomUUID } from 'node:crypto';\nexport const x = randomUUID;", 'import-x/no-nodejs-modules'],
    ['main/core/probe.ts', "import { app } from 'electron';\nexport const x = app;", 'no-restricted-imports'],
    ['main/core/probe.ts', "import { app } from 'electron/main';\nexport const x = app;", 'no-restricted-imports'],
    ['main/core/probe.ts', "export const x = await import('electron');", 'no-restricted-syntax'],
    ['server/probe.ts', "export const x = await import('electron/main');", 'no-restricted-syntax'],
    ['renderer/probe.ts', "import { ipcRenderer } from 'electron/renderer';\nexport const x = ipcRenderer;", 'no-restricted-imports'],
    ['server/probe.ts', "import { RoundsError } from '../main/core/errors';\nexport const x = RoundsError;", 'import-x/no-restricted-paths'],
    ['scripts/probe.ts', "import { APP_ORIGIN } from '../main/electron/security';\nexport const x = APP_ORIGIN;", 'import-x/no-restricted-paths'],
    ['main/core/probe.ts', 'export const x = Date.now();', 'no-restricted-syntax'],
    ['main/core/probe.ts', 'export const x = new Date();', 'no-restricted-syntax'],
    ['main/core/probe.ts', 'export const x = setTimeout(() => undefined, 5);', 'no-restricted-globals'],
    ['main/core/probe.ts', 'export const x = setInterval(() => undefined, 5);', 'no-restricted-globals'],
    ['main/core/probe.ts', "console.error('x');", 'no-console'],
  ])('%s: %s', async (path, code, rule) => {
    expect(await firedRules(path, code)).toContain(rule);
  });

  it('allows what the layers may use', async () => {
    expect(await firedRules('main/core/Clock.ts', 'export const x = [Date.now(), setTimeout(() => undefined, 5)];')).toEqual([]);
    expect(await firedRules('main/core/probe.ts', 'export const x = new Date(0).toISOString();')).toEqual([]);
    expect(await firedRules('main/core/probe.ts', "import { addressKey } from '../../shared/ids';\nimport { randomUUID } from 'node:crypto';\nexport const x = [addressKey, randomUUID];")).toEqual([]);
    expect(await firedRules('server/probe.ts', "import { EnvelopeSchema } from '../shared/wire/envelope';\nexport const x = EnvelopeSchema;")).toEqual([]);
    expect(await firedRules('scripts/probe.ts', "import { serveStatic } from '../main/core/web/staticFiles';\nexport const x = serveStatic;")).toEqual([]);
  });

  // The probes are assembled from parts so that this file does not itself read as a focused test.
  const focused = (...chain: string[]) => `${chain.join('.')}('x', () => {});`;
  it.each([
    focused('it', 'only'),
    `${['it', 'only', 'each'].join('.')}([1])('x %s', () => {});`,
    focused('test', 'concurrent', 'only'),
    focused('describe', 'only'),
  ])('refuses a focused test: %s', async (code) => {
    expect(await firedRules('test/integration/probe.test.ts', `import { describe, it, test } from 'vitest';\nvoid describe; void it; void test;\n${code}`)).toContain('no-restricted-syntax');
  });
});
