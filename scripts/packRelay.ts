/**
 * `npm run pack:relay`: builds the relay's npm package, `rounds-server`, the one hospital IT installs with
 * `npm install --global` on the relay machine. Our own code (server/ and shared/) is bundled by esbuild into
 * two entry points; every package it imports stays a dependency, at the version
 * exactly as this checkout installed it, and npm-shrinkwrap.json locks the whole tree, so a relay runs the
 * versions the tests ran. Writes
 * dist/relay/rounds-server-<version>.tgz and a SHA256SUMS beside it.
 */
import { build, type Metafile } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeChecksums } from './checksums';

export const RELAY_PACKAGE_NAME = 'rounds-server';
export const RELAY_OUT_DIR = resolve('dist/relay');

interface RootManifest {
  version: string;
  license: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/** `@scope/name/sub/path` -> `@scope/name`; `name/sub` -> `name`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0] ?? specifier;
}

/** The packages the bundle imports at run time (Node's own modules excluded), from esbuild's metafile. */
export function importedPackages(metafile: Metafile): string[] {
  const builtins = new Set(builtinModules);
  const imported = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (!external || path.startsWith('node:') || builtins.has(path) || path.startsWith('.')) continue;
      imported.add(packageOf(path));
    }
  }
  return [...imported].sort();
}

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  [key: string]: unknown;
}
interface Lockfile { packages: Record<string, LockEntry> }

/**
 * The part of the checkout's package-lock.json that `roots` need at run time, as npm-shrinkwrap.json entries:
 * each dependency is found the way Node finds it (nested node_modules first, then each parent's), so the
 * relay gets exactly the versions `npm ci` installed here. A package reached only through optional
 * dependencies stays optional (platform prebuilds).
 */
export function lockedTree(lock: Lockfile, roots: readonly string[]): Record<string, LockEntry> {
  const required = new Map<string, boolean>(); // lock path -> reached only through optional edges
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
      const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock.packages[candidate]) return candidate;
      if (!base) return undefined;
    }
  };
  const visit = (from: string, name: string, optional: boolean) => {
    const path = resolveFrom(from, name);
    if (!path) {
      if (optional) return;
      throw new Error(`package-lock.json has no ${name} for ${from || 'the relay'}: run npm install`);
    }
    const seen = required.get(path);
    if (seen === false || seen === optional) return;
    required.set(path, optional);
    const entry = lock.packages[path] ?? {};
    for (const dep of Object.keys(entry.dependencies ?? {})) visit(path, dep, optional);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) visit(path, dep, true);
    for (const dep of Object.keys(entry.peerDependencies ?? {})) visit(path, dep, optional || entry.peerDependenciesMeta?.[dep]?.optional === true);
  };
  for (const name of roots) visit('', name, false);
  const tree: Record<string, LockEntry> = {};
  for (const path of [...required.keys()].sort()) {
    const { dev: _dev, optional: _optional, devOptional: _devOptional, peer: _peer, ...entry } = lock.packages[path] ?? {};
    tree[path] = required.get(path) ? { ...entry, optional: true } : entry;
  }
  return tree;
}

/** The worker threads, each bundled as bin/<name>.mjs. */
const WORKERS: Readonly<Record<string, string>> = { readoutWorker: 'server/audit/readoutWorker.ts', eventLinesWorker: 'server/audit/eventLinesWorker.ts' };

/**
 * The relay's own code bundled into `binDir`: the two commands, and beside them the audit log's worker
 * threads. Shared code, and what a command loads only when it runs (`import()`), goes to chunks in `../lib`.
 */
export async function bundleRelay(binDir: string): Promise<Metafile> {
  const result = await build({
    entryPoints: { 'rounds-server': 'server/main.ts', 'rounds-audit': 'server/auditMain.ts', ...WORKERS },
    outdir: binDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: '../lib/[name]-[hash]',
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    banner: { js: '#!/usr/bin/env node' },
    metafile: true,
    logLevel: 'warning',
  });
  placeWorkers(binDir, result.metafile, workerStarters(Object.keys(result.metafile.inputs), Object.keys(WORKERS)));
  return result.metafile;
}

