import { describe, expect, it } from 'vitest';
import { BEN, SAMPLE_DIRECTORY } from './auditSample';
import { AuditDescriber, type DescribedRecord } from './describe';
import { AuditNames } from './people';

const record = (type: string, actor: string, subject: string, details: Record<string, unknown>): DescribedRecord => ({ seq: 1, at: Date.UTC(2026, 11, 2, 13, 5), type, actor, subject, details });
const say = (r: DescribedRecord) => new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY)).sentence(r);

describe('provisioning records, as the report says them', () => {
  it('names the source, the account and the fields it set', () => {
    expect(say(record('user.provisioned', 'scim:entra-prod', '0badc0de-0000-4000-8000-000000000000', {
      source: 'scim', sourceName: 'entra-prod', status: 'pending', changed: 'username,displayName,department', username: 'j.smith@hospital.example', displayName: 'Dr. Jo Smith', department: 'Cardiology',
    }))).toBe('The hospital\'s directory through SCIM (token “entra-prod”) created the account “j.smith@hospital.example”: name “Dr. Jo Smith”, department “Cardiology”, to enroll.');
    expect(say(record('user.updated', 'admin:jdoe', BEN, { source: 'admin', sourceName: 'admin:jdoe', changed: 'jobTitle,contact', jobTitle: 'Ward manager', contact: null })))
      .toBe('Administrator jdoe (relay command line) changed the directory details of Ben Okafor (bokafor, nurse): job title “Ward manager”, contact cleared.');
    expect(say(record('account.deactivated', 'ldap:run-42', BEN, { reason: 'provisioning', source: 'ldap', sourceName: 'run-42' })))
      .toBe('The hospital\'s directory through LDAP sync (run run-42) deactivated the account of Ben Okafor (bokafor, nurse) (the hospital\'s directory lists the person as gone or disabled).');
  });

  it('sums up a directory sync run, or says which safety rule stopped it', () => {
    const run = { source: 'ldap', sourceName: 'sync-1a2b3c4d' };
    expect(say(record('directory.synced', 'ldap:sync-1a2b3c4d', '', { ...run, read: 12, created: 2, updated: 0, unchanged: 9, deactivated: 1, reactivated: 0, refused: 0, skipped: 1 })))
      .toBe('The hospital\'s directory through LDAP sync (run sync-1a2b3c4d) read 12 people: accounts 2 created, 1 deactivated, 9 left unchanged; 1 entry skipped.');
    expect(say(record('directory.synced', 'ldap:sync-1a2b3c4d', '', { ...run, read: 1, created: 0, updated: 0, unchanged: 0, deactivated: 0, reactivated: 0, refused: 1, skipped: 0 })))
      .toBe('The hospital\'s directory through LDAP sync (run sync-1a2b3c4d) read 1 person: accounts 1 refused.');
    expect(say(record('directory.synced', 'ldap:sync-1a2b3c4d', '', { ...run, read: 0, stopped: 'DIRECTORY_EMPTY_READ', skipped: 0 })))
      .toBe('The hospital\'s directory through LDAP sync (run sync-1a2b3c4d) read 0 people and stopped without changing anything: it read nobody while accounts come from it (a wrong filter or base DN?).');
    expect(say(record('directory.synced', 'ldap:sync-1a2b3c4d', '', { ...run, read: 40, stopped: 'DIRECTORY_MASS_DEACTIVATION', skipped: 0 })))
      .toMatch(/read 40 people and stopped without changing anything: it would have deactivated more accounts than the relay allows at once\.$/);
  });
});
