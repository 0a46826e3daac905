/**
 * `npm run dist [-- electron-builder options, e.g. --dir, --win, --linux deb]`: builds the app and its
 * installers (see electron-builder.yml) into a clean dist/installers (build each platform on its own
 * machine and collect them), then writes SHA256SUMS for every artifact. Signing and notarization come only from environment variables; without them the artifacts are
 * unsigned, and the first line says so.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp } from './build';
import { CHECKSUMS_FILE, writeChecksums } from './checksums';
import { findElectronBinary } from './electronBinary';

export const INSTALLERS_DIR = resolve('dist/installers');

/** Code-signing identities electron-builder reads from the environment (values are never printed). */
const SIGNING = ['CSC_LINK', 'CSC_NAME', 'WIN_CSC_LINK', 'CSC_INSTALLER_LINK'] as const;
/** Apple notarization credentials, any one complete set of them. */
const NOTARIZATION = [['APPLE_API_KEY', 'APPLE_API_KEY_ID', 'APPLE_API_ISSUER'], ['APPLE_ID', 'APPLE_APP_SPECIFIC_PASSWORD', 'APPLE_TEAM_ID'], ['APPLE_KEYCHAIN', 'APPLE_KEYCHAIN_PROFILE']] as const;

export interface SigningPlan {
  /** The first line `npm run dist` prints. */
  readonly summary: string;
  /**
   * macOS: electron-builder looks for the identity only when the environment gives one, in the keychain it
   * makes from CSC_LINK or by the name CSC_NAME. With none, it must not sign with whatever a keychain holds.
   */
  readonly identityAutoDiscovery: boolean;
  /** Per platform: with an identity given for it, a build that cannot sign fails instead of shipping unsigned. */
  readonly forceCodeSigning: { readonly mac: boolean; readonly win: boolean };
}

export function signingPlan(env: NodeJS.ProcessEnv): SigningPlan {
  const signing = SIGNING.filter((v) => env[v]);
  const notarization = NOTARIZATION.find((set) => set.every((v) => env[v]));
  const partial = NOTARIZATION.flat().filter((v) => env[v] && !notarization?.includes(v as never));
  const lines = [
    signing.length > 0 ? `signing with: ${signing.join(', ')}` : `building UNSIGNED artifacts (none of ${SIGNING.join(', ')} is set)`,
    ...(notarization ? [`notarizing macOS builds with: ${notarization.join(', ')}`] : []),
    ...(partial.length > 0 ? [`ignoring an incomplete set of notarization variables: ${partial.join(', ')}`] : []),
  ];
  const given = (...names: string[]) => names.some((v) => env[v]);
  const mac = given('CSC_LINK', 'CSC_NAME');
  return { summary: lines.join('\n'), identityAutoDiscovery: mac, forceCodeSigning: { mac, win: given('WIN_CSC_LINK', 'CSC_LINK') } };
}

/** The files to list in SHA256SUMS: the installers and update metadata, not electron-builder's own logs. */
const NOT_ARTIFACTS = new Set([CHECKSUMS_FILE, 'builder-debug.yml', 'builder-effective-config.yaml']);

export function artifactsIn(dir: string): string[] {
  return readdirSync(dir)
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile() && !NOT_ARTIFACTS.has(basename(f)) && !f.endsWith('.blockmap'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const plan = signingPlan(process.env);
  console.log(plan.summary);
  rmSync(INSTALLERS_DIR, { recursive: true, force: true });
  await buildApp();
  const electron = findElectronBinary();
  const args = [...process.argv.slice(2), ...(plan.forceCodeSigning.mac ? ['-c.mac.forceCodeSigning=true'] : []), ...(plan.forceCodeSigning.win ? ['-c.win.forceCodeSigning=true'] : [])];
  // Where an Electron is installed but cannot be downloaded again (no internet), package that one.
  if (electron.path && process.env.ELECTRON_PATH) args.push(`-c.electronDist=${dirname(electron.path)}`);
  const builder = spawnSync(process.execPath, [resolve('node_modules/electron-builder/cli.js'), ...args], { stdio: 'inherit', env: { ...process.env, CSC_IDENTITY_AUTO_DISCOVERY: String(plan.identityAutoDiscovery) } });
  if (builder.status !== 0) process.exit(builder.status ?? 1);
  const artifacts = artifactsIn(INSTALLERS_DIR);
  console.log(`wrote ${writeChecksums(INSTALLERS_DIR, artifacts)} (${artifacts.length} artifacts); check with: cd dist/installers && sha256sum -c SHA256SUMS`);
}
