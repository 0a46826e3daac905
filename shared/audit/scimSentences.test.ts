import { describe, expect, it } from 'vitest';
import { BEN, SAMPLE_DIRECTORY } from './auditSample';
import { AuditDescriber, type DescribedRecord } from './describe';
import { AuditNames } from './people';

const record = (type: string, actor: string, subject: string, details: Record<string, unknown>): DescribedRecord => ({ seq: 1, at: Date.UTC(2026, 11, 3, 8), type, actor, subject, details });
const say = (r: DescribedRecord) => new AuditDescriber(new AuditNames(SAMPLE_DIRECTORY)).sentence(r);
const ENTRA = { source: 'scim', sourceName: 'entra-prod' };

describe('SCIM records, as the report says them', () => {
  it('names the token, the group and what changed', () => {
    expect(say(record('group.updated', 'scim:entra-prod', 'g-1', { ...ENTRA, changed: 'displayName,members', displayName: 'ICU nurses', memberCount: 3, addedCount: 2, removedCount: 1 })))
      .toBe('The hospital\'s directory through SCIM (token “entra-prod”) changed the group “ICU nurses”: named it “ICU nurses”, added 2 members, removed 1 member (now 3 members).');
    expect(say(record('user.deprovisioned', 'scim:entra-prod', BEN, ENTRA)))
      .toBe('The hospital\'s directory through SCIM (token “entra-prod”) removed Ben Okafor (bokafor, nurse) from the directory; the account stays deactivated, kept for the audit trail.');
    expect(say(record('scim.token_revoked', 'admin:jdoe', '', { name: 'entra-prod' })))
      .toBe('Administrator jdoe (relay command line) revoked the SCIM token “entra-prod”: requests with it are refused from now on.');
    expect(say(record('scim.refused', 'anonymous@203.0.113.9', '', { reason: 'revoked', token: 'entra-old', episode: 'ongoing', requests: 10 })))
      .toMatch(/^SCIM requests .*203\.0\.113\.9.* with the revoked token “entra-old” were refused \(10 requests so far\)\.$/);
  });
});
