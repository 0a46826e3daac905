/**
 * The describing work of an audit export on its own, per record: what BundleWriter.add does besides
 * writing and hashing (AuditDescriber.facts, AuditCsv.row, AuditReport.add), then report.render once.
 * A hospital's relay log: 500 people each at a workstation, nine records in ten a message envelope
 * accepted (as the audit suite's log), the rest deliveries, sign-ins, failures (some flagged),
 * enrollments and messages to several people. CPU time (process.cpuUsage), so others' work on a shared
 * machine does not count. Goal: about 3 µs a record, for a 1,000,000-record export + verify under 10 s.
 *
 * `npm run bench audit-describe`; for a profile: `node --cpu-prof --import tsx test/bench/auditDescribe.bench.ts`.
 */
import { fileURLToPath } from 'node:url';
import { AUDIT_CSV_HEADER, AuditCsv } from '../../shared/audit/csv';
import { AuditDescriber, type DescribedRecord } from '../../shared/audit/describe';
import { LocalTimes } from '../../shared/audit/localTimes';
import { AuditNames, type AuditDirectory } from '../../shared/audit/people';
import { AuditReport } from '../../shared/audit/report';
import type { BenchRow } from './measure';

const PEOPLE = 500;
const userId = (n: number) => `0c1f0a5e-3a2b-4c1d-9e8f-${String(n % PEOPLE).padStart(12, '0')}`;

function directory(): AuditDirectory {
  const people = Array.from({ length: PEOPLE }, (_, i) => ({ userId: userId(i), username: `user${i}`, displayName: `${i % 3 === 0 ? 'Dr. ' : ''}Person ${i}`, role: i % 4 === 0 ? 'nurse' : 'clinician' }));
  const workstations = people.flatMap((p, i) => [{ userId: p.userId, deviceId: 1, name: `Ward ${i % 40} station ${i}` }, { userId: p.userId, deviceId: 2, name: `Laptop ${i}` }]);
  return { people, workstations, timeZone: 'Europe/London' };
}

/** One of twenty colleagues of the person at i, on one of their two workstations (so pairs repeat, but not always). */
const colleague = (i: number) => `${userId(i + 1 + (Math.imul(i, 0x9e3779b1) >>> 0) % 20)}.${1 + ((i >> 3) & 1)}`;

/** Records shaped like the audit suite's log, with one in ten of another type. */
function records(count: number): DescribedRecord[] {
  const start = Date.UTC(2026, 0, 5, 6);
  const out: DescribedRecord[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * 1_500;
    const actor = `${userId(i)}.1`;
    const base = { seq: i + 1, at };
    switch (i % 10 === 9 ? (i / 10) % 8 | 0 : -1) {
      case 0:
      case 1: out.push({ ...base, type: 'envelope.delivered', actor: colleague(i), subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(i - 9).padStart(12, '0')}`, details: {} }); break;
      case 2: out.push({ ...base, type: 'login.success', actor, subject: userId(i), details: { device: 1 } }); break;
      case 3: out.push({ ...base, type: 'login.failure', actor: `anonymous@10.0.${i % 200}.7`, subject: userId(i), details: { factor: 'password', consecutive: 1 + (i % 6) }, flagged: i % 6 === 5 }); break;
      case 4: out.push({ ...base, type: 'device.enrolled', actor: `anonymous@10.0.${i % 200}.9`, subject: userId(i), details: { name: `Ward ${i % 40} station ${i % PEOPLE}`, auditKey: null } }); break;
      case 5: out.push({ ...base, type: 'message.sent', actor, subject: '', details: { recipients: `${userId(i + 1)}.1 ${userId(i + 2)}.1 ${userId(i + 3)}.2`, ciphertextSha256: 'ab'.repeat(32) } }); break;
      case 6: out.push({ ...base, type: 'keys.uploaded', actor, subject: '', details: { preKeys: 100 } }); break;
      case 7: out.push({ ...base, type: 'emergency.issued', actor: 'admin:jdoe', subject: userId(i), details: { reason: 'laptop lost', expiresAt: at + 28_800_000 }, flagged: true }); break;
      default: out.push({ ...base, type: 'envelope.accepted', actor, subject: `f3c9a1e2-7b6d-4e5f-8a9b-${String(i).padStart(12, '0')}`, details: { recipient: colleague(i), size: 512 + (i % 700), type: 1 } });
    }
  }
  return out;
}

const cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Records parsed from their lines a batch at a time, as the export reads them: every string new (flat, its hash not yet taken). */
function* parsed(lines: readonly string[]): Generator<DescribedRecord[]> {
  for (let i = 0; i < lines.length; i += 1000) yield lines.slice(i, i + 1000).map((line) => JSON.parse(line) as DescribedRecord);
}

/**
 * µs of CPU per record for describe + CSV row + report tally (less the parsing of the records, measured
 * on its own), and ms for the page.
 */
export function measureAuditDescribe(count: number): { perRecord: number; parse: number; render: number; bytes: number } {
  const dir = directory();
  const lines = records(count).map((r) => JSON.stringify(r));
  const parseOnly = () => {
    const t = cpuMicros();
    let n = 0;
    for (const batch of parsed(lines)) n += batch.length;
    return (cpuMicros() - t) / n;
  };
  const run = () => {
    const names = new AuditNames(dir);
    const describer = new AuditDescriber(names, new LocalTimes(dir.timeZone));
    const csv = new AuditCsv(dir, { describer });
    const report = new AuditReport({ title: 'bench', origin: 'rounds.relay/bench', range: { from: 0, to: Number.MAX_SAFE_INTEGER, user: null }, directory: dir, generatedAt: Date.UTC(2026, 5, 1), describer });
    let bytes = AUDIT_CSV_HEADER.length;
    const t = cpuMicros();
    for (const batch of parsed(lines)) {
      for (const record of batch) {
        const facts = describer.facts(record);
        bytes += csv.row(record, facts).length;
        report.add(record, facts);
      }
    }
    const perRecord = (cpuMicros() - t) / count;
    const r = cpuMicros();
    bytes += report.render({ signerFingerprint: 'ab'.repeat(32), treeSize: count, rootHash: 'cd'.repeat(32), firstSeq: 1, kind: 'relay' }).length;
    return { perRecord, render: (cpuMicros() - r) / 1000, bytes };
  };
  run(); // warm-up: the first pass also compiles
  parseOnly();
  // The least of five: on a shared machine, others' work only ever adds.
  const runs = [run(), run(), run(), run(), run()];
  const parse = Math.min(parseOnly(), parseOnly(), parseOnly());
  return { perRecord: Math.min(...runs.map((x) => x.perRecord)) - parse, parse, render: Math.min(...runs.map((x) => x.render)), bytes: runs[0]?.bytes ?? 0 };
}

export async function runAuditDescribeBench(): Promise<BenchRow[]> {
  const count = Number(process.env.ROUNDS_AUDIT_DESCRIBE_RECORDS ?? 200_000);
  const { perRecord, parse, render } = measureAuditDescribe(count);
  return [
    { suite: 'audit-describe', name: `describe + CSV row + report tally, ${count.toLocaleString('en-US')} records`, unit: 'µs CPU/record', ours: perRecord, goal: '≤ 3 µs' },
    { suite: 'audit-describe', name: 'JSON.parse of those records (not counted above)', unit: 'µs CPU/record', ours: parse },
    { suite: 'audit-describe', name: 'render report.html after them', unit: 'ms CPU', ours: render },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const count = Number(process.env.ROUNDS_AUDIT_DESCRIBE_RECORDS ?? 200_000);
  console.log(JSON.stringify(measureAuditDescribe(count)));
}
