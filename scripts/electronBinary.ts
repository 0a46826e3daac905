import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The Electron executable, or null with the reason when there is none (as on machines without internet:
 * the `electron` package installs, its binary download does not). Never triggers a download.
 */
export function findElectronBinary(): { path: string } | { path: null; reason: string } {
  const override = process.env.ELECTRON_PATH;
  if (override) return existsSync(override) ? { path: override } : { path: null, reason: `ELECTRON_PATH=${override} does not exist` };
  let packageDir: string;
  try {
    packageDir = dirname(createRequire(import.meta.url).resolve('electron/package.json'));
  } catch {
    return { path: null, reason: 'the electron package is not installed' };
  }
  const pathFile = join(packageDir, 'path.txt');
  if (!existsSync(pathFile)) return { path: null, reason: 'the Electron binary was never downloaded (no internet when `npm ci` ran); set ELECTRON_PATH to an installed Electron to run it' };
  const binary = join(packageDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? { path: binary } : { path: null, reason: `the Electron binary ${binary} is missing` };
}
