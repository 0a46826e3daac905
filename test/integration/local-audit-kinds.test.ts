import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceAddressSchema } from '../../shared/ids';
import { appendLocalAudit, exportLocalAudit, localAuditKind, readLocalAudit } from '../../main/core/audit/LocalAudit';
import { ProfileDatabase } from '../../main/core/storage/ProfileDatabase';
import { verifyPath } from '../../server/audit/verifyCli';
import { useTempDirs } from '../fixtures/tempDirs';

describe('local audit kinds renamed in 0.2', () => {
  const dir = useTempDirs();
  const device = DeviceAddressSchema.parse({ userId: randomUUID(), deviceId: 1 });
  const who = { username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician', deviceName: 'Ward 4 nurses\' station' };

  it('reads the names 0.1 wrote as today\'s kinds, and leaves the rows as they were written', () => {
    const db = new ProfileDatabase(join(dir(), 'profile.db'), randomBytes(32));
    const old = ['signIn', 'lock', 'autoLock', 'unlock.failed', 'unlock', 'signOut', 'message.read'];
    for (const [i, type] of old.entries()) db.run('INSERT INTO local_audit (at, type, details) VALUES ($at, $type, $d)', { at: 1000 + i, type, d: '{}' });
    appendLocalAudit(db, 2000, 'session.locked', { reason: 'manual' });
    const log = readLocalAudit(db);
    expect(log.map((r) => r.type)).toEqual([...old, 'session.locked']);
    expect(log.map((r) => r.kind)).toEqual(['session.signedIn', 'session.locked', 'session.autoLocked', 'session.unlockFailed', 'session.unlocked', 'session.signedOut', 'message.read', 'session.locked']);
    expect(localAuditKind('no.suchKind')).toBeUndefined();
    db.close();
  });

  it('exports a profile written by 0.1 that still verifies, and later exports still extend the earlier one', () => {
    const db = new ProfileDatabase(join(dir(), 'profile.db'), randomBytes(32));
    for (const [i, type] of ['signIn', 'autoLock', 'unlock'].entries()) db.run('INSERT INTO local_audit (at, type, details) VALUES ($at, $type, $d)', { at: 1000 + i, type, d: JSON.stringify({ reason: 'inactivity' }) });
    const earlier = exportLocalAudit(db, device, who, join(dir(), 'earlier.zip'), { from: 0, to: 5000 }, 5000);
    expect(verifyPath(earlier.path, {}).failures).toEqual([]);
    appendLocalAudit(db, 6000, 'session.autoLocked', { reason: 'osLock' });
    const later = exportLocalAudit(db, device, who, join(dir(), 'later.zip'), { from: 0, to: 7000 }, 7000);
    const verdict = verifyPath(later.path, { previous: earlier.path });
    expect(verdict.failures).toEqual([]);
    expect(verdict.ok).toBe(true);
    db.close();
  });
});
