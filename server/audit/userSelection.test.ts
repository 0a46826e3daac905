import { describe, expect, it } from 'vitest';
import type { ExportedRecord } from '../../shared/audit/bundle';
import { recordConcernsUser } from './userSelection';

const ASMITH = '3f2a0c1e-0000-4000-8000-000000000001';
const BJONES = '9b7d5e3c-0000-4000-8000-000000000002';

const record = (type: string, actor: string, subject: string, details: Record<string, unknown> = {}): ExportedRecord => ({ seq: 1, at: 1, type, actor, subject, details, flagged: false });

describe("one user's export: which records concern them", () => {
  it('holds what was sent to them, delivered to them, and what they did', () => {
    expect(recordConcernsUser(record('envelope.accepted', `${BJONES}.1`, 'env-1', { recipient: `${ASMITH}.2`, size: 120 }), ASMITH)).toBe(true);
    expect(recordConcernsUser(record('envelope.delivered', `${ASMITH}.2`, 'env-1'), ASMITH)).toBe(true);
    expect(recordConcernsUser(record('envelope.accepted', `${ASMITH}.1`, 'env-2', { recipient: `${BJONES}.1` }), ASMITH)).toBe(true);
    expect(recordConcernsUser(record('device.revoked', 'admin:root', `${ASMITH}.3`), ASMITH)).toBe(true);
    expect(recordConcernsUser(record('account.created', 'admin', ASMITH, { username: 'asmith', role: 'clinician' }), ASMITH)).toBe(true);
  });

  it('leaves out what only concerns others', () => {
    expect(recordConcernsUser(record('envelope.accepted', `${BJONES}.1`, 'env-3', { recipient: `${BJONES}.2` }), ASMITH)).toBe(false);
    expect(recordConcernsUser(record('envelope.delivered', `${BJONES}.2`, 'env-3'), ASMITH)).toBe(false);
    // Expired envelopes are counted for all users together, naming none.
    expect(recordConcernsUser(record('envelope.expired', 'system', '', { count: 4, retentionDays: 30 }), ASMITH)).toBe(false);
    expect(recordConcernsUser(record('audit.exported', 'admin:it-ops', '', { records: 3 }), ASMITH)).toBe(false);
  });

  it('matches ids exactly: a user whose id is a prefix of another\'s is not confused with them', () => {
    const short = 'ab';
    const long = 'abc';
    expect(recordConcernsUser(record('login.success', `${long}.1`, long), short)).toBe(false);
    expect(recordConcernsUser(record('envelope.accepted', `${long}.1`, 'e', { recipient: `${long}.2` }), short)).toBe(false);
    expect(recordConcernsUser(record('login.success', `${short}.1`, short), long)).toBe(false);
    // Nor is a device number a prefix of another: `ab.1` names user `ab`, `ab.12` too, and `ab.1x` nobody.
    expect(recordConcernsUser(record('envelope.delivered', `${short}.12`, 'e'), short)).toBe(true);
    expect(recordConcernsUser(record('envelope.delivered', `${short}.1x`, 'e'), short)).toBe(false);
    expect(recordConcernsUser(record('envelope.delivered', `${short}.`, 'e'), short)).toBe(false);
  });

  it('finds them in the lists of refusal episodes and by the username a failed sign-in typed', () => {
    expect(recordConcernsUser(record('envelope.refused', `${BJONES}.1`, BJONES, { reason: 'SENDER_SHARE_FULL', devices: `${BJONES}.2 ${ASMITH}.1`, deviceCount: 2 }), ASMITH)).toBe(true);
    expect(recordConcernsUser(record('envelope.refused', `${BJONES}.1`, BJONES, { reason: 'SENDER_SHARE_FULL', users: `${BJONES}x ${ASMITH}0` }), ASMITH)).toBe(false);
    const failure = record('login.failure', 'anonymous@10.0.0.5', '', { reason: 'emergency code', username: 'asmith', count: 1 });
    expect(recordConcernsUser(failure, ASMITH, 'asmith')).toBe(true);
    expect(recordConcernsUser(failure, BJONES, 'bjones')).toBe(false);
    expect(recordConcernsUser(failure, ASMITH, 'asmit')).toBe(false);
    // A free-text reason that merely contains the name is not their record.
    expect(recordConcernsUser(record('emergency.issued', 'admin:root', BJONES, { reason: 'asmith asked for it' }), ASMITH, 'asmith')).toBe(false);
  });

  it('survives records of odd shape (a bundle read from elsewhere)', () => {
    expect(recordConcernsUser({ seq: 1, at: 1, type: 'x' }, ASMITH)).toBe(false);
    expect(recordConcernsUser({ seq: 1, at: 1, type: 'x', actor: 7, details: 'text' }, ASMITH)).toBe(false);
    expect(recordConcernsUser(record('x', '', ''), '')).toBe(false);
  });
});
