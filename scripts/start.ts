/**
 * `npm start`: the desktop app with an embedded relay where an Electron binary is installed; where it is
 * not (machines without internet), it says so in one line and starts the browser harness instead.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { POLICY_FILE_ENV, loadPolicy, policyPath } from '../main/core/policy/loadPolicy';
import type { RelayServer } from '../server/RelayServer';
import { describeError } from '../shared/errors';
import { buildApp, OUT_DIR } from './build';
import { startEmbeddedRelay } from './embeddedRelay';
import { findElectronBinary } from './electronBinary';

async function main(): Promise<void> {
  const electron = findElectronBinary();
  if (electron.path === null) {
    console.log(`No Electron binary here (${electron.reason}); starting the browser harness instead.`);
    const harness = spawn(process.execPath, ['--import', 'tsx', resolve('scripts/web.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
    harness.on('exit', (code) => process.exit(code ?? 0));
    return;
  }
  // The build takes a while on a slow machine: say so rather than sit silent.
  const started = Date.now();
  console.log('Building Rounds (main process, preload and renderer; this can take 20 seconds)…');
  await buildApp();
  console.log(`Built in ${Math.round((Date.now() - started) / 1000)} s; starting the app.`);
  // With no relay configured by policy, an embedded relay on loopback, given to the app as a policy file.
  const env = { ...process.env };
  const machinePolicy = loadPolicy(policyPath());
  let relay: RelayServer | undefined;
  if (!machinePolicy.policy.relayUrl) {
    const dataDir = resolve('.rounds-data/relay');
    const embedded = await startEmbeddedRelay(dataDir, Number(process.env.ROUNDS_RELAY_PORT ?? 8443));
    relay = embedded.relay;
    const relayUrl = embedded.url;
    const policyFile = resolve('.rounds-data/dev-policy.json');
    writeFileSync(policyFile, JSON.stringify({ ...(machinePolicy.source ? JSON.parse(readFileSync(machinePolicy.source, 'utf8')) as object : {}), relayUrl }, null, 2));
    env[POLICY_FILE_ENV] = policyFile;
    console.log(`Embedded relay on ${relayUrl} (data: ${dataDir}; loopback only). Add accounts with: npm run server -- user add --data .rounds-data/relay ...`);
  }
  const app = spawn(electron.path, [resolve(OUT_DIR, 'main.cjs')], { stdio: 'inherit', env });
  app.on('exit', (code) => void (relay?.close() ?? Promise.resolve()).then(() => process.exit(code ?? 0)));
}

main().catch((error: unknown) => {
  console.error(`Rounds could not start: ${describeError(error)}`);
  process.exit(1);
});
