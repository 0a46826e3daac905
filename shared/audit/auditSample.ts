/**
 * A realistic week of a small ward's relay audit log, as the relay writes it (actor, subject, details,
 * flags, hash chain fields), with the directory an export resolves it by: for the report's and CSV's
 * tests, and for looking at report.html in a browser (`npx tsx scripts/auditReportSample.ts`). Data only.
 */
import type { AuditDirectory } from './people';
import type { AuditReportInput, AuditReportVerification } from './report';
import type { DescribedRecord } from './describe';

export const ANNA = '3f2a9c0d-1e2f-4a4b-8c5d-6e7f8a9b0c1d';
export const BEN = '7b1c2d3e-4f50-4617-a829-3a4b5c6d7e8f';
export const CHIDI = '9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0';
export const DANA = 'c4d5e6f7-0819-4a2b-9c3d-4e5f60718293';

export const SAMPLE_DIRECTORY: AuditDirectory = {
  people: [
    { userId: ANNA, username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician' },
    { userId: BEN, username: 'bokafor', displayName: 'Ben Okafor', role: 'nurse' },
    { userId: CHIDI, username: 'cnwosu', displayName: 'Dr. Chidi Nwosu', role: 'clinician' },
    { userId: DANA, username: 'dlee', displayName: 'Dana Lee', role: 'compliance' },
  ],
  workstations: [
    { userId: ANNA, deviceId: 1, name: 'Ward 4 nurses\' station' },
    { userId: ANNA, deviceId: 2, name: 'Anna\'s laptop' },
    { userId: BEN, deviceId: 1, name: 'Ward 4 nurses\' station' },
    { userId: CHIDI, deviceId: 1, name: 'Radiology reading room' },
    { userId: DANA, deviceId: 1, name: 'Compliance office' },
  ],
  timeZone: 'Europe/Berlin',
};

const HOUR = 3_600_000;
/** Monday 2026-11-23 07:00 UTC. */
export const SAMPLE_START = Date.UTC(2026, 10, 23, 7, 0, 0);

const fakeHash = (n: number) => (n * 2654435761 % 2 ** 32).toString(16).padStart(8, '0').repeat(8);

/** The sample's records, in log order (seq from 1). */
export function sampleRecords(): DescribedRecord[] {
  const events: { at: number; type: string; actor: string; subject: string; details: Record<string, string | number | boolean | null>; flagged: boolean }[] = [];
  let envelope = 0;
  const push = (at: number, type: string, actor: string, subject: string, details: Record<string, string | number | boolean | null>, flagged = false) => {
    events.push({ at, type, actor, subject, details, flagged });
  };
  const id = () => `0000${(++envelope).toString(16).padStart(4, '0')}-aaaa-4bbb-8ccc-${envelope.toString(16).padStart(12, '0')}`;
  const message = (at: number, from: string, to: string, toDevices: number[]) => {
    const envelopes = toDevices.map((d) => ({ d, env: id() }));
    for (const { d, env } of envelopes) push(at, 'envelope.accepted', from, env, { recipient: `${to}.${d}`, size: 412, type: 1 });
    for (const { d, env } of envelopes) push(at + 40_000, 'envelope.delivered', `${to}.${d}`, env, {});
  };
  const t0 = SAMPLE_START;
  push(t0 - 48 * HOUR, 'account.created', 'admin:jdoe', CHIDI, { username: 'cnwosu', role: 'clinician' });
  push(t0 - 47 * HOUR, 'account.enrolled', 'anonymous@10.20.4.31', CHIDI, {});
  push(t0 - 47 * HOUR, 'device.enrolled', 'anonymous@10.20.4.31', CHIDI, { name: 'Radiology reading room', auditKey: 'q0bJ0m8yq3XcS3a+P3W8k3m2dXgq9sX1fS0xQ8f0b2E=' });
  for (let day = 0; day < 6; day++) {
    const d = t0 + day * 24 * HOUR;
    push(d, 'login.success', `${ANNA}.1`, ANNA, { device: 1 });
    push(d + 10 * 60_000, 'login.success', `${BEN}.1`, BEN, { device: 1 });
    message(d + 30 * 60_000, `${ANNA}.1`, BEN, [1]);
    message(d + 45 * 60_000, `${BEN}.1`, ANNA, [1, 2]);
    if (day % 2 === 0) {
      push(d + 2 * HOUR, 'login.success', `${CHIDI}.1`, CHIDI, { device: 1 });
      message(d + 2 * HOUR + 5 * 60_000, `${CHIDI}.1`, ANNA, [1, 2]);
      message(d + 2 * HOUR + 9 * 60_000, `${ANNA}.2`, CHIDI, [1]);
    }
  }
  // Day 2: someone tries Ben's account from an unknown address; the account is paused.
  const attack = t0 + 24 * HOUR + 13 * HOUR;
  for (let i = 1; i <= 5; i++) push(attack + i * 20_000, 'login.failure', 'anonymous@203.0.113.77', BEN, { factor: i === 3 ? 'password' : 'one-time code', consecutive: i }, i === 5);
  push(attack + 101_000, 'account.locked', 'system', BEN, { failures: 5, consecutive: 5, until: attack + 101_000 + 15 * 60_000, appliesTo: 'sign-ins without an enrolled workstation' }, true);
  push(attack + 130_000, 'login.failure', 'anonymous@203.0.113.77', '', { reason: 'unknown user' });
  push(attack + 150_000, 'login.throttled', 'anonymous@203.0.113.77', BEN, { scope: 'account', count: 1 });
  // Day 3 night: Anna's laptop is lost; emergency access on a ward PC, the laptop revoked.
  const night = t0 + 2 * 24 * HOUR + 20 * HOUR;
  push(night, 'emergency.issued', 'admin:jdoe', ANNA, { reason: 'Laptop lost on night shift; ticket INC-20431', expiresAt: night + 8 * HOUR }, true);
  push(night + 20 * 60_000, 'emergency.used', 'anonymous@10.20.4.18', ANNA, { reason: 'Laptop lost on night shift; ticket INC-20431', expiresAt: night + 8 * HOUR }, true);
  push(night + 20 * 60_000, 'device.enrolled', 'anonymous@10.20.4.18', ANNA, { name: 'Ward 2 spare PC', auditKey: null });
  push(night + 25 * 60_000, 'device.revoked', 'admin:jdoe', `${ANNA}.2`, {});
  push(night + 26 * 60_000, 'credential.rejected', 'anonymous@198.51.100.9', `${ANNA}.2`, { reason: 'revoked', count: 1 });
  // A flood of messages refused by the sender's rate limit.
  push(t0 + 4 * 24 * HOUR + 9 * HOUR, 'envelope.refused', `${CHIDI}.1`, BEN, { reason: 'SEND_RATE_LIMITED', episode: 'started', requests: 1, envelopes: 1, bytes: 400, devices: `${BEN}.1`, deviceCount: 1, from: t0 + 4 * 24 * HOUR + 9 * HOUR, to: t0 + 4 * 24 * HOUR + 9 * HOUR }, true);
  push(t0 + 4 * 24 * HOUR + 9.2 * HOUR, 'envelope.refused', `${CHIDI}.1`, BEN, { reason: 'SEND_RATE_LIMITED', episode: 'ended', requests: 37, envelopes: 37, bytes: 15_000, from: t0 + 4 * 24 * HOUR + 9 * HOUR, to: t0 + 4 * 24 * HOUR + 9.1 * HOUR }, true);
  push(t0 + 5 * 24 * HOUR, 'envelope.expired', 'system', '', { count: 3, retentionDays: 30 });
  // A hostile display of a username someone tried, and an export by the compliance officer and by an admin.
  push(t0 + 5 * 24 * HOUR + 3 * HOUR, 'login.failure', 'anonymous@203.0.113.77', '', { step: 'enrollment', username: '=HYPERLINK("evil.example")<script>alert(1)</script>' });
  push(t0 + 5 * 24 * HOUR + 8 * HOUR, 'audit.exported', `api:${DANA}.1`, ANNA, { from: t0, to: t0 + 5 * 24 * HOUR, records: 58, treeSize: events.length });
  push(t0 + 5 * 24 * HOUR + 9 * HOUR, 'audit.exported', 'admin:jdoe', '', { from: 0, to: Number.MAX_SAFE_INTEGER, records: events.length, treeSize: events.length + 1 });
  // The log is in time order (a stable sort keeps each envelope's acceptance before its delivery).
  return events.sort((a, b) => a.at - b.at).map((e, i) => ({ seq: i + 1, ...e, prevHash: fakeHash(i), hash: fakeHash(i + 1) }) as DescribedRecord);
}

/** A day of Dr. Anna Smith's ward workstation's own log (records carry no actor: the owner is the actor). */
export function sampleWorkstationRecords(): DescribedRecord[] {
  const t = SAMPLE_START;
  const m = 60_000;
  const message = (i: number) => `5e1a${i.toString(16).padStart(4, '0')}-0000-4000-8000-00000000000${i}`;
  const rows: [number, string, Record<string, string | number | null>][] = [
    [0, 'session.signedIn', { keyProtection: 'os' }],
    [0, 'policy.loaded', { maxInactivityMinutes: 5, signOutAfterLockedHours: 12, notificationPreviews: 'false', contentProtection: 'true', retentionDays: 30, wipeAfterFailedUnlocks: 10 }],
    [30, 'message.sent', { conversation: message(9), message: message(1), sender: `${ANNA}.1`, recipients: `${BEN}.1 ${ANNA}.2`, ciphertextSha256: 'ab'.repeat(32) }],
    [45, 'message.received', { conversation: message(9), message: message(2), sender: `${BEN}.1`, recipients: `${ANNA}.1`, ciphertextSha256: 'cd'.repeat(32) }],
    [46, 'message.read', { conversation: message(9), messages: message(2) }],
    [60, 'session.autoLocked', { reason: 'inactivity' }],
    [62, 'session.unlockFailed', {}],
    [63, 'session.unlocked', { keyProtection: 'os' }],
    [70, 'contact.verified', { user: CHIDI, device: '1' }],
    [120, 'careTeam.changed', { conversation: message(8), epoch: '3', members: '4' }],
    [180, 'message.rejected', { sender: `${CHIDI}.1`, count: '2', codes: 'INVALID_MESSAGE:2', envelope: message(7), error: 'bad MAC', from: String(t), to: String(t + m) }],
    [240, 'lock', { reason: 'manual' }],
    [241, 'audit.exported', { from: 0, to: Number.MAX_SAFE_INTEGER, records: 12, treeSize: 12 }],
  ];
  return rows.map(([minutes, type, details], i) => ({ seq: i + 1, at: t + minutes * m, type, details }));
}

export const SAMPLE_VERIFICATION: AuditReportVerification = {
  signerFingerprint: '5c1f0a7e9b3d2c4f8a6e0d1b7c9f2a3e4d5b6c7a8e9f0a1b2c3d4e5f6a7b8c9d',
  treeSize: 131,
  rootHash: 'e3b98a4da31a127d4bde6e43033f66ba274cab0eb7eb1c70ec41402bf6273dd8',
  firstSeq: 1,
  kind: 'relay',
};

export function sampleReportInput(overrides: Partial<AuditReportInput> = {}): AuditReportInput {
  return {
    title: 'Rounds relay audit log — St. Mary\'s Hospital',
    origin: 'rounds.relay/3f2a9c0d1e2f3a4b',
    range: { from: 0, to: Number.MAX_SAFE_INTEGER, user: null },
    directory: SAMPLE_DIRECTORY,
    generatedAt: SAMPLE_START + 6 * 24 * HOUR,
    verification: SAMPLE_VERIFICATION,
    ...overrides,
  };
}
