/**
 * `npm run dist [-- electron-builder options, e.g. --dir, --win, --linux deb]`: builds the app and its
 * installers (see electron-builder.yml), then writes SHA256SUMS for every artifact. Signing comes only
 * from environment variables; without them the artifacts are unsigned, and this says so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildApp } from './build';
import { CHECKSUMS_FILE, writeChecksums } from './checksums';
import { findElectronBinary } from './electronBinary';

const OUT = resolve('dist/installers');
/** The variables electron-builder reads for code signing and notarization (their values are never printed). */
const SIGNING_VARIABLES = ['CSC_LINK', 'WIN_CSC_LINK', 'APPLE_API_KEY', 'APPLE_ID', 'APPLE_KEYCHAIN_PROFILE'];

const present = SIGNING_VARIABLES.filter((v) => process.env[v]);
console.log(present.length > 0 ? `signing with: ${present.join(', ')}` : `building UNSIGNED artifacts (none of ${SIGNING_VARIABLES.join(', ')} is set)`);
await buildApp();
const electron = findElectronBinary();
const args = [...process.argv.slice(2)];
// Where an Electron is installed but cannot be downloaded again (no internet), package that one.
if (electron.path && process.env.ELECTRON_PATH) args.push(`-c.electronDist=${dirname(electron.path)}`);
const builder = spawnSync(process.execPath, [resolve('node_modules/electron-builder/cli.js'), ...args], { stdio: 'inherit', env: { ...process.env, CSC_IDENTITY_AUTO_DISCOVERY: present.length > 0 ? 'true' : 'false' } });
if (builder.status !== 0) process.exit(builder.status ?? 1);

if (existsSync(OUT)) {
  const artifacts = readdirSync(OUT).map((f) => join(OUT, f)).filter((f) => statSync(f).isFile() && !f.endsWith(CHECKSUMS_FILE) && !f.endsWith('.blockmap'));
  console.log(`wrote ${writeChecksums(OUT, artifacts)} (${artifacts.length} artifacts); check with: cd dist/installers && sha256sum -c SHA256SUMS`);
}
