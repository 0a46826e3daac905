/**
 * Writes the sample audit reports (shared/audit/auditSample.ts) and events.csv to a folder, to look
 * at in a browser or print: `npx tsx scripts/auditReportSample.ts [dir]` (default /tmp/audit-report-sample).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AUDIT_CSV_HEADER, AuditCsv } from '../shared/audit/csv';
import { AuditReport } from '../shared/audit/report';
import { ANNA, SAMPLE_DIRECTORY, SAMPLE_VERIFICATION, sampleRecords, sampleReportInput, sampleWorkstationRecords } from '../shared/audit/auditSample';

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
// A workstation's bundle: the same directory, the owner named.
const owner = { username: 'asmith', displayName: 'Dr. Anna Smith', deviceName: "Ward 4 nurses' station" };
const workstation = new AuditReport(sampleReportInput({
  title: 'Rounds workstation audit log', origin: `rounds.client/${ANNA}.1`,
  verification: { ...SAMPLE_VERIFICATION, treeSize: 13, kind: 'workstation', workstation: owner },
}));
for (const record of sampleWorkstationRecords()) workstation.add(record);
writeFileSync(join(dir, 'workstation-report.html'), workstation.render());
console.log(`wrote ${join(dir, 'report.html')}, events.csv and workstation-report.html`);
