/**
 * The describing work of an export (facts, events.csv rows, report.html) pinned byte for byte: the
 * expected digests were produced by the code before it was made faster, so an optimisation that changes
 * one character of any row or of the page fails here. The inputs are varied on purpose: every record
 * type, flagged ones, ids the directory lacks, administrators, API callers, anonymous callers, values a
 * spreadsheet would run as formulas, odd times (invalid, before 1970, across daylight-saving changes) and
 * zones other than UTC. When a change is meant to alter the output, its own tests say so and these
 * digests are updated with it (`GOLDEN_PRINT=1 npx vitest run shared/audit/describeGolden.test.ts`).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SAMPLE_DIRECTORY, SAMPLE_VERIFICATION, sampleRecords, sampleReportInput, sampleWorkstationRecords } from './auditSample';
import { AUDIT_CSV_HEADER, AuditCsv, auditCsvRow } from './csv';
import { AUDIT_TYPE_LABELS, AuditDescriber, type AuditFacts, type DescribedRecord } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames, type AuditDirectory, type AuditParty } from './people';
import { AuditReport } from './report';

/** A small deterministic random source (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uuid = (prefix: string, n: number) => `${prefix}-3a2b-4c1d-9e8f-${String(n).padStart(12, '0')}`;
const user = (n: number) => uuid('0c1f0a5e', n);
const envelope = (n: number) => uuid('f3c9a1e2', n);

const ODD_NAMES = ['=HYPERLINK("x")', '+cmd', '-2+3', '@SUM(A1)', '\tTabbed', ' =lead', '\u3000＝wide', '|dde', 'Smith, Jo', 'say "hi"', 'semi;colon', 'line\nbreak', 'Ünïcødé 名前', ''];

function goldenDirectory(timeZone: string): AuditDirectory {
  const people = Array.from({ length: 24 }, (_, i) => ({
    userId: user(i), username: i % 7 === 3 ? (ODD_NAMES[i % ODD_NAMES.length] ?? `u${i}`) : `user${i}`,
    displayName: i % 5 === 4 ? '' : `${i % 3 === 0 ? 'Dr. ' : ''}Person ${ODD_NAMES[(i * 3) % ODD_NAMES.length]} ${i}`,
    role: ['clinician', 'nurse', 'compliance', ''][i % 4] ?? '',
  }));
  const workstations = people.flatMap((p, i) => (i % 6 === 5 ? [] : [
    { userId: p.userId, deviceId: 1, name: `Ward ${i} station${i % 4 === 1 ? `, ${ODD_NAMES[i % ODD_NAMES.length]}` : ''}` },
    ...(i % 3 === 0 ? [{ userId: p.userId, deviceId: 2, name: i % 9 === 0 ? '=cmd|"/c calc"!A0' : `Laptop ${i}` }] : []),
  ]));
  return { people, workstations, timeZone };
}

/** Actors as the relay writes them, known and unknown. */
function actorOf(rnd: () => number, i: number): string {
  const r = rnd();
  const n = Math.floor(rnd() * 30); // 24..29: not in the directory
  if (r < 0.6) return `${user(n)}.${1 + (i % 3)}`;
  if (r < 0.68) return user(n);
  if (r < 0.74) return `api:${user(n)}.1`;
  if (r < 0.8) return ['admin', 'admin:jdoe', 'admin:=evil', 'system'][i % 4] ?? 'system';
  if (r < 0.9) return ['anonymous', 'anonymous@10.0.0.7', 'anonymous@2001:db8::1', 'anonymous@=1+1'][i % 4] ?? 'anonymous';
  return ['', 'something-else', 'a.b.c', '-odd', `${user(n)}.1234`][i % 5] ?? '';
}

