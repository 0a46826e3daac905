import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { RelayClient } from '../../main/core/messaging/RelayClient';
import type { DeviceId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { SessionResponse } from '../../shared/wire/relay';
import type { Caller } from '../../server/AccountService';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import type { Clock } from '../../server/Clock';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { DEFAULT_POLICY } from '../../shared/policy';
import { oneHashMs } from '../fixtures/argon2Timing';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { virtualScheduler } from '../fixtures/virtualScheduler';
import { PASSPHRASE, PASSWORD as APP_PASSWORD, Workstation, until } from '../fixtures/workstation';

/*
 * Issue 13, the relay's sign-in findings: a flood of wrong sign-ins must not stall anyone's sign-in,
 * strangers' guesses must not lock a clinician out of her enrolled workstations (and must stay slow),
 * accounts must not be told apart by their answers, refused credentials are audited without flooding,
 * and a replaced credential's socket is cut off at once.
 */

const PASSWORD = 'correct horse battery staple 7';
const HOUR = 3600_000;

async function keys(): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
}

const existing = (deviceId: number) => ({ kind: 'existing' as const, deviceId: deviceId as DeviceId });
const outcome = (promise: Promise<unknown>) => promise.then(() => 'OK', (e: { code?: string }) => e.code ?? String(e));

/** A relay in this process, on a data directory of its own. */
function relayWith(config: RelayConfig, clock: Clock): { relay: RelayServer; dir: string } {
  const dir = tempDataDir();
  return { relay: new RelayServer(openStore(dir, clock), config, clock, () => undefined), dir };
}

/** Enrolls a clinician; returns her TOTP secret and her first workstation's session. */
async function enroll(relay: RelayServer, username: string, now: number, address = '10.1.0.1'): Promise<{ secret: string; session: SessionResponse }> {
  const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
  const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, { address });
  const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward 4 workstation', keys: await keys() }, { address });
  return { secret: begin.totpSecret, session };
}

