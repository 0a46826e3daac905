import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../openStore';
import { removeDir, tempDataDir } from '../../test/fixtures/relayProcess';
import type { SqliteRelayStore } from '../storage/sqlite/SqliteRelayStore';
import { DEFAULT_THROTTLE, LoginThrottle, usernameScope } from './LoginThrottle';

describe('failures counted in memory while the store cannot record them', () => {
  let dir: string | undefined;
  let store: SqliteRelayStore | undefined;
  afterEach(() => {
    store?.close();
    if (dir) removeDir(dir);
  });

  const waits = async (throttle: LoginThrottle, scope: string) => throttle.check(scope).then(() => false, (e: { code: string }) => e.code === 'THROTTLED');

  it('a flood of other names does not push out a guessed-at account: while memory is full, new names wait instead', async () => {
    dir = tempDataDir();
    let now = Date.UTC(2026, 11, 2, 9);
    store = openStore(dir, { now: () => now });
    const throttle = new LoginThrottle(store, { now: () => now }, DEFAULT_THROTTLE, 100);
    const vera = usernameScope('vera');
    for (let i = 0; i < DEFAULT_THROTTLE.freeFailures; i++) throttle.noteUnrecorded([vera], now);
    expect(await waits(throttle, vera)).toBe(true);
    // Five hundred made-up names, one failure each (five times what memory holds)...
    for (let i = 0; i < 500; i++) throttle.noteUnrecorded([usernameScope(`made-up-${i}`)], now);
    // ...and Vera's guesser must still wait; a name memory had no room for waits too, rather than going free.
    expect(await waits(throttle, vera)).toBe(true);
    expect(await waits(throttle, usernameScope('made-up-499'))).toBe(true);
    // Once the failures are older than the slow window they go, and memory has room again.
    now += DEFAULT_THROTTLE.slowWindowMs + 1;
    expect(await waits(throttle, usernameScope('made-up-499'))).toBe(false);
  });
});
