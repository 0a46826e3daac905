/**
 * Builds the desktop app into dist/app: the Electron main process and the preload (bundled by esbuild;
 * native modules and electron stay external) and, when the renderer exists, the React UI (by vite).
 *   npm run build
 */
import { build } from 'esbuild';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildRenderer } from './renderer';

export const OUT_DIR = resolve('dist/app');

/**
 * Native modules (N-API prebuilds) are loaded at run time, not bundled: they are exactly package.json's
 * `dependencies`, the only packages electron-builder puts in the app (everything else is bundled).
 */
export const NATIVE_MODULES = ['@signalapp/libsignal-client', '@signalapp/sqlcipher', 'argon2'];
const EXTERNAL = ['electron', ...NATIVE_MODULES];

export async function buildApp(outDir = OUT_DIR): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const common = { bundle: true, platform: 'node', target: 'node22', format: 'cjs', sourcemap: true, logLevel: 'warning', external: EXTERNAL } as const;
  await build({ ...common, entryPoints: ['main/electron/main.ts'], outfile: `${outDir}/main.cjs` });
  // The sandboxed preload may require only 'electron': everything else is bundled into it.
  await build({ ...common, entryPoints: ['main/preload/preload.ts'], outfile: `${outDir}/preload.cjs`, external: ['electron'] });
  if (existsSync('renderer/index.html')) await buildRenderer(`${outDir}/renderer`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildApp();
  console.log(`built the desktop app into ${OUT_DIR}`);
}
