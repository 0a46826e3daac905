/**
 * Writes the sample audit report (test/fixtures/auditSample.ts) and its events.csv to a folder, to look
 * at in a browser or print: `npx tsx scripts/auditReportSample.ts [dir]` (default /tmp/audit-report-sample).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_CSV_HEADER, AuditCsv } from '../shared/audit/csv';
import { AuditReport } from '../shared/audit/report';
import { SAMPLE_DIRECTORY, sampleRecords, sampleReportInput } from '../shared/audit/auditSample';

const dir = process.argv[2] ?? '/tmp/audit-report-sample';
mkdirSync(dir, { recursive: true });
const report = new AuditReport(sampleReportInput());
const csv = new AuditCsv(SAMPLE_DIRECTORY);
let rows = AUDIT_CSV_HEADER;
for (const record of sampleRecords()) {
  report.add(record);
  rows += csv.row(record);
}
writeFileSync(join(dir, 'report.html'), report.render());
writeFileSync(join(dir, 'events.csv'), rows);
console.log(`wrote ${join(dir, 'report.html')} and events.csv`);
