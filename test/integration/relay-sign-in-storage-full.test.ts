import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import type { DeviceId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { SessionResponse } from '../../shared/wire/relay';
import { accountScope } from '../../server/auth/LoginThrottle';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import type { Clock } from '../../server/Clock';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import { storageFull } from '../../server/RelayFailure';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import type { RelayStore } from '../../server/storage/RelayStore';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Sign-in when the relay is short of storage (the second adversarial review of issue 13). Below the
 * free-disk reserve, sign-ins that prove no enrolled workstation are refused before anything is checked,
 * the same for everyone, while enrolled workstations still sign in. Once the store cannot write at all
 * (the reserve turned off, or the disk filled past it), failures are still counted, in memory, so the
 * throttle holds, and a right password is answered like a wrong one. Virtual time.
 */

const PASSWORD = 'correct horse battery staple 7';

async function keys(): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
}

const existing = (deviceId: number) => ({ kind: 'existing' as const, deviceId: deviceId as DeviceId });
const outcome = (promise: Promise<unknown>) => promise.then(() => 'OK', (e: { code?: string }) => e.code ?? String(e));

/** Store methods that write (each one transaction). */
const WRITES = /^(record|update|append|claim|clear|replace|add|create|touch|revoke|store|take|useEmergency|complete|deactivate|enqueue|acknowledge|expire)/;

describe('sign-in with the relay short of storage (virtual time)', () => {
  let relay: RelayServer;
  let dir: string;
  let now: number;
  /** While set, every write fails as SqliteDatabase fails one on a full disk (SQLITE_FULL, told as RELAY_STORAGE_FULL). */
  let full = false;

  /** The relay's own store, whose writes fail while `full` is set. */
  function fillable(store: RelayStore): RelayStore {
    return new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (full && typeof property === 'string' && WRITES.test(property)) return Promise.reject(storageFull('the relay is out of storage space; try again later'));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  beforeEach(() => {
    now = Date.UTC(2026, 11, 2, 9);
    full = false;
    dir = tempDataDir();
    const clock: Clock = { now: () => now };
    relay = new RelayServer(fillable(openStore(dir, clock)), { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } }, clock, () => undefined);
  });

  afterEach(async () => {
    full = false;
    await relay.close();
    removeDir(dir);
  });

  const setReserve = (bytes: number) => ((relay.config as { minFreeDiskBytes: number }).minFreeDiskBytes = bytes);

  async function enroll(username: string): Promise<{ secret: string; session: SessionResponse }> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
    const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, { address: '10.1.0.1' });
    const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward 4 workstation', keys: await keys() }, { address: '10.1.0.1' });
    return { secret: begin.totpSecret, session };
  }

  const nextCode = (secret: string) => currentTotp(secret, now + 30_000);

  it('below the free-disk reserve, a sign-in that proves no workstation is refused before anything is checked, alike for everyone; her enrolled workstation signs in', async () => {
    const ann = await enroll('ann');
    const { enrollmentCode } = await relay.accounts.addUser('newt', 'Newt N', 'clinician');
    setReserve(Number.MAX_SAFE_INTEGER);
    const code = nextCode(ann.secret);
    const laptop = { kind: 'new' as const, name: 'Laptop', keys: await keys() };
    const answer = (attempt: Promise<unknown>) => attempt.then(() => 'OK', (e: { code: string; extra: { retryAfterSeconds?: number } }) => `${e.code} ${e.extra.retryAfterSeconds}`);
    const answers = [
      await answer(relay.accounts.login('ann', 'a wrong guess', '000000', laptop, { address: '203.0.113.5' })),
      await answer(relay.accounts.login('ann', 'a wrong guess', code, laptop, { address: '203.0.113.5' })),
      await answer(relay.accounts.login('ann', PASSWORD, code, laptop, { address: '10.1.0.3' })),
      await answer(relay.accounts.login('nobody-here', PASSWORD, '000000', laptop, { address: '203.0.113.5' })),
      await answer(relay.accounts.beginEnrollment('newt', 'AAAA-BBBB-CCCC-DDDD', { address: '203.0.113.5' })),
      await answer(relay.accounts.beginEnrollment('newt', enrollmentCode, { address: '10.1.0.4' })),
      await answer(relay.accounts.emergencyLogin('ann', 'AAAA-BBBB-CCCC-DDDD', { name: 'ER', keys: laptop.keys }, { address: '203.0.113.5' })),
    ];
    // One answer, whether the code or password was right or wrong, the name real or not: it tells nothing...
    expect(new Set(answers)).toEqual(new Set(['RELAY_STORAGE_FULL 60']));
    // ...and nothing was checked, so nothing was counted.
    expect(await relay.store.loginFailures(accountScope(ann.session.userId), 0)).toEqual([]);
    // Her enrolled workstation signs in, with the very code (it was not used).
    await expect(relay.accounts.login('ann', PASSWORD, code, existing(ann.session.deviceId), { address: '10.1.0.2', credential: ann.session.credential }))
      .resolves.toMatchObject({ deviceId: ann.session.deviceId });
  });

  it('when the store cannot write, guesses are still throttled, and the right password is answered like a wrong one', async () => {
    const ann = await enroll('ann');
    setReserve(0); // no reserve (or the disk filled past it): the store itself refuses every write
    full = true;
    const workstation = { address: '10.1.0.2', credential: ann.session.credential };
    const code = nextCode(ann.secret);
    const atWorkstation = (password: string) => outcome(relay.accounts.login('ann', password, code, existing(ann.session.deviceId), workstation));

    // Someone with her workstation's credential guesses passwords. Nothing can be recorded, yet each guess
    // counts: three, then the workstation must wait (its first THROTTLED is answered RELAY_STORAGE_FULL too,
    // as its audit record cannot be written; no guess is checked meanwhile).
    const guesses: string[] = [];
    for (let i = 0; i < 5; i++) guesses.push(await atWorkstation(`guess number ${i} here`));
    expect(guesses).toEqual(['RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'THROTTLED']);
    // Once the delay has passed, the right password gets the answer a wrong one gets, and is counted the same.
    now += 1000;
    expect(await atWorkstation(PASSWORD)).toBe('RELAY_STORAGE_FULL');
    expect(await atWorkstation('another guess here')).toBe('THROTTLED');

    // A stranger's wrong codes for a new workstation are counted the same way.
    const stranger: string[] = [];
    for (let i = 0; i < 5; i++) stranger.push(await outcome(relay.accounts.login('ann', 'a wrong guess', '000000', existing(1), { address: '203.0.113.5' })));
    expect(stranger).toEqual(['RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'RELAY_STORAGE_FULL', 'THROTTLED']);

    // With room again, Ann signs in at her workstation once its delay has passed.
    full = false;
    now += 60_000;
    await expect(relay.accounts.login('ann', PASSWORD, currentTotp(ann.secret, now), existing(ann.session.deviceId), workstation))
      .resolves.toMatchObject({ deviceId: ann.session.deviceId });
  });
});
