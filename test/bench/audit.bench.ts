/**
 * Audit exports at scale. A relay's log of 1,000,000 events: the tree kept as it grows (the relay does this
 * every minute; measured on its own), then export and verify, each in a process of its own for its time
 * and peak memory. Goal: export + verify under 10 s, memory under 500 MiB. Then 10,000,000 events exported
 * by a process whose heap is capped at 512 MiB: streamed, it must not run out of memory.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { growAuditTree } from '../../server/audit/AuditTree';
import { loadOrCreateAuditKey } from '../../server/audit/auditKey';
import { openStore } from '../../server/openStore';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import type { BenchRow } from './measure';

const STEP = fileURLToPath(new URL('./auditStep.ts', import.meta.url));

interface StepResult { seconds: number; maxRssMiB: number; records: number; ok: boolean; failures: string[] }

function step(args: readonly string[], heapMiB?: number): StepResult {
  const result = spawnSync(process.execPath, [...(heapMiB ? [`--max-old-space-size=${heapMiB}`] : []), '--import', 'tsx', STEP, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.status !== 0 || !line.startsWith('{')) throw new Error(`audit bench step ${args[0]} failed (${result.status}): ${result.stderr.slice(-2000)}`);
  return JSON.parse(line) as StepResult;
}

/** A log of `events` message events (about what a hospital writes), appended in batches as the relay does. */
async function fill(dir: string, events: number): Promise<{ appendS: number; treeS: number }> {
  const store = openStore(dir);
  loadOrCreateAuditKey(dir);
  const t = performance.now();
  const batch = 10_000;
  for (let i = 0; i < events; i += batch) {
    await store.appendAudit(Array.from({ length: Math.min(batch, events - i) }, (_, j) => ({ type: 'envelope.accepted' as const, actor: `0c1f0a5e-3a2b-4c1d-9e8f-${String((i + j) % 500).padStart(12, '0')}.1`, subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(i + j).padStart(12, '0')}`, details: { recipient: `0c1f0a5e-3a2b-4c1d-9e8f-${String((i + j + 7) % 500).padStart(12, '0')}.2`, size: 512 + ((i + j) % 700), type: 1 } })));
  }
  const appendS = (performance.now() - t) / 1000;
  const g = performance.now();
  await growAuditTree(store);
  const treeS = (performance.now() - g) / 1000;
  await store.close();
  return { appendS, treeS };
}

export async function runAuditBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  // A smaller log for a quick look while working on it: ROUNDS_AUDIT_BENCH_EVENTS=200000 npm run bench audit
  const EVENTS = Number(process.env.ROUNDS_AUDIT_BENCH_EVENTS ?? 1_000_000);
  const dir = tempDataDir();
  try {
    const { appendS, treeS } = await fill(dir, EVENTS);
    console.log(`  appended ${EVENTS} in ${appendS.toFixed(1)} s, tree kept in ${treeS.toFixed(1)} s`);
    const out = join(dir, 'bundle');
    const exported = step(['export', dir, out]);
    console.log(`  exported in ${exported.seconds.toFixed(1)} s (${exported.maxRssMiB.toFixed(0)} MiB)`);
    const verified = step(['verify', out]);
    console.log(`  verified in ${verified.seconds.toFixed(1)} s (${verified.maxRssMiB.toFixed(0)} MiB)`);
    if (!verified.ok || exported.records < EVENTS) throw new Error(`audit bench: export did not verify (${verified.failures.join('; ')})`);
    const n = EVENTS.toLocaleString('en-US');
    rows.push(
      { suite: 'audit', name: `append ${n} events`, unit: 's', ours: appendS },
      { suite: 'audit', name: `keep the tree of ${n} events (as the relay does each minute)`, unit: 's', ours: treeS },
      { suite: 'audit', name: `export ${n} records (signed bundle)`, unit: 's', ours: exported.seconds },
      { suite: 'audit', name: 'verify that bundle', unit: 's', ours: verified.seconds },
      { suite: 'audit', name: 'export + verify', unit: 's', ours: exported.seconds + verified.seconds, goal: '< 10 s' },
      { suite: 'audit', name: 'peak memory, export or verify', unit: 'MiB', ours: Math.max(exported.maxRssMiB, verified.maxRssMiB), goal: '< 500 MiB' },
    );
  } finally {
    removeDir(dir);
  }
  return rows;
}

/** 10,000,000 events exported with the heap capped: a streamed export finishes, a buffered one would not. */
export async function runAuditTenMillionBench(): Promise<BenchRow[]> {
  const EVENTS = 10_000_000;
  const dir = tempDataDir();
  try {
    const { appendS, treeS } = await fill(dir, EVENTS);
    console.log(`  appended ${EVENTS} in ${appendS.toFixed(1)} s, tree kept in ${treeS.toFixed(1)} s`);
    const exported = step(['export', dir, join(dir, 'bundle')], 512);
    console.log(`  exported in ${exported.seconds.toFixed(1)} s (${exported.maxRssMiB.toFixed(0)} MiB)`);
    if (exported.records < EVENTS) throw new Error('audit bench: the 10M export is incomplete');
    return [
      { suite: 'audit', name: 'export 10,000,000 records, heap capped at 512 MiB', unit: 's', ours: exported.seconds, goal: 'completes' },
      { suite: 'audit', name: 'peak memory, that export', unit: 'MiB', ours: exported.maxRssMiB },
    ];
  } finally {
    removeDir(dir);
  }
}