function detailsOf(rnd: () => number, type: string, i: number, at: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)] as T;
  const odd = () => pick(ODD_NAMES);
  switch (type) {
    case 'envelope.accepted': return { recipient: `${user(Math.floor(rnd() * 30))}.${1 + (i % 2)}`, size: 512 + i, type: 1, ...(i % 13 === 0 ? { urgent: true } : i % 17 === 0 ? { escalation: envelope(i) } : {}) };
    case 'message.acknowledged': return { sender: user(i % 30), conversation: envelope(i), acknowledgedAt: at - 1000, claimedAt: at - 1000 - (i % 4) * 60_000, signature: 'A'.repeat(86) + '==', identityKey: 'BQ' + 'x'.repeat(42), ...(i % 5 === 0 ? { selfReported: true } : {}) };
    case 'escalation.held': return { message: envelope(i), recipients: `${user(i % 30)} ${user((i + 1) % 30)}`, rungs: i % 3, rung1DueAt: at + 300_000, rung1To: user((i + 2) % 30), rung2DueAt: at + 600_000, rung2To: user((i + 3) % 30) };
    case 'escalation.released': return { message: envelope(i), sender: user(i % 30), rung: 1 + (i % 2), dueAt: at - (i % 5) * 1000, lateMs: (i % 5) * 1000, recipients: user((i + 2) % 30), devices: i % 3 };
    case 'role.created':
    case 'role.updated': return { name: pick(['Cardiology on call', odd()]), department: pick(['Cardiology', null]), timeZone: 'Europe/London', backup: pick([`user:${user(i % 30)}`, 'role:Cardiology registrar', '']), changed: pick(['backup,department', 'name', '', 'timeZone']) };
    case 'shift.added':
    case 'shift.removed': return { role: pick(['Cardiology on call', odd()]), roleId: envelope(i), shift: envelope(i + 1), startsAt: at - 3_600_000, endsAt: at + 39_600_000, source: pick(['app', 'cli', 'csv', 'ics', 'odd']) };
    case 'schedule.imported': return { role: 'Cardiology on call', source: pick(['csv', 'ics']), from: at, to: at + 7 * 86_400_000, added: i % 20, removed: i % 3 };
    case 'escalation.cancelled': return { message: envelope(i), sender: user(i % 30), rungs: i % 3 };
    case 'escalation.purged': return { ladders: i % 4, acknowledgements: i % 3, retentionDays: 30 };
    case 'envelope.delivered': return i % 5 === 0 ? { sender: `${user(Math.floor(rnd() * 30))}.1` } : {};
    case 'login.success': return pick([{ device: 1 }, { newDevice: true }, {}, { device: '2' }]);
    case 'login.failure': return pick([{ factor: 'password', consecutive: 1 + (i % 6), device: 1 }, { reason: 'unknown user', username: odd() }, { reason: 'account locked' }, { step: 'enrollment' }, { step: 'enrollment-totp', username: odd() }, { reason: 'emergency code', count: 2 + (i % 3) }, { reason: odd() }, {}]);
    case 'account.locked': return pick([{ failures: 5, consecutive: 5, until: at + 900_000 }, { consecutive: 3 }, { failures: 10 }]);
    case 'account.created': return pick([{ username: odd(), role: 'nurse' }, { newEnrollmentCode: true }, { username: 'plain' }]);
    case 'account.deactivated': return pick([{ reason: 'admin' }, { reason: odd() }, {}]);
    case 'account.unlocked': return pick([{ by: 'login' }, {}]);
    case 'login.throttled': return { scope: pick(['account', 'username', 'address', 'device', 'emergency', 'odd']), count: 1 + (i % 4) };
    case 'credential.rejected': return { reason: pick(['revoked', '', odd()]), count: 1 + (i % 3) };
    case 'emergency.issued':
    case 'emergency.used': return { reason: odd(), expiresAt: at + 8 * 3_600_000 };
    case 'device.enrolled': return { name: pick(['Ward 9', '', odd(), 'x'.repeat(320)]), auditKey: i % 2 === 0 ? 'q0bJ0m8yq3XcS3a+P3W8k3m2dXgq9sX1fS0xQ8f0b2E=' : null };
    case 'keys.uploaded': return { preKeys: i % 101 };
    case 'bundle.refused':
    case 'keys.refused':
    case 'envelope.refused': return { reason: pick(['SEND_RATE_LIMITED', 'RELAY_STORAGE_FULL', 'SOME_NEW_REASON', '']), episode: pick(['started', 'ongoing', 'ended', '']), requests: i % 40, envelopes: i % 3 === 0 ? 7 : null, from: at - 60_000, to: at };
    case 'envelope.expired': return { count: i % 9, retentionDays: 30 };
    case 'audit.exported': return pick([{ from: 0, to: Number.MAX_SAFE_INTEGER, records: i, treeSize: i + 1 }, { from: at - 86_400_000, to: at, records: 3, chainBrokenAt: 17 }, { log: 'rounds.relay/old', firstSeq: 1, logSize: 40, records: 40 }]);
    case 'audit.export_refused': return { chainBrokenAt: 12, reason: odd() };
    case 'audit.log_restored': return pick([{ backupFile: 'b.db', backupCreatedAt: at - 1e8, backupRecords: 48, lostFrom: 49, lostTo: 50, previousLog: 'rounds.relay/abc' }, {}]);
    case 'audit.tree_rebuilt': return { differing: i % 3, first: 7 };
    case 'audit.key_rotated': return { retired: 'ab'.repeat(32), current: 'cd'.repeat(32), reason: odd() };
    case 'message.sent': return { recipients: Array.from({ length: 1 + (i % 7) }, (_, k) => `${user((i + k) % 30)}.${1 + (k % 2)}`).join(' '), ciphertextSha256: 'ab'.repeat(32) };
    case 'message.received':
    case 'message.rejected': return { sender: `${user(i % 30)}.1`, count: String(1 + (i % 3)) };
    default: return { note: odd(), hash: 'ef'.repeat(32), n: i, ok: i % 2 === 0, nested: { no: 1 }, ...(i % 3 === 0 ? { extra: 'x'.repeat(400) } : {}) };
  }
}