describe('sign-in under a flood (real Argon2 defaults)', () => {
  let relay: RelayServer;
  let dir: string;

  beforeEach(() => {
    // The production parameters (64 MiB, 3 passes) and the real clock: the flood costs what it would.
    ({ relay, dir } = relayWith(DEFAULT_CONFIG, { now: () => Date.now() }));
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  it('300 wrong sign-ins from 300 addresses do not stall a legitimate sign-in: it completes in under 3 s', async () => {
    const ana = await enroll(relay, 'ana', Date.now());
    const ben = await enroll(relay, 'ben', Date.now());
    const benKeys = await keys();
    // Codes of the next time step (the enrollment used this one; a step ahead is still accepted).
    const next = (secret: string) => currentTotp(secret, Date.now() + 30_000);

    // Each address is fresh (its first attempt): half guess at Ana's account, half at names nobody has.
    const flood = Array.from({ length: 300 }, (_, i) => {
      const caller: Caller = { address: `198.18.${Math.floor(i / 200)}.${(i % 200) + 1}` };
      const username = i % 2 === 0 ? 'ana' : `nobody-${i}`;
      return outcome(relay.accounts.login(username, `wrong guess number ${i}`, String(100_000 + i), existing(1), caller));
    });
    const started = performance.now();
    const timed = async (attempt: Promise<SessionResponse>) => {
      const session = await attempt;
      return { session, ms: performance.now() - started };
    };
    const [atWorkstation, newWorkstation] = await Promise.all([
      // Ana at her enrolled workstation (it proves itself with its credential), while her account is the target.
      timed(relay.accounts.login('ana', PASSWORD, next(ana.secret), existing(ana.session.deviceId), { address: '10.2.0.1', credential: ana.session.credential })),
      // Ben adds a new workstation at the same time.
      timed(relay.accounts.login('ben', PASSWORD, next(ben.secret), { kind: 'new', name: 'Ward 5 workstation', keys: benKeys }, { address: '10.2.0.2' })),
    ]);
    const outcomes = await Promise.all(flood);

    expect(atWorkstation.session.deviceId).toBe(ana.session.deviceId);
    expect(newWorkstation.session.userId).toBe(ben.session.userId);
    expect(atWorkstation.ms).toBeLessThan(3000);
    expect(newWorkstation.ms).toBeLessThan(3000);
    expect(new Set(outcomes)).toEqual(new Set(['INVALID_CREDENTIALS', 'THROTTLED']));
  }, 120_000);

  it('guesses at unknown, pending, locked and deactivated accounts take the same time as at an active one', async () => {
    const hashMs = await oneHashMs();
    await enroll(relay, 'active', Date.now());
    await enroll(relay, 'locked', Date.now());
    await enroll(relay, 'gone', Date.now());
    await relay.accounts.addUser('pending', 'Pending', 'clinician');
    const locked = (await relay.store.userByUsername('locked'))!;
    await relay.store.updateUser(locked.id, { lockedUntil: Date.now() + HOUR }, []);
    await relay.accounts.deactivate('gone');

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const kinds = ['active', 'locked', 'gone', 'pending', 'unknown'] as const;
    const timings = new Map<string, number>();
    const answers = new Map<string, string[]>();
    for (const username of kinds) {
      const times: number[] = [];
      const got: string[] = [];
      // Three guesses each (the free ones), from addresses of their own.
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        got.push(await relay.accounts.login(username, `wrong guess ${i} here`, '123456', existing(1), { address: `198.19.${kinds.indexOf(username)}.${i + 1}` }).then(() => 'OK', (e: Error & { code: string }) => `${e.code}: ${e.message}`));
        times.push(performance.now() - t);
      }
      timings.set(username, median(times));
      answers.set(username, got);
    }
    // The same answer, word for word...
    expect(new Set([...answers.values()].flat())).toEqual(new Set(['INVALID_CREDENTIALS: username, password or one-time code is not correct']));
    // ...after the same work: none of them spent a password hash on a guess without a valid code.
    const spread = Math.max(...timings.values()) - Math.min(...timings.values());
    expect(spread, `median times ${JSON.stringify(Object.fromEntries(timings))}, one hash ${hashMs.toFixed(0)} ms`).toBeLessThan(hashMs / 2);
  }, 120_000);
});

describe('strangers cannot lock a clinician out (virtual time)', () => {
  let relay: RelayServer;
  let dir: string;
  let now: number;
  const config: RelayConfig = { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } };

  beforeEach(() => {
    now = Date.UTC(2026, 10, 23, 9);
    ({ relay, dir } = relayWith(config, { now: () => now }));
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  /** A patient stranger at `address`: waits as long as THROTTLED says (in virtual time), then guesses once. */
  async function guess(username: string, address: string): Promise<string> {
    for (;;) {
      try {
        await relay.accounts.login(username, 'a wrong guess at the password', '000000', existing(1), { address });
        return 'OK';
      } catch (error) {
        const failure = error as { code: string; extra?: { retryAfterMs?: number } };
        if (failure.code !== 'THROTTLED') return failure.code;
        now += failure.extra?.retryAfterMs ?? 1000;
      }
    }
  }

  const audit = async () => relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER);

  it("guesses from ten addresses do not lock a clinician out of her enrolled workstation; new workstations wait; the admin sees it flagged", async () => {
    const cara = await enroll(relay, 'cara', now);
    for (let i = 0; i < 10; i++) expect(await guess('cara', `203.0.113.${i + 1}`)).toBe('INVALID_CREDENTIALS');

    // A new workstation, even with the right password and code, is paused (and only it learns why).
    now += 5 * 60_000;
    await expect(relay.accounts.login('cara', PASSWORD, currentTotp(cara.secret, now), { kind: 'new', name: 'Borrowed laptop', keys: await keys() }, { address: '10.1.0.9' }))
      .rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });
    // Her enrolled workstation signs in at once, even from an address a stranger used.
    now += 60_000;
    const session = await relay.accounts.login('cara', PASSWORD, currentTotp(cara.secret, now), existing(cara.session.deviceId), { address: '203.0.113.1', credential: cara.session.credential });
    expect(session.deviceId).toBe(cara.session.deviceId);
    await expect(relay.accounts.credentials.authenticate(session.credential)).resolves.toMatchObject({ address: { deviceId: cara.session.deviceId } });
    await expect(relay.accounts.credentials.authenticate(cara.session.credential)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

    const records = await audit();
    const caraId = session.userId;
    expect(records.filter((r) => r.flagged && r.subject === caraId).map((r) => r.type)).toEqual(['account.locked']);
    expect(records.filter((r) => r.type === 'login.failure' && r.subject === caraId)).toHaveLength(11); // ten guesses, and the paused new workstation
    expect(records.find((r) => r.type === 'account.unlocked' && r.subject === caraId)).toMatchObject({ actor: `${caraId}.${cara.session.deviceId}` });
  });

  it("a clinician's own mistakes at her workstation are throttled on that workstation, not by strangers' failures", async () => {
    const dee = await enroll(relay, 'dee', now);
    const workstation = { address: '10.1.0.2', credential: dee.session.credential };
    // Strangers push the account into its back-off: a stranger is THROTTLED now...
    for (let i = 0; i < 6; i++) await guess('dee', `203.0.113.${i + 1}`);
    await expect(relay.accounts.login('dee', 'wrong again', '000000', existing(1), { address: '203.0.113.99' })).rejects.toMatchObject({ code: 'THROTTLED' });
    // ...Dee is not: 50 concurrent mistakes from her workstation get three verdicts, then her own delay.
    const mine = await Promise.all(Array.from({ length: 50 }, (_, i) => outcome(relay.accounts.login('dee', `my typo ${i}`, '000000', existing(1), workstation))));
    expect(mine.filter((o) => o === 'INVALID_CREDENTIALS')).toHaveLength(3);
    expect(mine.filter((o) => o === 'THROTTLED')).toHaveLength(47);
    now += 31_000; // her delay (1 s), and a code of a later time step than the enrollment's
    await expect(relay.accounts.login('dee', PASSWORD, currentTotp(dee.secret, now), existing(1), workstation)).resolves.toMatchObject({ deviceId: 1 });
  });

  it('a guesser stays slow and is stopped after 100 failures in a row, until the clinician signs in at her workstation or an admin unlocks', async () => {
    const eve = await enroll(relay, 'eve', now);
    const started = now;
    // A patient guesser with many addresses (so no address slows them): exactly 100 verdicts...
    for (let i = 0; i < 100; i++) expect(await guess('eve', `198.51.${Math.floor(i / 250)}.${(i % 250) + 1}`)).toBe('INVALID_CREDENTIALS');
    // ...which took hours (at most a dozen guesses an hour once the delays reached five minutes).
    expect(now - started).toBeGreaterThan(7 * HOUR);
    // The hard stop: a new workstation with the right password and code is refused, however long it waits.
    now += 48 * HOUR;
    const newWorkstation = async () => relay.accounts.login('eve', PASSWORD, currentTotp(eve.secret, now), { kind: 'new', name: 'Clinic laptop', keys: await keys() }, { address: '10.1.0.3' });
    await expect(newWorkstation()).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });

    // The guesser's next guesses still get the same answer.
    expect(await guess('eve', '198.51.9.9')).toBe('INVALID_CREDENTIALS');
    const eveId = eve.session.userId;
    const flagged = (await audit()).filter((r) => r.flagged && r.subject === eveId);
    // One flagged record when the episode started (its first pause) and one when it stopped: not a flood.
    expect(flagged.map((r) => [r.type, r.details.consecutive, r.details.until === null])).toEqual([
      ['account.locked', 10, false],
      ['account.locked', 100, true],
    ]);

    // Eve signs in at her enrolled workstation: that lifts the stop for her new workstations too.
    now += 60_000;
    await relay.accounts.login('eve', PASSWORD, currentTotp(eve.secret, now), existing(1), { address: '10.1.0.4', credential: eve.session.credential });
    now += 60_000;
    await expect(newWorkstation()).resolves.toMatchObject({ userId: eveId });

    // Another stopped account is lifted by the admin's unlock.
    const fay = await enroll(relay, 'fay', now);
    for (let i = 0; i < 100; i++) await guess('fay', `198.51.20.${(i % 250) + 1}`);
    now += HOUR;
    await expect(relay.accounts.login('fay', PASSWORD, currentTotp(fay.secret, now), existing(1), { address: '10.1.0.5' })).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });
    await relay.accounts.unlock('fay');
    now += 60_000;
    await expect(relay.accounts.login('fay', PASSWORD, currentTotp(fay.secret, now), existing(1), { address: '10.1.0.5' })).resolves.toMatchObject({ deviceId: 1 });
  }, 120_000);

  it('a TOTP code is accepted once, even by two concurrent sign-ins (one at the workstation, one elsewhere)', async () => {
    const gus = await enroll(relay, 'gus', now);
    now += 60_000;
    const code = currentTotp(gus.secret, now);
    const results = await Promise.all([
      outcome(relay.accounts.login('gus', PASSWORD, code, existing(1), { address: '10.1.0.6', credential: gus.session.credential })),
      outcome(relay.accounts.login('gus', PASSWORD, code, { kind: 'new', name: 'Elsewhere', keys: await keys() }, { address: '10.1.0.7' })),
      outcome(relay.accounts.login('gus', PASSWORD, code, existing(1), { address: '10.1.0.8' })),
    ]);
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === 'INVALID_CREDENTIALS')).toHaveLength(2);
  });

  it('unknown, pending, locked and deactivated accounts answer a guess alike; the right password and code learn the state', async () => {
    const hal = await enroll(relay, 'hal', now);
    const ida = await enroll(relay, 'ida', now);
    const jon = await enroll(relay, 'jon', now);
    await relay.accounts.addUser('kat', 'Kat', 'clinician'); // pending
    await relay.store.updateUser(ida.session.userId, { lockedUntil: now + HOUR }, []);
    await relay.accounts.deactivate('jon');
    // Four guesses each, from one address per account: the same answers in the same order (the throttle included).
    const answers = async (username: string, n: number) => {
      const got: string[] = [];
      for (let i = 0; i < 5; i++) {
        got.push(await relay.accounts.login(username, `wrong guess ${i}`, '000000', existing(1), { address: `192.0.2.${n}` }).then(() => 'OK', (e: Error & { code: string; extra: { retryAfterMs?: number } }) => `${e.code} ${e.message} ${e.extra.retryAfterMs ?? ''}`));
      }
      return got;
    };
    const reference = await answers('hal', 1);
    expect(reference.at(-1)).toMatch(/^THROTTLED/);
    for (const [i, username] of ['ida', 'jon', 'kat', 'nobody'].entries()) expect(await answers(username, i + 2)).toEqual(reference);

    now += HOUR / 2;
    await expect(relay.accounts.login('ida', PASSWORD, currentTotp(ida.secret, now), existing(1), { address: '192.0.2.20' })).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });
    await expect(relay.accounts.login('jon', PASSWORD, currentTotp(jon.secret, now), existing(1), { address: '192.0.2.21' })).rejects.toMatchObject({ code: 'ACCOUNT_INACTIVE' });
    await expect(relay.accounts.login('hal', PASSWORD, currentTotp(hal.secret, now), existing(1), { address: '192.0.2.22' })).resolves.toMatchObject({ deviceId: 1 });
  });

  it('a refused device credential is audited once per device and episode, with a count; failed sign-ins to a pending account name it', async () => {
    const lou = await enroll(relay, 'lou', now);
    await relay.accounts.revokeDevice('lou', lou.session.deviceId);
    for (let i = 0; i < 25; i++) {
      now += 30_000; // a revoked workstation retrying every 30 s
      await expect(relay.accounts.credentials.authenticate(lou.session.credential, { address: '10.1.0.10' })).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    }
    const subject = `${lou.session.userId}.${lou.session.deviceId}`;
    const rejected = (await audit()).filter((r) => r.type === 'credential.rejected');
    expect(rejected.map((r) => [r.subject, r.actor, r.details.reason, r.details.count])).toEqual([
      [subject, 'anonymous@10.1.0.10', 'revoked', 1],
      [subject, 'anonymous@10.1.0.10', 'revoked', 10],
    ]);
    // After a quiet spell, a new episode.
    now += 2 * HOUR;
    await expect(relay.accounts.credentials.authenticate(lou.session.credential)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await audit()).filter((r) => r.type === 'credential.rejected')).toHaveLength(3);

    const { userId: pendingId } = await relay.accounts.addUser('max', 'Max', 'clinician');
    await expect(relay.accounts.login('max', 'a guess at a password', '000000', existing(1), { address: '10.1.0.11' })).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    expect((await audit()).filter((r) => r.type === 'login.failure').at(-1)).toMatchObject({ subject: pendingId });
  });

  it('a socket whose device credential a new sign-in replaced is cut off at once; the new credential\'s socket stays', async () => {
    const nia = await enroll(relay, 'nia', now);
    const ola = await enroll(relay, 'ola', now);
    const url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
    const pushedToOld: string[] = [];
    let oldClosed = false;
    const old = await new RelayClient(url, nia.session.credential).connect({ onEnvelope: (e) => pushedToOld.push(e.id), onClose: () => (oldClosed = true) });

    // Nia's workstation signs in again (after the policy's sign-out period): a new credential.
    now += 60_000;
    const signIn = new RelayClient(url, nia.session.credential);
    const session = await signIn.login('nia', PASSWORD, currentTotp(nia.secret, now), existing(nia.session.deviceId));
    await until(() => oldClosed, 'the old socket closed');

    const pushedToNew: string[] = [];
    const fresh = await signIn.connect({ onEnvelope: (e) => pushedToNew.push(e.id) });
    const sent = await relay.messages.send({ userId: ola.session.userId, deviceId: ola.session.deviceId }, [
      { id: crypto.randomUUID() as never, type: 'whisper', recipient: { userId: session.userId, deviceId: session.deviceId }, content: 'AAAA' },
    ]);
    await until(() => pushedToNew.length > 0, 'the envelope pushed to the new socket');
    expect(pushedToNew).toEqual(sent.accepted);
    expect(pushedToOld).toEqual([]);
    await fresh.close();
    await old.close();
  });
});

