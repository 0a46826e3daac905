import { describe, expect, it } from 'vitest';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import { LockController, type LockReason } from './LockController';

function controller(options: { max?: number; user?: number; signOutHours?: number; systemIdle?: () => number } = {}) {
  const time = virtualScheduler(1_000_000);
  const locks: LockReason[] = [];
  let signOuts = 0;
  const lock = new LockController({
    scheduler: time,
    maxInactivityMinutes: options.max ?? 15,
    userInactivityMinutes: options.user,
    signOutAfterLockedHours: options.signOutHours ?? 12,
    ...(options.systemIdle ? { systemIdleSeconds: options.systemIdle } : {}),
    onLock: (reason) => {
      locks.push(reason);
    },
    onSignOut: () => signOuts++,
  });
  return { time, lock, locks, signOuts: () => signOuts };
}

const MINUTE = 60_000;

describe('lock controller (virtual time)', () => {
  it('locks after the inactivity limit, and activity in the window starts the count again', () => {
    const { time, lock, locks } = controller();
    lock.unlocked();
    time.advance(14 * MINUTE);
    expect(locks).toEqual([]);
    lock.activity();
    time.advance(14 * MINUTE);
    expect(locks).toEqual([]);
    time.advance(1 * MINUTE + 5_000);
    expect(locks).toEqual(['inactivity']);
    expect(lock.state).toBe('locked');
    // Locked: further time and activity lock nothing again.
    lock.activity();
    time.advance(30 * MINUTE);
    expect(locks).toEqual(['inactivity']);
  });

  it('locks at once when the OS locks the screen, the machine suspends, or the user picks Lock now', () => {
    for (const [event, reason] of [['osLocked', 'osLock'], ['suspended', 'suspend'], ['lockNow', 'manual']] as const) {
      const { time, lock, locks } = controller();
      lock.unlocked();
      time.advance(10_000);
      lock[event]();
      expect(locks).toEqual([reason]);
      lock[event]();
      expect(locks).toEqual([reason]);
    }
  });

  it('lets the user choose a shorter limit, never a longer one than the policy', () => {
    const shorter = controller({ max: 15, user: 5 });
    shorter.lock.unlocked();
    shorter.time.advance(5 * MINUTE + 5_000);
    expect(shorter.locks).toEqual(['inactivity']);

    const longer = controller({ max: 15, user: 60 });
    expect(longer.lock.timeoutMinutes).toBe(15);
    longer.lock.unlocked();
    longer.time.advance(15 * MINUTE + 5_000);
    expect(longer.locks).toEqual(['inactivity']);
  });

  it('also locks when the OS reports the machine idle that long, even if the window stopped reporting', () => {
    let systemIdleSeconds = 0;
    const { time, lock, locks } = controller({ max: 10, systemIdle: () => systemIdleSeconds });
    lock.unlocked();
    time.advance(5 * MINUTE);
    lock.activity();
    // A window that hung: its last report said "active", but the OS has seen no input for 10 minutes.
    systemIdleSeconds = 10 * 60;
    time.advance(5_000);
    expect(locks).toEqual(['inactivity']);
  });

  it('turns a long lock into a full sign-out after the policy period, and not before', () => {
    const { time, lock, signOuts } = controller({ signOutHours: 12 });
    lock.unlocked();
    lock.lockNow();
    time.advance(11 * 60 * MINUTE);
    expect(signOuts()).toBe(0);
    time.advance(60 * MINUTE + 5_000);
    expect(signOuts()).toBe(1);
    expect(lock.state).toBe('signedOut');
    time.advance(48 * 60 * MINUTE);
    expect(signOuts()).toBe(1);
    // Unlocking (after signing in again) starts over.
    lock.unlocked();
    lock.lockNow();
    time.advance(12 * 60 * MINUTE + 5_000);
    expect(signOuts()).toBe(2);
  });

  it('does nothing while no profile is open', () => {
    const { time, lock, locks, signOuts } = controller();
    lock.unlocked();
    lock.stop();
    lock.osLocked();
    time.advance(24 * 60 * MINUTE);
    expect(locks).toEqual([]);
    expect(signOuts()).toBe(0);
  });

  it('an OS lock or suspend while an unlock is under way locks the profile as soon as it is open', () => {
    const { lock, locks } = controller();
    lock.locked();
    lock.osLocked(); // on the lock screen already: nothing to do, and forgotten when an unlock starts
    lock.opening();
    lock.suspended(); // the lid closes while the passphrase is being checked
    lock.unlocked();
    expect(locks).toEqual(['suspend']);
    expect(lock.state).toBe('locked');
    // An unlock with nothing in between stays open.
    lock.opening();
    lock.unlocked();
    expect(locks).toEqual(['suspend']);
    expect(lock.state).toBe('unlocked');
  });

  it('a lock asked for while the previous one is still closing waits for that one', async () => {
    const time = virtualScheduler(0);
    let finish: () => void = () => undefined;
    const closed: string[] = [];
    const lock = new LockController({
      scheduler: time, maxInactivityMinutes: 15, signOutAfterLockedHours: 12, onSignOut: () => undefined,
      onLock: () => new Promise<void>((resolve) => (finish = () => { closed.push('closed'); resolve(); })),
    });
    lock.unlocked();
    const first = lock.lockNow('manual');
    let secondDone = false;
    const second = lock.lockNow('manual').then(() => (secondDone = true));
    await new Promise((r) => setImmediate(r));
    expect(secondDone).toBe(false);
    finish();
    await Promise.all([first, second]);
    expect(closed).toEqual(['closed']);
    expect(secondDone).toBe(true);
  });
});