const RELAY_TYPES = [
  'envelope.accepted', 'envelope.delivered', 'login.success', 'login.failure', 'account.locked', 'account.created', 'account.deactivated',
  'account.inactive', 'account.reactivated', 'account.unlocked', 'account.enrolled', 'login.throttled', 'credential.rejected',
  'emergency.issued', 'emergency.used', 'device.enrolled', 'device.revoked', 'keys.uploaded', 'bundle.fetched', 'bundle.refused',
  'keys.refused', 'envelope.refused', 'envelope.expired', 'audit.exported', 'audit.export_refused', 'audit.log_restored',
  'audit.tree_rebuilt', 'audit.key_rotated', 'message.sent', 'message.received', 'message.rejected', 'something.new', '=formula.type',
  'message.acknowledged', 'escalation.held', 'escalation.released', 'escalation.cancelled', 'escalation.purged',
  'role.created', 'role.updated', 'shift.added', 'shift.removed', 'schedule.imported', 'scheduler.granted', 'scheduler.revoked',
];

/** Relay records of every type, 60% message traffic, times across a daylight-saving change, a few impossible. */
function goldenRelayRecords(count: number, start: number): DescribedRecord[] {
  const rnd = random(15);
  const records: DescribedRecord[] = [];
  let at = start;
  let envelopes = 0;
  for (let i = 0; i < count; i++) {
    at += Math.floor(rnd() * 90_000) + (i % 97 === 0 ? 3_600_000 * 5 : 0);
    const type = rnd() < 0.5 ? (rnd() < 0.7 ? 'envelope.accepted' : 'envelope.delivered') : RELAY_TYPES[Math.floor(rnd() * RELAY_TYPES.length)] ?? 'x';
    const time = i % 211 === 0 ? Number.NaN : i % 389 === 0 ? -86_400_123 : i % 401 === 0 ? at + 0.5 : at;
    const envelopeType = type === 'envelope.accepted' || type === 'envelope.delivered';
    const subject = envelopeType
      ? (type === 'envelope.accepted' ? envelope(++envelopes) : envelope(Math.max(1, envelopes - Math.floor(rnd() * 5))))
      : ['', user(Math.floor(rnd() * 30)), `${user(Math.floor(rnd() * 30))}.${1 + (i % 2)}`, 'not-a-uuid'][Math.floor(rnd() * 4)] ?? '';
    records.push({
      seq: i + 1, at: time, type, actor: actorOf(rnd, i), subject: envelopeType && i % 53 === 0 ? 'not-an-envelope' : subject,
      details: i % 71 === 0 ? (i % 2 === 0 ? null : ['array']) : detailsOf(rnd, type, i, at), flagged: i % 29 === 0 ? true : i % 31 === 0 ? 'true' : false,
    });
  }
  return records;
}

