/**
 * Audit exports at scale: append 1,000,000 events to a relay's log, export them all as a signed bundle,
 * verify the bundle. Goal: export + verify under 10 s on these machines.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { loadOrCreateAuditKey } from '../../server/audit/auditKey';
import { exportAudit } from '../../server/audit/exportAudit';
import { verifyPath } from '../../server/audit/verifyCli';
import { openStore } from '../../server/RelayServer';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import type { BenchRow } from './measure';

const EVENTS = 1_000_000;

export async function runAuditBench(): Promise<BenchRow[]> {
  const dir = tempDataDir();
  try {
    const store = openStore(dir);
    const key = loadOrCreateAuditKey(dir);
    let t = performance.now();
    const batch = 10_000;
    for (let i = 0; i < EVENTS; i += batch) {
      await store.appendAudit(Array.from({ length: batch }, (_, j) => ({ type: 'envelope.accepted' as const, actor: `user-${(i + j) % 500}.1`, subject: `envelope-${i + j}`, details: { bytes: 512 + ((i + j) % 700) } })));
    }
    const appendS = (performance.now() - t) / 1000;
    console.log(`  appended in ${appendS.toFixed(1)} s`);
    const out = join(dir, 'bundle');
    t = performance.now();
    const result = await exportAudit(store, key, { from: 0, to: Date.now() + 86_400_000, user: null, out, actor: 'bench' });
    const exportS = (performance.now() - t) / 1000;
    console.log(`  exported in ${exportS.toFixed(1)} s`);
    t = performance.now();
    const verdict = verifyPath(out, {});
    const verifyS = (performance.now() - t) / 1000;
    if (!verdict.ok || result.records < EVENTS) throw new Error(`audit bench: export did not verify (${verdict.failures.join('; ')})`);
    await store.close();
    return [
      { suite: 'audit', name: `append ${EVENTS.toLocaleString('en-US')} events`, unit: 's', ours: appendS },
      { suite: 'audit', name: `export ${result.records.toLocaleString('en-US')} records (signed bundle)`, unit: 's', ours: exportS },
      { suite: 'audit', name: 'verify that bundle', unit: 's', ours: verifyS },
      { suite: 'audit', name: 'export + verify', unit: 's', ours: exportS + verifyS, goal: '< 10 s' },
    ];
  } finally {
    removeDir(dir);
  }
}
