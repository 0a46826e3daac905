import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NATIVE_MODULES } from '../../scripts/build';
import { artifactsIn, signingPlan } from '../../scripts/dist';
import { findElectronBinary } from '../../scripts/electronBinary';
import { ROUNDS_VERSION } from '../../shared/version';
import { titleUnless } from '../fixtures/skipReason';

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
      mac: { target: [{ target: 'dmg', arch: 'arm64' }, { target: 'zip', arch: 'arm64' }, { target: 'pkg', arch: 'arm64' }], hardenedRuntime: true, notarize: true }, linux: { target: ['AppImage', 'deb', 'rpm'] },
      pkg: { installLocation: '/Applications' },
      electronFuses: { runAsNode: false, enableCookieEncryption: true, enableNodeOptionsEnvironmentVariable: false, enableNodeCliInspectArguments: false, enableEmbeddedAsarIntegrityValidation: true, onlyLoadAppFromAsar: true },
    });
    // Signing and notarization credentials come from the environment only.
    expect(JSON.stringify(config)).not.toMatch(/cscLink|cscKeyPassword|certificateFile|certificatePassword|appleIdPassword|appleApiKey|keychain/i);
    // Rounds opens no documents and registers no URL scheme.
    expect(JSON.stringify(config)).not.toMatch(/fileAssociations|protocols/);
  });

  it('has an icon electron-builder can turn into .ico, .icns and the Linux sizes, and one version everywhere', () => {
    const png = readFileSync(String(config.icon));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
    expect(width).toBe(height);
    expect(width).toBeGreaterThanOrEqual(512);
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string; author: { email: string } };
    expect(ROUNDS_VERSION).toBe(manifest.version);
    // deb and rpm need a maintainer's address.
    expect(manifest.author.email).toMatch(/@/);
  });

  it('signs only with identities the environment names, says when it does not, and sums only the artifacts', () => {
    expect(signingPlan({}).summary).toMatch(/^building UNSIGNED artifacts \(none of CSC_LINK, CSC_NAME, WIN_CSC_LINK, CSC_INSTALLER_LINK is set\)$/);
    expect(signingPlan({}).identityAutoDiscovery).toBe(false);
    // Notarization variables alone never make electron-builder pick whatever identity a keychain holds.
    const appleOnly = signingPlan({ APPLE_ID: 'it@hospital.example', APPLE_APP_SPECIFIC_PASSWORD: 'x', APPLE_TEAM_ID: 'T' });
    expect(appleOnly).toEqual({ summary: expect.stringMatching(/^building UNSIGNED[^\n]*\nnotarizing macOS builds with: APPLE_ID, APPLE_APP_SPECIFIC_PASSWORD, APPLE_TEAM_ID$/), identityAutoDiscovery: false, forceCodeSigning: { mac: false, win: false } });
    // A certificate from the environment is found (in the keychain electron-builder makes from it), and must sign.
    const withCertificate = signingPlan({ CSC_LINK: 'cert.p12', APPLE_API_KEY: 'key.p8' });
    expect(withCertificate).toEqual({ summary: 'signing with: CSC_LINK\nignoring an incomplete set of notarization variables: APPLE_API_KEY', identityAutoDiscovery: true, forceCodeSigning: { mac: true, win: true } });
    // Each platform's identity counts for that platform only: a Windows certificate never starts a keychain search.
    expect(signingPlan({ CSC_NAME: 'Developer ID Application: Hospital' })).toMatchObject({ identityAutoDiscovery: true, forceCodeSigning: { mac: true, win: false } });
    expect(signingPlan({ WIN_CSC_LINK: 'win.pfx' })).toMatchObject({ identityAutoDiscovery: false, forceCodeSigning: { mac: false, win: true } });
    expect(signingPlan({ CSC_INSTALLER_LINK: 'installer.p12' })).toMatchObject({ identityAutoDiscovery: false, forceCodeSigning: { mac: false, win: false } });
    const out = mkdtempSync(join(tmpdir(), 'rounds-dist-'));
    for (const f of ['Rounds-Setup-1.0.0.exe', 'Rounds-Setup-1.0.0.exe.blockmap', 'latest.yml', 'builder-debug.yml', 'builder-effective-config.yaml', 'SHA256SUMS']) writeFileSync(join(out, f), f);
    expect(artifactsIn(out).map((f) => f.slice(out.length + 1)).sort()).toEqual(['Rounds-Setup-1.0.0.exe', 'latest.yml']);
    rmSync(out, { recursive: true });
  });

  it('puts only the native modules in the app: everything else is bundled into it', () => {
    // electron-builder copies package.json's dependencies (and theirs) into the app; the build bundles the rest.
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual([...NATIVE_MODULES].sort());
    for (const native of NATIVE_MODULES) expect(config.asarUnpack).toContain(`node_modules/${native}/prebuilds/**`);
  });

  const electron = findElectronBinary();
  it.skipIf(electron.path === null)(titleUnless('packages the app (npm run dist -- --dir), and the packaged binary has its fuses flipped', electron.path === null ? electron.reason : null), async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync('npm', ['run', 'dist', '--', '--dir'], { encoding: 'utf8', timeout: 600_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/building UNSIGNED artifacts|signing with: /);
    // Read the fuse wire back out of the binary electron-builder wrote.
    const { getCurrentFuseWire, FuseV1Options } = await import('@electron/fuses');
    const { FuseState } = await import('@electron/fuses/dist/constants');
    const out = 'dist/installers';
    const unpacked = readdirSync(out).find((d) => /-unpacked$|^mac/.test(d)) ?? '';
    const binary = { win32: join(out, unpacked, 'Rounds.exe'), darwin: join(out, unpacked, 'Rounds.app/Contents/MacOS/Rounds') }[process.platform as string] ?? join(out, unpacked, 'rounds');
    const wire = await getCurrentFuseWire(binary);
    expect(wire[FuseV1Options.RunAsNode]).toBe(FuseState.DISABLE);
    expect(wire[FuseV1Options.EnableNodeOptionsEnvironmentVariable]).toBe(FuseState.DISABLE);
    expect(wire[FuseV1Options.EnableNodeCliInspectArguments]).toBe(FuseState.DISABLE);
    expect(wire[FuseV1Options.EnableCookieEncryption]).toBe(FuseState.ENABLE);
    expect(wire[FuseV1Options.EnableEmbeddedAsarIntegrityValidation]).toBe(FuseState.ENABLE);
    expect(wire[FuseV1Options.OnlyLoadAppFromAsar]).toBe(FuseState.ENABLE);
    expect(wire[FuseV1Options.GrantFileProtocolExtraPrivileges]).toBe(FuseState.DISABLE);
  }, 600_000);
});
