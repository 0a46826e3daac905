import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { findElectronBinary } from '../../scripts/electronBinary';

/*
 * electron-builder.yml, checked by electron-builder's own schema validation (not a hand-written check),
 * and the settings hospital IT relies on. Building installers needs an Electron binary; where there is
 * none (no internet), `npm run dist -- --dir` is skipped and says why.
 */
const config = parse(readFileSync('electron-builder.yml', 'utf8')) as Record<string, never>;

describe('electron-builder.yml', () => {
  it("passes electron-builder's schema validation", async () => {
    const { validateConfiguration } = await import('app-builder-lib/out/util/config/config');
    const { DebugLogger } = await import('builder-util');
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    await expect(validateConfiguration({ ...config, nsis: { perMachine: 'yes' } } as never, new DebugLogger(false))).rejects.toThrow(/perMachine/);
  });

  it('builds per-machine Windows installers, hardened macOS builds and Linux packages, with the fuses flipped', () => {
    expect(config).toMatchObject({
      appId: 'org.rounds.desktop', productName: 'Rounds',
      win: { target: ['nsis', 'msi'] }, nsis: { perMachine: true, oneClick: false }, msi: { perMachine: true },
      mac: { target: ['dmg', 'zip'], hardenedRuntime: true }, linux: { target: ['AppImage', 'deb', 'rpm'] },
      electronFuses: { runAsNode: false, enableCookieEncryption: true, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false, enableEmbeddedAsarIntegrityValidation: true, onlyLoadAppFromAsar: true },
    });
    expect(JSON.stringify(config)).not.toMatch(/cscLink|certificatePassword|appleIdPassword/i);
  });

  const electron = findElectronBinary();
  if (electron.path === null) console.log(`npm run dist -- --dir skipped: ${electron.reason}`);
  it.skipIf(electron.path === null)('packages the app (npm run dist -- --dir)', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync('npm', ['run', 'dist', '--', '--dir'], { encoding: 'utf8', timeout: 600_000 });
    expect(result.status, result.stderr).toBe(0);
  }, 600_000);
});
