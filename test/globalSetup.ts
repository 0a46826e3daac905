/**
 * Once per `vitest run`: the relay's two commands bundled by esbuild exactly as `npm run pack:relay` bundles them
 * (scripts/packRelay.ts), so the hundreds of `rounds-server` and `rounds-audit` processes the integration tests start
 * run what hospital IT installs and skip tsx's compile on every start (0.5 s a start instead of 1.3 s). The bundle
 * sits under node_modules/.cache so its imports resolve to this checkout's packages; it is removed afterwards.
 * Without it (a test file run some other way) the fixtures fall back to the sources through tsx.
 * It also names an empty folder in which the first UI test file builds the renderer for all of them
 * (test/fixtures/builtRenderer.ts); a run without UI tests builds nothing there.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleRelay } from '../scripts/packRelay';

export const RELAY_BIN_VARIABLE = 'ROUNDS_TEST_RELAY_BIN';
export const RENDERER_DIR_VARIABLE = 'ROUNDS_TEST_RENDERER_DIR';

export default async function setup(): Promise<() => void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = join(root, 'node_modules/.cache/rounds-test-relay', String(process.pid));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await bundleRelay(join(dir, 'bin'));
  process.env[RELAY_BIN_VARIABLE] = join(dir, 'bin');
  mkdirSync(join(dir, 'renderer'));
  process.env[RENDERER_DIR_VARIABLE] = join(dir, 'renderer');
  return () => rmSync(dir, { recursive: true, force: true });
}
