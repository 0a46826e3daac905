/** The RelayStore contract (relayStoreContract.ts): accounts, enrollment, throttling and emergency access. */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import type { PendingEnrollment } from '../../server/storage/RelayStore';
import { UserIdSchema, type UserId } from '../../shared/ids';
import { HOUR, NOW, ROOMY, accepted, audited, envelope, expectFailure, settled, type ContractStores } from './relayStoreStores';

const event = (type: AuditEvent['type'], subject: string, flagged = false): AuditEvent => ({ type, actor: 'admin:ops', subject, details: {}, flagged });

/** An enrollment under way with this code (the store sweeps those past their time by its own clock). */
const enrollmentOf = (userId: UserId, code: string): PendingEnrollment => ({ id: randomUUID(), userId, codeHash: sha256Hex(code), totpSecret: `TOTP-${randomUUID()}`, expiresAt: Date.now() + HOUR });

export function relayStoreAccounts(t: ContractStores): void {
  it('finds accounts by id and username, and lists them in byte order of their usernames', async () => {
    const { store, other } = t;
    const bob = await t.user({ username: 'bob' });
    const alice = await t.user({ username: 'alice' });
    await t.user({ username: 'émile' });
    await t.user({ username: 'Zed' });
    expect(await other.userById(alice)).toEqual({
      id: alice, username: 'alice', displayName: 'alice', role: 'clinician', status: 'active', passwordHash: null, totpSecret: null,
      createdAt: NOW, lastActiveAt: NOW, lockedUntil: null, deactivatedAt: null, totpLastStep: -1,
      department: null, jobTitle: null, contact: null, source: 'admin', externalId: null, deactivatedBySource: null, deactivatedByScim: null, sso: null,
    });
    expect(await other.userByUsername('bob')).toEqual(await store.userById(bob));
    expect(await store.userByUsername('nobody')).toBeUndefined();
    expect(await store.userById(UserIdSchema.parse(randomUUID()))).toBeUndefined();
    // The same order whatever the database's collation: an admin's listing does not depend on the store.
    expect((await other.listUsers()).map((u) => u.username)).toEqual(['Zed', 'alice', 'bob', 'émile']);
  });

  it('refuses a taken username on either instance and under a race, leaving no trace of the refused account', async () => {
    const { store, other } = t;
    await t.user({ username: 'alice' });
    const named = (username: string, code: string) => {
      const id = UserIdSchema.parse(randomUUID());
      return { id, create: (on = store) => on.createUser({ id, username, displayName: username, role: 'clinician', status: 'pending', createdAt: NOW, lastActiveAt: NOW }, sha256Hex(code), NOW + HOUR, [event('account.created', id)]) };
    };
    const again = named('alice', 'again');
    await expectFailure(again.create(other), 'BAD_REQUEST');
    const racers = [named('carol', 'carol-1'), named('carol', 'carol-2')];
    const { fulfilled, codes } = settled(await Promise.allSettled(racers.map((r, i) => r.create(t.either(i)))));
    expect([fulfilled.length, codes]).toEqual([1, ['BAD_REQUEST']]);
    const winner = (await store.userByUsername('carol'))!.id;
    const loser = racers.find((r) => r.id !== winner)!;
    // The refused accounts were not created, their codes enroll nobody, and the log records only what happened.
    for (const refused of [again, loser]) expect(await store.userById(refused.id)).toBeUndefined();
    for (const code of ['again', winner === racers[0]!.id ? 'carol-2' : 'carol-1']) expect(await store.enrollmentCodeOwner(sha256Hex(code), NOW)).toBeUndefined();
    expect(await t.audit('account.created')).toEqual([['account.created', winner]]);
  });

  it('finds the owner of an unused, unexpired enrollment code only, and replaces a code with the enrollment under way', async () => {
    const { store, other } = t;
    const pending = await t.user({ status: 'pending', code: 'first', codeExpiresAt: NOW + HOUR });
    expect(await other.enrollmentCodeOwner(sha256Hex('first'), NOW + HOUR - 1)).toBe(pending);
    expect(await other.enrollmentCodeOwner(sha256Hex('first'), NOW + HOUR)).toBeUndefined();
    expect(await store.enrollmentCodeOwner(sha256Hex('unknown'), NOW)).toBeUndefined();
    const begun = enrollmentOf(pending, 'first');
    await store.createPendingEnrollment(begun);
    expect(await other.pendingEnrollment(begun.id)).toEqual(begun);
    // A second enrollment for the account replaces the first.
    const restarted = enrollmentOf(pending, 'first');
    await other.createPendingEnrollment(restarted);
    expect([await store.pendingEnrollment(begun.id), await store.pendingEnrollment(restarted.id)]).toEqual([undefined, restarted]);
    await other.replaceEnrollmentCode(pending, sha256Hex('second'), NOW + 2 * HOUR, [event('account.created', pending)]);
    expect(await store.enrollmentCodeOwner(sha256Hex('first'), NOW)).toBeUndefined();
    expect(await store.enrollmentCodeOwner(sha256Hex('second'), NOW + HOUR)).toBe(pending);
    expect(await store.pendingEnrollment(restarted.id)).toBeUndefined();
    // The enrollment begun with the replaced code cannot be completed.
    await expectFailure(store.completeEnrollment(restarted, 'pw', t.newDevice(), NOW, []), 'INVALID_CODE');
    expect(await store.userById(pending)).toMatchObject({ status: 'pending', passwordHash: null });
    expect(await t.audit('account.created')).toEqual([['account.created', pending]]);
  });

  it('completes an enrollment once, however many try at once: the account active, the code used up, the device named in the log', async () => {
    const { store, other } = t;
    const userId = await t.user({ status: 'pending', code: 'enrol' });
    const begun = enrollmentOf(userId, 'enrol');
    await store.createPendingEnrollment(begun);
    const complete = (i: number) => t.either(i).completeEnrollment(begun, 'password-hash', t.newDevice(), NOW + 1000, [event('account.enrolled', userId)]);
    const { fulfilled, codes } = settled(await Promise.allSettled([complete(0), complete(1), complete(2)]));
    expect([fulfilled, codes]).toEqual([[1], ['INVALID_CODE', 'INVALID_CODE']]);
    expect(await other.userById(userId)).toMatchObject({ status: 'active', passwordHash: 'password-hash', totpSecret: begun.totpSecret, lastActiveAt: NOW + 1000 });
    expect((await store.devices(userId)).map((d) => [d.deviceId, d.credentialHash])).toEqual([[1, sha256Hex('credential-1')]]);
    expect(await store.enrollmentCodeOwner(sha256Hex('enrol'), NOW)).toBeUndefined();
    expect(await store.pendingEnrollment(begun.id)).toBeUndefined();
    expect(await t.audit('account.enrolled')).toEqual([['account.enrolled', `${userId}.1`]]);
    // Every instance drops what it remembers of the account's devices.
    expect((await other.controlEvents(0)).map((e) => [e.kind, e.userId, e.deviceId])).toEqual([['device.added', userId, 1]]);
    // A code past its time completes nothing.
    const late = await t.user({ status: 'pending', code: 'late', codeExpiresAt: NOW + HOUR });
    await expectFailure(store.completeEnrollment(enrollmentOf(late, 'late'), 'pw', t.newDevice(), NOW + HOUR, []), 'INVALID_CODE');
    expect([(await store.userById(late))?.status, await store.devices(late)]).toEqual(['pending', []]);
  });

  it('patches only the fields given, with the audit record of the change', async () => {
    const { store, other } = t;
    const alice = await t.user({ username: 'alice' });
    await store.updateUser(alice, { displayName: 'Dr Alice', lockedUntil: NOW + HOUR, passwordHash: 'h2' }, [event('account.locked', alice, true)]);
    expect(await other.userById(alice)).toMatchObject({ username: 'alice', displayName: 'Dr Alice', status: 'active', lockedUntil: NOW + HOUR, passwordHash: 'h2', totpSecret: null, lastActiveAt: NOW, totpLastStep: -1 });
    await other.updateUser(alice, { lockedUntil: null, totpSecret: 'S2', totpLastStep: 5, lastActiveAt: NOW + 5, status: 'pending', deactivatedAt: NOW + 6 }, []);
    expect(await store.userById(alice)).toMatchObject({ displayName: 'Dr Alice', passwordHash: 'h2', lockedUntil: null, totpSecret: 'S2', totpLastStep: 5, lastActiveAt: NOW + 5, status: 'pending', deactivatedAt: NOW + 6 });
    expect(await store.claimTotpStep(alice, 5)).toBe(false);
    // An empty patch still records its event.
    await store.updateUser(alice, {}, [event('account.unlocked', alice)]);
    expect(await t.audit('account.locked', 'account.unlocked')).toEqual([['account.locked', alice], ['account.unlocked', alice]]);
  });

  it('deactivates an account: devices revoked, keys, queues and grants gone, nothing more enrolled or delivered', async () => {
    const { store, other } = t;
    const [alice, bob] = [await t.account(), await t.account()];
    await store.addDevice(bob.userId, t.newDevice(), NOW, []);
    await store.enqueue([envelope(alice, bob)], accepted, ROOMY);
    const grant = await t.grant(bob.userId);
    await other.deactivateUser(bob.userId, NOW + 1, [event('account.deactivated', bob.userId)]);
    expect(await store.userById(bob.userId)).toMatchObject({ status: 'deactivated', deactivatedAt: NOW + 1 });
    expect((await store.devices(bob.userId)).map((d) => [d.deviceId, d.revokedAt])).toEqual([[1, NOW + 1], [2, NOW + 1]]);
    expect(await store.queued(bob, 0, 10)).toEqual([]);
    expect(await store.keyCount(bob.userId, bob.deviceId)).toEqual({ preKeys: 0, kyberPreKeys: 0 });
    expect(await store.takeBundles(bob.userId, undefined, audited('bundle.fetched'))).toEqual([]);
    expect(await store.emergencyGrants(bob.userId, NOW)).toEqual([]);
    await expectFailure(store.useEmergencyGrant(grant.id, t.newDevice(), NOW, []), 'INVALID_CODE');
    await expectFailure(store.addDevice(bob.userId, t.newDevice(), NOW, []), 'ACCOUNT_INACTIVE');
    expect(await store.enqueue([envelope(alice, bob)], accepted, ROOMY)).toEqual(['deviceGone']);
    expect([...(await store.activeDevicesByUser(NOW)).keys()]).toEqual([alice.userId]);
    expect((await store.controlEvents(0)).filter((e) => e.kind !== 'device.added').map((e) => [e.kind, e.userId, e.deviceId])).toEqual([['account.deactivated', bob.userId, null]]);
    expect(await t.audit('account.deactivated', 'emergency.used', 'device.enrolled')).toEqual([['account.deactivated', bob.userId]]);
  });

  it('records a deactivation once when two instances deactivate one account at once', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const deactivate = (on: typeof store, at: number) => on.deactivateUser(alice.userId, at, [event('account.deactivated', alice.userId)]);
    await Promise.all([deactivate(store, NOW + 1), deactivate(other, NOW + 2)]);
    expect([NOW + 1, NOW + 2]).toContain((await store.userById(alice.userId))?.deactivatedAt);
    expect((await other.controlEvents(0)).filter((e) => e.kind !== 'device.added').map((e) => [e.kind, e.userId])).toEqual([['account.deactivated', alice.userId]]);
    expect(await t.audit('account.deactivated')).toEqual([['account.deactivated', alice.userId]]);
  });

  it('leaves no active device to an account deactivated while devices are being added to it on the other instance', async () => {
    const { store, other } = t;
    const alice = await t.account();
    const grant = await t.grant(alice.userId);
    const adds = [
      ...Array.from({ length: 4 }, () => other.addDevice(alice.userId, t.newDevice(), NOW, [])),
      other.useEmergencyGrant(grant.id, t.newDevice({ expiresAt: NOW + HOUR }), NOW, []),
    ];
    const [results] = await Promise.all([Promise.allSettled(adds), store.deactivateUser(alice.userId, NOW, [])]);
    expect(settled(results).codes.every((code) => code === 'ACCOUNT_INACTIVE' || code === 'INVALID_CODE')).toBe(true);
    expect((await other.devices(alice.userId)).filter((d) => d.revokedAt === null)).toEqual([]);
    expect((await store.activeDevicesByUser(NOW)).has(alice.userId)).toBe(false);
    expect(await store.takeBundles(alice.userId, undefined, audited('bundle.fetched'))).toEqual([]);
  });

  it('deactivates an account under enrollment: its code and the enrollment under way enroll nobody', async () => {
    const { store, other } = t;
    const pending = await t.user({ status: 'pending', code: 'enrol' });
    const begun = enrollmentOf(pending, 'enrol');
    await store.createPendingEnrollment(begun);
    await other.deactivateUser(pending, NOW, []);
    expect(await store.enrollmentCodeOwner(sha256Hex('enrol'), NOW)).toBeUndefined();
    expect(await store.pendingEnrollment(begun.id)).toBeUndefined();
    await expectFailure(store.completeEnrollment(begun, 'pw', t.newDevice(), NOW, []), 'INVALID_CODE');
    expect(await store.devices(pending)).toEqual([]);
  });

  it('counts sign-in failures in a window (kept a day) and a streak (kept until cleared)', async () => {
    const { store, other } = t;
    await store.recordLoginFailure(['user:old'], NOW - 2 * 24 * HOUR, [], 'user:old');
    await store.recordLoginFailure(['user:alice', 'ip:10.0.0.1'], NOW - 5000, [], 'user:alice');
    await other.recordLoginFailure(['user:alice'], NOW, [event('login.failure', 'alice')], 'user:alice');
    expect(await store.loginFailures('user:alice', NOW - 60_000)).toEqual([NOW - 5000, NOW]);
    expect(await other.loginFailures('user:alice', NOW - 1000)).toEqual([NOW]);
    expect(await store.loginFailures('ip:10.0.0.1', NOW - 60_000)).toEqual([NOW - 5000]);
    expect([await store.loginStreak('user:alice'), await store.loginStreak('ip:10.0.0.1')]).toEqual([2, 0]);
    // Failures older than a day leave the window; the streak stays.
    expect([await store.loginFailures('user:old', 0), await store.loginStreak('user:old')]).toEqual([[], 1]);
    await other.clearLoginFailures('user:alice');
    expect([await store.loginStreak('user:alice'), await store.loginFailures('user:alice', 0)]).toEqual([0, []]);
    expect(await store.loginFailures('ip:10.0.0.1', 0)).toEqual([NOW - 5000]);
    expect(await t.audit('login.failure')).toEqual([['login.failure', 'alice']]);
  });

  it('counts every failure of a burst of guesses through both instances, and locks with the failure that crosses the limit', async () => {
    const { store, other } = t;
    const alice = await t.user({ username: 'alice' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.either(i).recordLoginFailure(['user:alice', `ip:10.0.0.${i}`], NOW + i, [], 'user:alice')));
    expect([await store.loginStreak('user:alice'), (await other.loginFailures('user:alice', 0)).length]).toEqual([20, 20]);
    await other.recordLoginFailure(['user:alice'], NOW + 100, [event('login.failure', alice), event('account.locked', alice, true)], 'user:alice', { userId: alice, lockedUntil: NOW + HOUR });
    expect((await store.userById(alice))?.lockedUntil).toBe(NOW + HOUR);
    expect(await store.loginStreak('user:alice')).toBe(21);
    expect(await t.audit('login.failure', 'account.locked')).toEqual([['login.failure', alice], ['account.locked', alice]]);
    // Forgetting the failures does not lift the lock: that is an admin's (or the time's).
    await store.clearLoginFailures('user:alice');
    expect((await other.userById(alice))?.lockedUntil).toBe(NOW + HOUR);
    // A hard stop (locked until an admin unlocks) is kept exactly.
    await store.recordLoginFailure(['user:alice'], NOW + 200, [], 'user:alice', { userId: alice, lockedUntil: Number.MAX_SAFE_INTEGER });
    expect((await other.userById(alice))?.lockedUntil).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('lets one of two sign-ins with the same TOTP step through, and no earlier step after it', async () => {
    const { store, other } = t;
    const alice = await t.user();
    const claims = await Promise.all([store.claimTotpStep(alice, 1000), other.claimTotpStep(alice, 1000)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await other.claimTotpStep(alice, 999)).toBe(false);
    expect(await store.claimTotpStep(alice, 1001)).toBe(true);
    expect((await other.userById(alice))?.totpLastStep).toBe(1001);
  });

  it('hands an emergency grant out once, while unexpired, to a device that expires with it', async () => {
    const { store, other } = t;
    const alice = await t.user();
    const grant = await t.grant(alice, NOW + HOUR);
    const expired = await t.grant(alice, NOW);
    expect(await other.emergencyGrants(alice, NOW)).toEqual([grant]);
    await expectFailure(store.useEmergencyGrant(expired.id, t.newDevice({ expiresAt: NOW + HOUR }), NOW, []), 'INVALID_CODE');
    const use = (i: number) => t.either(i).useEmergencyGrant(grant.id, t.newDevice({ name: 'emergency', expiresAt: NOW + HOUR }), NOW, [event('emergency.used', alice, true)]);
    const { fulfilled, codes } = settled(await Promise.allSettled([use(0), use(1), use(2)]));
    expect([fulfilled, codes]).toEqual([[1], ['INVALID_CODE', 'INVALID_CODE']]);
    expect(await store.device(alice, fulfilled[0]!)).toMatchObject({ name: 'emergency', expiresAt: NOW + HOUR, revokedAt: null });
    expect(await other.emergencyGrants(alice, NOW)).toEqual([]);
    expect((await other.controlEvents(0)).map((e) => [e.kind, e.userId, e.deviceId])).toEqual([['device.added', alice, fulfilled[0]]]);
    expect(await t.audit('emergency.issued', 'emergency.used')).toEqual([['emergency.issued', alice], ['emergency.issued', alice], ['emergency.used', `${alice}.1`]]);
  });
}
