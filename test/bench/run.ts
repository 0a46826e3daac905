/** `npm run bench`: runs every benchmark suite, prints one table and writes bench/results.json. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { printTable, type BenchRow } from './measure';
import { runAuditBench, runAuditTenMillionBench } from './audit.bench';
import { runAttachmentBench } from './attachments.bench';
import { runAuditDescribeBench } from './auditDescribe.bench';
import { runRelayBench } from './relay.bench';
import { runSignalCoreBench } from './signalCore.bench';
import { runStorageBench } from './storage.bench';

const suites: Record<string, () => Promise<BenchRow[]>> = {
  'signal core': runSignalCoreBench,
  'relay': runRelayBench,
  'storage': runStorageBench,
  'audit': runAuditBench,
  'audit-10m': runAuditTenMillionBench,
  'audit-describe': runAuditDescribeBench,
  'attachments': runAttachmentBench,
};

const only = process.argv.slice(2);
const rows: BenchRow[] = [];
for (const [name, run] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`running: ${name}`);
  rows.push(...(await run()));
}
printTable(rows);

const out = fileURLToPath(new URL('../../bench/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(`${out}results.json`, `${JSON.stringify({
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  rows,
}, null, 2)}\n`);
console.log(`written: bench/results.json`);