describe("the app's sign-in after a long lock, with strangers guessing (through the UI contract)", () => {
  let relay: RelayServer;
  let dir: string;
  let url: string;
  let relayNow: number;
  const dirs: string[] = [];
  const workstations: Workstation[] = [];
  const time = virtualScheduler(Date.now());
  const config: RelayConfig = { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } };

  beforeEach(async () => {
    relayNow = Date.UTC(2026, 10, 23, 9);
    ({ relay, dir } = relayWith(config, { now: () => relayNow }));
    url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  });

  afterEach(async () => {
    for (const w of workstations.splice(0)) await w.app.close();
    await relay.close();
    removeDir(dir);
    for (const d of dirs.splice(0)) removeDir(d);
  });

  function newWorkstation(): Workstation {
    dirs.push(tempDataDir());
    const workstation = new Workstation(dirs.at(-1)!, { scheduler: time, policy: DEFAULT_POLICY });
    workstations.push(workstation);
    return workstation;
  }

  /** A workstation enrolled through the contract, locked for longer than the sign-out period. */
  async function signedOutWorkstation(username: string): Promise<{ workstation: Workstation; profileId: string; secret: string }> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Dr. ${username}`, 'clinician');
    const workstation = newWorkstation();
    const begin = await workstation.call('enroll.begin', { relayUrl: url, username, enrollmentCode });
    const state = await workstation.call('enroll.complete', { enrollmentId: begin.enrollmentId, password: APP_PASSWORD, passphrase: PASSPHRASE, totpCode: currentTotp(begin.totpSecret, relayNow), deviceName: 'Ward 4 workstation' });
    const profileId = state.phase === 'unlocked' ? state.profile.id : '';
    await workstation.call('session.lock', {});
    time.advance(DEFAULT_POLICY.signOutAfterLockedHours * HOUR + 5_000);
    await until(async () => { const s = await workstation.call('session.state', {}); return s.phase === 'locked' && s.signInRequired; }, 'the sign-out');
    return { workstation, profileId, secret: begin.totpSecret };
  }

  /** Ten strangers' guesses, each waiting as long as the relay says (in the relay's virtual time). */
  async function strangersGuess(username: string): Promise<void> {
    for (let verdicts = 0, i = 0; verdicts < 10; i++) {
      try {
        await relay.accounts.login(username, 'a stranger\'s guess', '000000', existing(1), { address: `203.0.113.${i + 1}` });
      } catch (error) {
        const failure = error as { code: string; extra: { retryAfterMs?: number } };
        if (failure.code === 'INVALID_CREDENTIALS') verdicts++;
        else relayNow += failure.extra.retryAfterMs ?? 1000;
      }
    }
    relayNow += 5 * 60_000;
  }

  it("signs in at her enrolled workstation although strangers locked her account; a new workstation is told it is locked", async () => {
    const { workstation, profileId, secret } = await signedOutWorkstation('ruth');
    await strangersGuess('ruth');
    const borrowed = newWorkstation();
    const refused = await borrowed.fails('account.addDevice', { relayUrl: url, username: 'ruth', password: APP_PASSWORD, totpCode: currentTotp(secret, relayNow), passphrase: PASSPHRASE, deviceName: 'Borrowed laptop' });
    expect(refused.code).toBe('ACCOUNT_LOCKED');

    relayNow += 60_000;
    await workstation.call('profile.signIn', { profileId, passphrase: PASSPHRASE, password: APP_PASSWORD, totpCode: currentTotp(secret, relayNow) });
    await until(() => workstation.online(), 'online with the new credential');
  });

  it('tells a clinician who typed the right password and code that her account is deactivated, and a wrong guess only that it is wrong', async () => {
    const { workstation, profileId, secret } = await signedOutWorkstation('sara');
    await relay.accounts.deactivate('sara');
    relayNow += 60_000;
    expect((await workstation.fails('profile.signIn', { profileId, passphrase: PASSPHRASE, password: 'not the password at all', totpCode: currentTotp(secret, relayNow) })).code).toBe('INVALID_CREDENTIALS');
    relayNow += 60_000;
    expect((await workstation.fails('profile.signIn', { profileId, passphrase: PASSPHRASE, password: APP_PASSWORD, totpCode: currentTotp(secret, relayNow) })).code).toBe('ACCOUNT_INACTIVE');
  });
});
