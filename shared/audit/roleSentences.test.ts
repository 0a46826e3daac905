import { describe, expect, it } from 'vitest';
import { AuditDescriber } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames } from './people';

/* The on-call role records read as sentences, with names and times in the reader's zone. */
const LEE = '0c1f0a5e-3a2b-4c1d-9e8f-000000000001';
const ROLE = 'a1b2c3d4-3a2b-4c1d-9e8f-000000000009';
const names = new AuditNames({ people: [{ userId: LEE, username: 'lee', displayName: 'Dr. Lee', role: 'clinician' }], workstations: [{ userId: LEE, deviceId: 1, name: 'Ward 4 station' }], timeZone: 'Europe/London' });
const describer = new AuditDescriber(names, new LocalTimes('Europe/London'));
const sentence = (type: string, actor: string, subject: string, details: Record<string, string | number | null>) =>
  describer.sentence({ seq: 1, at: Date.UTC(2026, 6, 1, 9), type, actor, subject, details, flagged: false });

describe('role audit sentences', () => {
  it('says who changed which role and schedule, and from where', () => {
    expect(sentence('role.created', 'admin:jdoe', ROLE, { name: 'Cardiology on call', department: 'Cardiology', timeZone: 'Europe/London', backup: `user:${LEE}` }))
      .toMatch(/created the on-call role “Cardiology on call” \(Cardiology\), its rota in Europe\/London, backup Dr\. Lee/);
    expect(sentence('shift.added', `${LEE}.1`, LEE, { role: 'Cardiology on call', roleId: ROLE, startsAt: Date.UTC(2026, 6, 1, 7), endsAt: Date.UTC(2026, 6, 1, 19), source: 'app' }))
      .toMatch(/put Dr\. Lee .*on the role “Cardiology on call” from .*08:00.* to .*20:00.* \(entered in the app\) at Ward 4 station\./);
    expect(sentence('schedule.imported', 'admin:jdoe', ROLE, { role: 'Cardiology on call', source: 'ics', from: Date.UTC(2026, 6, 1, 7), to: Date.UTC(2026, 6, 8, 7), added: 14, removed: 2 }))
      .toMatch(/imported an iCalendar rota for the role “Cardiology on call” covering .*: 14 shifts added, 2 earlier shifts replaced\./);
    expect(sentence('scheduler.granted', 'admin:jdoe', LEE, {})).toMatch(/allowed Dr\. Lee .*to change on-call schedules in the app\./);
  });

  it('says how many shifts a deactivated account left, on which roles', () => {
    expect(sentence('shifts.vacated', 'system', LEE, { removed: 3, ended: 1, roles: 'Cardiology on call, Ward 4 charge nurse' }))
      .toBe("Dr. Lee (lee, clinician)'s account was deactivated: 3 shifts not yet begun removed and 1 shift under way ended (on-call roles Cardiology on call, Ward 4 charge nurse); those roles go to their backup where no one else holds them.");
  });
});
