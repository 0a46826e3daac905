/**
 * `npm run bench`: runs every benchmark suite, prints one table and writes bench/results.json.
 * `npm run bench -- relay attachments`: only those suites; their rows replace theirs in bench/results.json,
 * and the other suites' rows from earlier runs stay (each row says which run it came from: `bench`, `date`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
const unknown = only.filter((name) => !(name in suites));
if (unknown.length > 0) {
  console.error(`no such benchmark suite: ${unknown.join(', ')} (the suites: ${Object.keys(suites).join(', ')})`);
  process.exit(2);
}
const date = new Date().toISOString();
type StoredRow = BenchRow & { readonly bench?: string; readonly date?: string };
const rows: StoredRow[] = [];
for (const [name, run] of Object.entries(suites)) {
  if (only.length > 0 && !only.includes(name)) continue;
  console.log(`running: ${name}`);
  rows.push(...(await run()).map((row) => ({ ...row, bench: name, date })));
}
printTable(rows);

const out = fileURLToPath(new URL('../../bench/', import.meta.url));
const file = `${out}results.json`;
const ran = new Set(rows.map((row) => row.bench));
mkdirSync(out, { recursive: true });
writeFileSync(file, `${JSON.stringify({
  date,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  rows: [...earlierRows().filter((row) => !ran.has(row.bench ?? row.suite)), ...rows],
}, null, 2)}\n`);
console.log(`written: bench/results.json${only.length > 0 ? ` (the rows of ${only.join(', ')}; other suites' rows kept from earlier runs)` : ''}`);

/** The rows an earlier run wrote, when only some suites run now (a whole run starts afresh); a damaged file: none. */
function earlierRows(): StoredRow[] {
  if (only.length === 0 || !existsSync(file)) return [];
  try {
    const earlier = JSON.parse(readFileSync(file, 'utf8')) as { date?: string; rows?: StoredRow[] };
    return (earlier.rows ?? []).map((row) => ({ ...row, date: row.date ?? earlier.date ?? 'unknown' }));
  } catch {
    console.error('bench/results.json could not be read: it is written afresh with this run\'s rows');
    return [];
  }
}
