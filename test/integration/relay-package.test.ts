import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockedTree, packRelay, workerStarters } from '../../scripts/packRelay';

/*
 * The relay's npm package (`npm run pack:relay`), as hospital IT gets it: what is in it, that it pins the
 * versions this checkout tested, and that it installs with npm and runs from there, no checkout needed.
 */
describe('the rounds-server npm package', () => {
  const work = mkdtempSync(join(tmpdir(), 'rounds-relay-package-'));
  let tarball: string;
  let dependencies: Record<string, string>;
  beforeAll(async () => {
    ({ tarball, dependencies } = await packRelay(join(work, 'out')));
  }, 60_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('holds the bundled commands, the systemd unit and the guide, and no sources or tests (chunks in lib/: shared ones, and what a command loads only when it runs, with the workers they start)', () => {
    const files = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'bin/rounds-audit.mjs', 'bin/rounds-server.mjs', 'deploy/rounds-relay.service', 'docs/deployment.md', 'npm-shrinkwrap.json', 'package.json']));
    expect(files).toEqual(expect.arrayContaining(['bin/readoutWorker.mjs', 'bin/eventLinesWorker.mjs']));
    expect(files.filter((f) => !/^(LICENSE|README\.md|package\.json|npm-shrinkwrap\.json|bin\/(rounds-server|rounds-audit|readoutWorker|eventLinesWorker)\.mjs|lib\/([A-Za-z]+-\w+|readoutWorker|eventLinesWorker)\.mjs|deploy\/[\w.-]+|docs\/deployment\.md)$/.test(f))).toEqual([]);
    const sums = readFileSync(join(work, 'out', 'SHA256SUMS'), 'utf8');
    expect(sums).toMatch(/^[0-9a-f]{64} {2}rounds-server-\d+\.\d+\.\d+\.tgz\n$/);
    expect(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: join(work, 'out') }).status).toBe(0);
  });

  it('depends on exactly what the relay imports, pinned to the versions installed here, with the whole tree locked', () => {
    const stage = join(work, 'out', 'package');
    const manifest = JSON.parse(readFileSync(join(stage, 'package.json'), 'utf8')) as { name: string; license: string; engines: { node: string }; bin: Record<string, string>; dependencies: Record<string, string> };
    expect(manifest).toMatchObject({ name: 'rounds-server', license: 'AGPL-3.0-only', engines: { node: '>=20.19' }, bin: { 'rounds-server': 'bin/rounds-server.mjs', 'rounds-audit': 'bin/rounds-audit.mjs' } });
    expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['fastify', '@signalapp/sqlcipher', 'argon2', 'zod', 'commander', 'age-encryption']));
    // No desktop or build dependency leaks into the relay. libsignal does, for one thing only: the relay verifies
    // the signatures of acknowledgements of urgent messages with PublicKey.verify (issue 19; it encrypts nothing).
    expect(Object.keys(manifest.dependencies)).toEqual(expect.arrayContaining(['@signalapp/libsignal-client']));
    expect(Object.keys(manifest.dependencies).filter((d) => /electron|react|tsx|vite|conf/.test(d))).toEqual([]);
    const shrinkwrap = JSON.parse(readFileSync(join(stage, 'npm-shrinkwrap.json'), 'utf8')) as { packages: Record<string, { version?: string; dev?: boolean }> };
    for (const [name, version] of Object.entries(dependencies)) {
      expect(version).toBe((JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version);
      expect(shrinkwrap.packages[`node_modules/${name}`]?.version).toBe(version);
    }
    expect(Object.values(shrinkwrap.packages).filter((p) => p.dev)).toEqual([]);
  });

  it('installs with npm install --global and runs the relay from there', async () => {
    const prefix = join(work, 'prefix');
    const install = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { encoding: 'utf8', timeout: 180_000 });
    expect(install.status, install.stderr).toBe(0);
    const bin = (name: string) => join(prefix, 'bin', name);
    expect(spawnSync(bin('rounds-server'), ['--version'], { encoding: 'utf8' }).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    expect(spawnSync(bin('rounds-audit'), ['--help'], { encoding: 'utf8' }).stdout).toContain('verify');
    const data = join(work, 'data');
    mkdirSync(data, { mode: 0o700 });
    const added = spawnSync(bin('rounds-server'), ['user', 'add', '--data', data, '--username', 'jdoe', '--display-name', 'Dr. Jane Doe', '--role', 'clinician'], { encoding: 'utf8' });
    expect(added.stdout + added.stderr).toMatch(/enrollment code: \S+/);
    // A year's log is read out and checked on worker threads: they must be in the package too (a few
    // records more, so that events.jsonl has lines to share between two threads).
    for (const name of ['asmith', 'bjones', 'ckhan']) {
      expect(spawnSync(bin('rounds-server'), ['user', 'add', '--data', data, '--username', name, '--display-name', name, '--role', 'clinician'], { encoding: 'utf8' }).status).toBe(0);
    }
    const bundle = join(work, 'bundle');
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const exported = spawnSync(bin('rounds-server'), ['audit', 'export', '--data', data, '--from', today, '--to', tomorrow, '--out', bundle, '--threads', 'always'], { encoding: 'utf8' });
    expect(exported.status, exported.stderr).toBe(0);
    expect(readFileSync(join(bundle, 'events.csv'), 'utf8')).toContain('account.created');
    const verified = spawnSync(bin('rounds-audit'), ['verify', bundle, '--threads', 'always'], { encoding: 'utf8' });
    expect(verified.stdout, verified.stderr).toMatch(/^VERIFIED: \d+ records/);
    expect(verified.stdout).toMatch(/^The records were checked on [2-4] worker threads\.$/m);
    const relay = spawn(bin('rounds-server'), ['serve', '--data', data, '--port', '0', '--log-level', 'error'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        relay.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const address = /listening on (\S+)/.exec(out)?.[1];
          if (address) resolve(address);
        });
        relay.once('exit', (code) => reject(new Error(`the relay exited (${code}): ${out}`)));
      });
      expect(await (await fetch(`${url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    } finally {
      relay.kill('SIGTERM');
    }
  }, 240_000);
});

describe('lockedTree (npm-shrinkwrap.json from package-lock.json)', () => {
  const lock = {
    packages: {
      '': { dependencies: { a: '^1' } },
      'node_modules/a': { version: '1.0.0', dependencies: { b: '^2' }, optionalDependencies: { native: '^1' }, dev: true },
      'node_modules/a/node_modules/b': { version: '2.1.0', dependencies: { c: '*' } },
      'node_modules/b': { version: '3.0.0' },
      'node_modules/c': { version: '1.2.3' },
      'node_modules/native': { version: '1.0.0', optional: true },
      'node_modules/unrelated': { version: '9.9.9' },
    },
  };

  it('resolves each dependency as Node would (nested first), keeps optional ones optional and drops dev flags', () => {
    expect(lockedTree(lock, ['a'])).toEqual({
      'node_modules/a': { version: '1.0.0', dependencies: { b: '^2' }, optionalDependencies: { native: '^1' } },
      'node_modules/a/node_modules/b': { version: '2.1.0', dependencies: { c: '*' } },
      'node_modules/c': { version: '1.2.3' },
      'node_modules/native': { version: '1.0.0', optional: true },
    });
  });

  it('says which dependency the lockfile lacks', () => {
    expect(() => lockedTree(lock, ['missing'])).toThrow(/package-lock\.json has no missing/);
  });
});

describe('workerStarters (which bundled module starts which worker thread)', () => {
  const workers = ['readoutWorker', 'eventLinesWorker'];

  it('finds the relay\'s two thread starters in their sources, and nothing in a module that starts none', () => {
    expect(workerStarters(['server/audit/readoutThread.ts', 'server/audit/eventLinesThreads.ts', 'server/main.ts', 'server/audit/readoutWorker.ts'], workers)).toEqual(new Map([
      ['server/audit/readoutThread.ts', ['readoutWorker']],
      ['server/audit/eventLinesThreads.ts', ['eventLinesWorker']],
    ]));
  });

  it('fails the bundle for a worker it would not place: not bundled, or located some other way', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rounds-worker-starters-'));
    try {
      const module = (name: string, source: string) => {
        writeFileSync(join(dir, name), source);
        return join(dir, name);
      };
      const unbundled = module('unbundled.ts', "const w = new Worker(new URL('./summaryWorker.mjs', import.meta.url));\n");
      expect(() => workerStarters([unbundled], workers)).toThrow(/starts summaryWorker\.mjs, which the relay's bundle does not build/);
      const elsewhere = module('elsewhere.ts', "const w = new Worker(join(import.meta.dirname, 'readoutWorker.mjs'));\n");
      expect(() => workerStarters([elsewhere], workers)).toThrow(/elsewhere\.ts starts a worker thread, or names an \.mjs file, other than by new URL/);
      const computed = module('computed.ts', 'const w = new Worker(workerPath());\n');
      expect(() => workerStarters([computed], workers)).toThrow(/computed\.ts starts a worker thread/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