/** How a module of ours names the worker it starts: `new URL('./<worker>.mjs', import.meta.url)`, beside its own file. */
const WORKER_URL = /new URL\(\s*(['"`])\.\/([\w-]+)\.mjs\1\s*,\s*import\.meta\.url\s*\)/g;
/** Any `.mjs` file named by a string: one not named as above would be a worker the bundle cannot place. */
const MJS_NAMED = /(['"`])[^'"`\n]*\.mjs\1/g;

/**
 * The bundled modules (`inputs`, source paths as esbuild's metafile lists them) that start a worker thread, and the
 * workers each starts, read from their sources. A module that starts a thread (`new Worker(`) or names an `.mjs` file
 * other than by WORKER_URL, or names a worker that is not one of `workers` (the bundled ones), fails the build: the
 * package would start without it and fail only when the thread is first needed.
 */
export function workerStarters(inputs: readonly string[], workers: readonly string[]): Map<string, string[]> {
  const starters = new Map<string, string[]>();
  for (const input of inputs) {
    if (!/\.[cm]?[jt]s$/.test(input) || !existsSync(input)) continue;
    const source = readFileSync(input, 'utf8');
    const named = [...source.matchAll(WORKER_URL)].flatMap((m) => (m[2] ? [m[2]] : []));
    const mjs = source.match(MJS_NAMED) ?? [];
    if (mjs.length !== named.length || (named.length === 0 && /\bnew Worker\(/.test(source))) {
      throw new Error(`${input} starts a worker thread, or names an .mjs file, other than by new URL('./<worker>.mjs', import.meta.url): the relay's bundle cannot place that worker`);
    }
    const unknown = named.filter((w) => !workers.includes(w));
    if (unknown.length > 0) throw new Error(`${input} starts ${unknown.map((w) => `${w}.mjs`).join(', ')}, which the relay's bundle does not build (scripts/packRelay.ts WORKERS)`);
    if (named.length > 0) starters.set(input, [...new Set(named)]);
  }
  return starters;
}

/**
 * A module that starts a worker looks for it next to the file the bundle put the module in: a command's file in
 * bin/, or a chunk in lib/ when a command loads it on first use. The worker (its imports name `../lib/` chunks,
 * which resolve from either folder) is copied beside each lib/ file that holds such a module.
 */
function placeWorkers(binDir: string, metafile: Metafile, starters: ReadonlyMap<string, readonly string[]>): void {
  for (const [output, { inputs }] of Object.entries(metafile.outputs)) {
    for (const [starter, workers] of starters) {
      if (!(starter in inputs)) continue;
      for (const worker of workers) {
        const beside = join(dirname(resolve(output)), `${worker}.mjs`);
        // Copied each build, never kept from an earlier one (a folder built into again would keep an old worker).
        const own = join(binDir, `${worker}.mjs`);
        if (resolve(beside) !== resolve(own)) copyFileSync(own, beside);
      }
    }
  }
}

export async function packRelay(outDir = RELAY_OUT_DIR): Promise<{ tarball: string; dependencies: Record<string, string> }> {
  const root = JSON.parse(readFileSync('package.json', 'utf8')) as RootManifest;
  const stage = join(outDir, 'package');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  const metafile = await bundleRelay(join(stage, 'bin'));

  // Pinned to the versions package-lock.json gives (what `npm ci` installed and the tests ran);
  // npm-shrinkwrap.json pins the rest of the tree from the same file.
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as Lockfile;
  const dependencies: Record<string, string> = {};
  for (const name of importedPackages(metafile)) {
    if (!root.dependencies[name] && !root.devDependencies[name]) throw new Error(`the relay imports ${name}, which package.json does not list`);
    const version = lock.packages[`node_modules/${name}`]?.version;
    if (!version) throw new Error(`package-lock.json has no ${name}: run npm install`);
    dependencies[name] = version;
  }
  const manifest = {
    name: RELAY_PACKAGE_NAME,
    version: root.version,
    description: 'Rounds relay: accounts, prekey directory and store-and-forward of end-to-end encrypted messages for clinical teams',
    license: root.license,
    type: 'module',
    engines: root.engines,
    os: ['linux', 'darwin', 'win32'],
    bin: { 'rounds-server': 'bin/rounds-server.mjs', 'rounds-audit': 'bin/rounds-audit.mjs' },
    files: ['bin/', 'lib/', 'deploy/', 'docs/', 'LICENSE', 'README.md', 'npm-shrinkwrap.json'],
    dependencies,
  };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  copyFileSync('LICENSE', join(stage, 'LICENSE'));
  copyFileSync('server/README.md', join(stage, 'README.md'));
  cpSync('deploy', join(stage, 'deploy'), { recursive: true });
  mkdirSync(join(stage, 'docs'));
  copyFileSync('docs/deployment.md', join(stage, 'docs/deployment.md'));

  const shrinkwrap = { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { '': { name: manifest.name, version: manifest.version, license: manifest.license, dependencies, bin: manifest.bin, engines: manifest.engines }, ...lockedTree(lock, Object.keys(dependencies)) } };
  writeFileSync(join(stage, 'npm-shrinkwrap.json'), `${JSON.stringify(shrinkwrap, null, 2)}\n`);
  const packed = spawnSync('npm', ['pack', '--silent', '--pack-destination', outDir], { cwd: stage, encoding: 'utf8' });
  if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const tarball = join(outDir, packed.stdout.trim().split('\n').pop() ?? '');
  writeChecksums(outDir, [tarball]);
  return { tarball, dependencies };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { tarball } = await packRelay();
  console.log(`wrote ${tarball}`);
  console.log(`check it with: cd ${RELAY_OUT_DIR} && sha256sum -c SHA256SUMS`);
  console.log(`install it with: sudo npm install --global --prefix /usr ${tarball}  (docs/deployment.md, section 1)`);
}
