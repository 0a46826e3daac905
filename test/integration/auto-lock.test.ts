import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import { DEFAULT_POLICY } from '../../shared/policy';
import { RelayProcess, addUser, nextTotp, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { virtualScheduler } from '../fixtures/virtualScheduler';
import { FAST_KDF, PASSPHRASE, PASSWORD, Workstation, until } from '../fixtures/workstation';

const MINUTE = 60_000;

/*
 * Automatic logoff through the UI contract, with a real relay and encrypted profiles; the workstation's
 * clock is virtual, so fifteen minutes of inactivity and twelve hours locked take no time.
 */
describe('auto-lock, sign-out, unlock throttling and notifications', () => {
  let relayDir: string;
  let relay: RelayProcess;
  const dirs: string[] = [];
  const time = virtualScheduler(Date.now());
  let alice: Workstation;
  let bob: Workstation;
  let profileId: string;

  beforeAll(async () => {
    relayDir = tempDataDir();
    relay = await RelayProcess.start(relayDir);
    dirs.push(tempDataDir(), tempDataDir());
    alice = new Workstation(dirs[0]!, { scheduler: time, policy: { ...DEFAULT_POLICY, maxInactivityMinutes: 10 } });
    bob = new Workstation(dirs[1]!, { policy: { ...DEFAULT_POLICY, notificationPreviews: true } });
    await alice.enroll(relay.url, 'alice', addUser(relayDir, 'alice', 'Dr. Alice Moreau'));
    await bob.enroll(relay.url, 'bob', addUser(relayDir, 'bob', 'Nurse Bob Okafor'));
    const state = await alice.call('session.state', {});
    profileId = state.phase === 'unlocked' ? state.profile.id : '';
    await until(async () => (await alice.online()) && (await bob.online()), 'both online');
  }, 60_000);

  afterAll(async () => {
    for (const w of [alice, bob]) await w.app.close();
    await relay.stop();
    removeDir(relayDir);
    for (const d of dirs) removeDir(d);
  });

  const phase = async (w: Workstation) => (await w.call('session.state', {})).phase;

  it('locks after the inactivity limit (activity in the window counts), and the UI gets no data while locked', async () => {
    time.advance(8 * MINUTE);
    await alice.call('activity.report', {});
    time.advance(8 * MINUTE);
    expect(await phase(alice)).toBe('unlocked');
    time.advance(2 * MINUTE + 5_000);
    await until(async () => (await phase(alice)) === 'locked', 'auto-lock');
    expect(alice.events.at(-1)).toMatchObject({ type: 'session', state: { phase: 'locked', profile: { displayName: 'Dr. Alice Moreau' }, signInRequired: false } });
    expect((await alice.fails('conversations.list', {})).code).toBe('PROFILE_LOCKED');
  });

  it('throttles wrong passphrases, and unlocks with the right one', async () => {
    for (let i = 0; i < 3; i++) expect((await alice.fails('profile.unlock', { profileId, passphrase: `guess ${i}` })).code).toBe('WRONG_PASSPHRASE');
    const throttled = await alice.fails('profile.unlock', { profileId, passphrase: PASSPHRASE });
    expect(throttled).toMatchObject({ code: 'UNLOCK_THROTTLED', retryAfterSeconds: 5 });
    time.advance(5_000);
    expect((await alice.fails('profile.unlock', { profileId, passphrase: 'guess 3' })).code).toBe('WRONG_PASSPHRASE');
    expect(await alice.fails('profile.unlock', { profileId, passphrase: PASSPHRASE })).toMatchObject({ code: 'UNLOCK_THROTTLED', retryAfterSeconds: 10 });
    time.advance(10_000);
    expect((await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE })).phase).toBe('unlocked');
  });

  it('locks at once when the OS locks the screen or the machine suspends', async () => {
    alice.app.lockController.osLocked();
    await until(async () => (await phase(alice)) === 'locked', 'lock on OS lock');
    await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE });
    alice.app.lockController.suspended();
    await until(async () => (await phase(alice)) === 'locked', 'lock on suspend');
    await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE });
  });

  it('"Lock now" goes through the lock controller, the one owner of lock state', async () => {
    expect(alice.app.lockController.state).toBe('unlocked');
    expect((await alice.call('session.lock', {})).phase).toBe('locked');
    expect(alice.app.lockController.state).toBe('locked');
    await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE });
    expect(alice.app.lockController.state).toBe('unlocked');
    // The controller's own "Lock now" resolves once the profile is closed.
    await alice.app.lockController.lockNow();
    expect(await phase(alice)).toBe('locked');
    expect((await alice.fails('conversations.list', {})).code).toBe('PROFILE_LOCKED');
    await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE });
  });

  it('keeps the user\'s shorter lock timeout, refuses a longer one than policy', async () => {
    expect((await alice.fails('settings.update', { lockTimeoutMinutes: 30 })).code).toBe('INVALID_INPUT');
    expect(await alice.call('settings.update', { lockTimeoutMinutes: 5 })).toMatchObject({ lockTimeoutMinutes: 5, maxLockTimeoutMinutes: 10 });
    time.advance(5 * MINUTE + 5_000);
    await until(async () => (await phase(alice)) === 'locked', 'lock after the user\'s 5 minutes');
    await alice.call('profile.unlock', { profileId, passphrase: PASSPHRASE });
  });

  it('shows only "New message in Rounds" unless policy and the user allow previews', async () => {
    const aliceId = (await bob.call('directory.list', {})).find((c) => c.username === 'alice')!.userId;
    const bobId = (await alice.call('directory.list', {})).find((c) => c.username === 'bob')!.userId;
    const { conversationId } = await bob.call('conversations.openDirect', { userId: aliceId });
    await bob.call('messages.send', { conversationId, text: 'Patient in bed 3 is asking for you', urgent: true, urgentReason: 'Deteriorating patient' });
    await until(() => alice.events.some((e) => e.type === 'message'), 'the message at Alice');
    const event = alice.events.find((e) => e.type === 'message')!;
    expect(alice.app.notificationFor(event)).toEqual({ title: 'Rounds', body: 'Urgent message in Rounds', urgent: true, conversationId });
    expect((await alice.fails('settings.update', { notificationPreviews: true })).code).toBe('INVALID_INPUT');

    // Bob's organisation allows previews; he turns them on.
    expect(await bob.call('settings.update', { notificationPreviews: true })).toMatchObject({ notificationPreviews: true, notificationPreviewsAllowed: true });
    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: bobId });
    await alice.call('messages.send', { conversationId: toBob, text: 'On my way' });
    await until(() => bob.events.some((e) => e.type === 'message'), 'the reply at Bob');
    expect(bob.app.notificationFor(bob.events.find((e) => e.type === 'message')!)).toEqual({ title: 'Dr. Alice Moreau', body: 'On my way', urgent: false, conversationId: toBob });
  });

  it('after twelve hours locked, needs password and TOTP again, also after a restart', async () => {
    await alice.call('session.lock', {});
    time.advance(12 * 60 * MINUTE + 5_000);
    await until(() => alice.events.some((e) => e.type === 'session' && e.state.phase === 'locked' && e.state.signInRequired), 'the sign-out');
    expect((await alice.fails('profile.unlock', { profileId, passphrase: PASSPHRASE })).code).toBe('SIGN_IN_REQUIRED');

    await alice.app.close();
    alice = new Workstation(dirs[0]!, { scheduler: time, policy: { ...DEFAULT_POLICY, maxInactivityMinutes: 10 } });
    expect(await alice.call('session.state', {})).toMatchObject({ phase: 'locked', signInRequired: true });
    const wrong = await alice.fails('profile.signIn', { profileId, passphrase: PASSPHRASE, password: 'not the password at all', totpCode: '000000' });
    expect(wrong.code).toBe('INVALID_CREDENTIALS');
    expect(await phase(alice)).toBe('locked');
    await alice.call('profile.signIn', { profileId, passphrase: PASSPHRASE, password: PASSWORD, totpCode: await nextTotp('alice') });
    await until(() => alice.online(), 'online with the new credential');
    expect(await alice.call('session.state', {})).toMatchObject({ phase: 'unlocked' });
  }, 90_000);

  it('after a crash (no clean lock), the sign-out period counts from the last minute the app was running', async () => {
    await alice.call('activity.report', {});
    time.advance(3 * 60_000); // unlocked (the user's limit is 5 minutes), the app notes the time every minute
    // The machine loses power: no lock, no quit. Thirteen hours later it starts again.
    const later = virtualScheduler(time.now() + 13 * 60 * MINUTE);
    const restarted = new Workstation(dirs[0]!, { scheduler: later, policy: { ...DEFAULT_POLICY, maxInactivityMinutes: 10 } });
    expect(await restarted.call('session.state', {})).toMatchObject({ phase: 'locked', signInRequired: true });
    expect((await restarted.fails('profile.unlock', { profileId, passphrase: PASSPHRASE })).code).toBe('SIGN_IN_REQUIRED');
    restarted.app.lockController.stop();
  });

  it('records locks, auto-locks, failed unlocks, unlocks and sign-ins in the encrypted local audit log', async () => {
    await alice.app.close();
    const profiles = new LocalProfiles(dirs[0]!, { kdf: FAST_KDF });
    const profile = await profiles.unlock(profileId, PASSPHRASE);
    const rows = profile.database.all<{ type: string; details: string }>('SELECT type, details FROM local_audit ORDER BY seq');
    profile.lock();
    const types = rows.map((r) => `${r.type}${r.type === 'session.autoLocked' || r.type === 'session.locked' ? `:${(JSON.parse(r.details) as { reason: string }).reason}` : ''}`);
    expect(types.filter((t) => t === 'session.unlockFailed')).toHaveLength(4);
    for (const expected of ['session.signedIn', 'session.autoLocked:inactivity', 'session.autoLocked:osLock', 'session.autoLocked:suspend', 'session.locked:manual', 'session.unlocked', 'session.locked:quit', 'session.signedOut']) expect(types).toContain(expected);
    expect(types.filter((t) => t === 'session.signedIn')).toHaveLength(2); // enrollment, and after the sign-out
  });
});
