import { describe, expect, it } from 'vitest';
import type { DeviceId, UserId } from '../../shared/ids';
import type { DeviceRecord, UserRecord } from '../storage/RelayStore';
import { auditDirectory, relayTimeZone } from './auditDirectory';

const user = (id: string, username: string, status: UserRecord['status']): UserRecord => ({
  id: id as UserId, username, displayName: `Dr. ${username}`, role: 'clinician', status, passwordHash: 'secret-hash', totpSecret: 'secret',
  createdAt: 0, lastActiveAt: 0, lockedUntil: null, deactivatedAt: status === 'deactivated' ? 5 : null, totpLastStep: -1,
  department: null, jobTitle: null, contact: null, source: 'admin', externalId: null, deactivatedBySource: null, deactivatedByScim: null, sso: null,
});
const device = (userId: string, deviceId: number, name: string, revokedAt: number | null): DeviceRecord => ({
  userId: userId as UserId, deviceId: deviceId as DeviceId, name, credentialHash: 'secret-credential-hash', createdAt: 0, lastSeenAt: 0, expiresAt: null, revokedAt,
});

describe("the relay's directory for an export", () => {
  const users = [user('u-1', 'asmith', 'active'), user('u-2', 'gone', 'deactivated'), user('u-3', 'new', 'pending')];
  const devices = new Map([['u-1', [device('u-1', 1, 'Ward 4', null), device('u-1', 2, 'Old laptop', 9)]], ['u-2', [device('u-2', 1, 'ICU desk', 5)]]]);
  const store = { listUsers: () => Promise.resolve(users), devices: (id: UserId) => Promise.resolve(devices.get(id) ?? []) };

  it('names everyone old records may name, deactivated accounts and revoked workstations included, and no secret', async () => {
    const directory = await auditDirectory(store, 'Europe/London');
    expect(directory.people.map((p) => p.username)).toEqual(['asmith', 'gone', 'new']);
    expect(directory.people[1]).toEqual({ userId: 'u-2', username: 'gone', displayName: 'Dr. gone', role: 'clinician' });
    expect(directory.workstations).toEqual([
      { userId: 'u-1', deviceId: 1, name: 'Ward 4' }, { userId: 'u-1', deviceId: 2, name: 'Old laptop' }, { userId: 'u-2', deviceId: 1, name: 'ICU desk' },
    ]);
    expect(JSON.stringify(directory)).not.toContain('secret');
    expect(directory.timeZone).toBe('Europe/London');
  });

  it("takes the relay's own time zone unless one is named, and refuses a misspelt one", () => {
    expect(relayTimeZone()).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(() => relayTimeZone('Europe/Londn')).toThrow(/unknown time zone "Europe\/Londn"/);
  });
});
