/**
 * One step of the audit benchmark in a process of its own, so its time and peak memory are its own:
 * `export DATA_DIR OUT` (the relay's `audit export`) or `verify BUNDLE` (`rounds-audit verify`).
 * Prints one JSON line: { seconds, maxRssMiB, records, ok }.
 */
import { performance } from 'node:perf_hooks';
import { loadOrCreateAuditKey } from '../../server/audit/auditKey';
import { exportAudit } from '../../server/audit/exportAudit';
import { verifyPath } from '../../server/audit/verifyCli';
import { openStore } from '../../server/openStore';

const [step, a, b] = process.argv.slice(2);
const t = performance.now();

async function run(): Promise<{ records: number; ok: boolean; failures: string[] }> {
  if (step === 'export' && a && b) {
    const store = openStore(a);
    const result = await exportAudit(store, loadOrCreateAuditKey(a), { from: 0, to: Number.MAX_SAFE_INTEGER, user: null, out: b, actor: 'bench' });
    await store.close();
    return { records: result.records, ok: true, failures: [] };
  }
  if (step === 'verify' && a) {
    const verdict = verifyPath(a, {});
    return { records: verdict.records, ok: verdict.ok, failures: verdict.failures.slice(0, 5) };
  }
  throw new Error('usage: auditStep export DATA_DIR OUT | verify BUNDLE');
}
const { records, ok, failures } = await run();
const seconds = (performance.now() - t) / 1000;
console.log(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, records, ok, failures }));