/** Workstation records (no actor) of every kind the workstation writes. */
function goldenWorkstationRecords(count: number, start: number): DescribedRecord[] {
  const rnd = random(4);
  const types = [...Object.keys(AUDIT_TYPE_LABELS).filter((t) => !t.includes('envelope')), 'new.kind'];
  return Array.from({ length: count }, (_, i) => {
    const type = types[Math.floor(rnd() * types.length)] ?? 'x';
    const at = start + i * 61_001;
    const details: Record<string, unknown> = type.startsWith('session') || type === 'lock' || type === 'autoLock'
      ? { keyProtection: i % 2 === 0 ? 'os' : 'passphraseOnly', reason: ['inactivity', 'manual', 'odd', ''][i % 4] }
      : type === 'contact.verified' || type === 'contact.unverified' || type === 'contact.identityAcknowledged' ? { user: user(i % 30), device: String(1 + (i % 2)), devices: 2 }
        : type === 'policy.loaded' ? { maxInactivityMinutes: 5, notificationPreviews: 'false', contentProtection: 'maybe', unknownRule: '=1' }
          : type === 'passphrase.belowPolicy' ? { rules: 'length  classes' }
            : type === 'message.read' ? { messages: 'a b  c' }
              : detailsOf(rnd, type, i, at);
    return { seq: i + 1, at, type, details, ...(i % 13 === 0 ? { flagged: true } : {}) };
  });
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

const partyText = (p: AuditParty) => [p.kind, p.raw, p.userId, p.deviceId, p.person?.userId, p.username, p.displayName, p.workstation, p.address, p.osAccount, p.label, p.short].join('|');
const factsText = (f: AuditFacts) => `${partyText(f.actor)}#${partyText(f.subject)}#${f.counterparties.map(partyText).join('&')}#${f.outcome}#${String(f.flagged)}`;

interface Run { readonly facts: string; readonly csv: string; readonly report: string }

/** As BundleWriter.add does it: one describer shared by the CSV and the report. */
function exportLike(directory: AuditDirectory, records: readonly DescribedRecord[], options: { owner?: { username: string; displayName: string; deviceName: string }; timelineLimit?: number; flaggedLimit?: number } = {}): Run {
  const names = new AuditNames(directory);
  const describer = new AuditDescriber(names, new LocalTimes(directory.timeZone), options.owner);
  const csv = new AuditCsv(directory, { describer });
  const report = new AuditReport({
    ...sampleReportInput({ directory }), describer, verification: options.owner ? { ...SAMPLE_VERIFICATION, kind: 'workstation', workstation: options.owner } : SAMPLE_VERIFICATION,
    ...(options.timelineLimit === undefined ? {} : { timelineLimit: options.timelineLimit }), ...(options.flaggedLimit === undefined ? {} : { flaggedLimit: options.flaggedLimit }),
  });
  let facts = '';
  let rows = AUDIT_CSV_HEADER;
  for (const r of records) {
    const f = describer.facts(r);
    facts += `${factsText(f)}\n`;
    rows += csv.row(r, f);
    report.add(r, f);
  }
  return { facts, csv: rows, report: report.render() };
}

const START = Date.UTC(2026, 2, 27, 20, 0, 0); // the weekend Europe changes to summer time, two weeks after America

function runs(): Record<string, string> {
  const out: Record<string, string> = {};
  const dump = process.env.GOLDEN_DUMP; // a folder to write the outputs to, for a diff when a digest differs
  const keep = (name: string, text: string) => {
    out[name] = digest(text);
    if (dump) writeFileSync(`${dump}/${name}`, text);
  };
  const add = (name: string, run: Run) => {
    keep(`${name}.facts`, run.facts);
    keep(`${name}.csv`, run.csv);
    keep(`${name}.report`, run.report);
  };
  add('sample', exportLike(SAMPLE_DIRECTORY, sampleRecords()));
  add('sample-workstation', exportLike(SAMPLE_DIRECTORY, sampleWorkstationRecords(), { owner: { username: 'asmith', displayName: 'Dr. Anna Smith', deviceName: "Ward 4 nurses' station" } }));
  const relay = goldenRelayRecords(4000, START);
  add('relay-berlin', exportLike(goldenDirectory('Europe/Berlin'), relay));
  add('relay-newyork-short', exportLike(goldenDirectory('America/New_York'), relay, { timelineLimit: 40, flaggedLimit: 7 }));
  add('relay-utc-all', exportLike(goldenDirectory('UTC'), relay.slice(0, 1500), { timelineLimit: 5000 }));
  add('relay-unknown-zone', exportLike({ ...goldenDirectory('Mars/Olympus'), people: [] }, relay.slice(0, 800)));
  add('relay-kathmandu', exportLike(goldenDirectory('Asia/Kathmandu'), relay.slice(0, 800)));
  const workstation = goldenWorkstationRecords(1500, START);
  add('workstation-known', exportLike(goldenDirectory('Europe/London'), workstation, { owner: { username: 'user1', displayName: '', deviceName: 'Ward 1 station' } }));
  add('workstation-unknown', exportLike(goldenDirectory('UTC'), workstation.slice(0, 400), { owner: { username: 'nobody', displayName: '=Nobody', deviceName: '' } }));
  // The stand-alone ways in: auditCsvRow per record, a report with its own describer.
  const directory = goldenDirectory('Australia/Lord_Howe');
  keep('standalone.csv', relay.slice(0, 1000).map((r) => auditCsvRow(r, directory)).join(''));
  const own = new AuditReport({ ...sampleReportInput({ directory }), timelineLimit: 100 });
  for (const r of relay.slice(0, 1000)) own.add(r);
  keep('standalone.report', own.render());
  return out;
}

/**
 * Digests of the output of the code before it was made faster (commit 79d75b0); the relay reports' since the
 * day chart of a span beyond 400 weeks (these logs hold a record of 1970) shows at most 400 bars of several days.
 */
const EXPECTED: Record<string, string> = {
  'sample.facts': '2bb6cf1e818bed8c3bfeb5ba9eaa1ad56f302ba3835fe0c8913651f9d5734996',
  'sample.csv': '4f47415b5c499271c4b0512e560b913bf18ac392429be4689598d9617801674b',
  'sample.report': 'af273cd1e7ffe07f3b2d389d1ab3c8fcef949c77778cbcea45af246c32f035d2',
  'sample-workstation.facts': 'd9d8be72de06d184a184f51c22af834a1b13eb6ecdf1caec59b0dc02f69f82b3',
  'sample-workstation.csv': '5555cb8121dcb2e9ce78c845c06ec87298c7ac5b3e90e341a902c3d0d988b263',
  'sample-workstation.report': '89cdca4cd9a9077484d118c10b614feee4266677d1b5501ea3ffa66eae63bdb5',
  'relay-berlin.facts': 'd333fc78bd5f1498d5c7220f84acad421c59c35498391012434ae33b57a56852',
  'relay-berlin.csv': '6adb829814a49e29426c9ebf230e8b0e11bb62d33a8ed78313d5cafaad852de3',
  'relay-berlin.report': '237292296022ad1ec1d039672a6677936949833aa6c232d36625396c0267fcdc',
  'relay-newyork-short.facts': 'd333fc78bd5f1498d5c7220f84acad421c59c35498391012434ae33b57a56852',
  'relay-newyork-short.csv': '6b8fb24abedf4e7672ec273057be14a3673e9327a3ac8958800e4119e6207414',
  'relay-newyork-short.report': 'bcbce4d8f4281153b2508a73bf75f5dbd52b04b085c613743d6bcec65ff8b5d7',
  'relay-utc-all.facts': 'beaa5c7314d30d6b0fed2ccf2b36c205f93072da3b58e25f9f630edbece998bd',
  'relay-utc-all.csv': 'b0cae3dbe09526d3834e161f15bc6ec812d5cebf75720a0d1eb3c048be7dc01b',
  'relay-utc-all.report': 'd79ec1e5b2e4abd22c20902253107458c5a6c39de07049f7533584217a37f580',
  'relay-unknown-zone.facts': 'd8191cb20a86a28bb24f76f724f685f12af532b086261964699f6dbb1a3566d4',
  'relay-unknown-zone.csv': '8fc3dc8d9142ab6585dbacc22223892904e5d7e04030f5fa7a81b77ea730a56c',
  'relay-unknown-zone.report': '72ac9a79856e71b650b9639f357cdee40b8cca1728f0cf9fee0ced893d624cea',
  'relay-kathmandu.facts': '59946fa37f585e15d31af06b45a7daa4990b96c3b00a333cd8b467cea4d4815a',
  'relay-kathmandu.csv': '4ec4b50a6cfbfb7fa3e22545925a652661c7c97ce2d66b9a4c22dcbecfdaf82c',
  'relay-kathmandu.report': 'c788386fa3160da3bf92ac5f70c7d5bd0094db84e161e3a3df144f7ef6d2ca61',
  'workstation-known.facts': 'ab925c42a6eac1e3bd01e1390ce0e8426eebc352ea85714959c72e4cbfa19c15',
  'workstation-known.csv': '0b5fe47339541e101dce642d6148e73464aa2c21977a31cc8eb2b14574585cda',
  'workstation-known.report': '0e650583283ebdd1288e52ec664aafdd01bdafab2e7ab9cc3a168787352910ee',
  'workstation-unknown.facts': '6f85e588f33143b3db011529b43e0bb45d01c949e3cc1e87108b86a0d0989a12',
  'workstation-unknown.csv': 'f219829d8201fc7ec7ed774d243121977dca9f1cf6e561cedef5aba66c99352f',
  'workstation-unknown.report': 'f2dafa40e2381cc3826e8cd601d04838a666d6854801edafacb217e00ae62b04',
  'standalone.csv': '9cf92d3b225654b70e19066742e7982da39826ce5a9a32631ed16e6727a3f630',
  'standalone.report': '3067d0930dd6c71051167ad6cf3cc0900e729521ad3408050ccfc0b4a8b369de',
};

describe('the describing work of an export, byte for byte', () => {
  it('gives the same facts, events.csv rows and report.html as before', () => {
    const actual = runs();
    if (process.env.GOLDEN_PRINT) console.log(JSON.stringify(actual, null, 1));
    expect(actual).toEqual(EXPECTED);
  });
});

describe('the envelopes a delivery names the sender of', () => {
  it('remembers exactly the last 65,536 envelopes accepted, as the ring it replaced did', () => {
    // The ring as it was: a Map of envelope to sender, the oldest id deleted as the 65,537th new one comes.
    const MAX = 65_536;
    const senders = new Map<string, string>();
    const ring: string[] = [];
    let next = 0;
    const accept = (id: string, sender: string) => {
      if (!senders.has(id)) {
        const oldest = ring[next];
        if (oldest !== undefined) senders.delete(oldest);
        ring[next] = id;
        next = (next + 1) % MAX;
      }
      senders.set(id, sender);
    };
    const rnd = random(65_536);
    const describer = new AuditDescriber(new AuditNames(goldenDirectory('UTC')));
    let accepted = 0;
    let named = 0;
    let unnamed = 0;
    for (let seq = 1; seq <= 300_000; seq++) {
      const r = rnd();
      // Mostly new envelopes; some accepted again (a sender changed); deliveries around the edge of what is kept.
      if (r < 0.6) {
        const id = r < 0.57 ? envelope(++accepted) : envelope(Math.max(1, accepted - Math.floor(rnd() * 70_000)));
        const sender = `${user(seq % 30)}.${1 + (seq % 2)}`;
        describer.facts({ seq, at: seq, type: 'envelope.accepted', actor: sender, subject: id, details: {} });
        accept(id, sender);
      } else {
        const id = envelope(Math.max(1, accepted - MAX + 50 - Math.floor(rnd() * 100)));
        const facts = describer.facts({ seq, at: seq, type: 'envelope.delivered', actor: `${user(1)}.1`, subject: id, details: {} });
        const expected = senders.get(id);
        expect(facts.counterparties.map((p) => p.raw)).toEqual(expected ? [expected] : []);
        if (expected) named++;
        else unnamed++;
      }
    }
    expect(named).toBeGreaterThan(10_000);
    expect(unnamed).toBeGreaterThan(10_000);
  });
});
