import { build as esbuild } from 'esbuild';
import { resolve } from 'node:path';

/** Builds the React renderer with vite into `outDir` (relative asset paths: it works under app:// and http). */
export async function buildRenderer(outDir: string): Promise<void> {
  const { build } = await import('vite');
  await build({ root: resolve('renderer'), base: './', logLevel: 'warn', build: { outDir, emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 } });
}

/** The browser harness's bridge script (the preload's stand-in), bundled for the browser. */
export async function buildHarnessBridge(): Promise<string> {
  const result = await esbuild({ entryPoints: [resolve('renderer/harness/bridge.ts')], bundle: true, format: 'iife', platform: 'browser', target: 'chrome120', write: false, logLevel: 'warning' });
  const [file] = result.outputFiles;
  if (!file) throw new Error('esbuild produced no harness bridge');
  return file.text;
}
