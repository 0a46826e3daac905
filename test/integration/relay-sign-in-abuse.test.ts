import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import type { DeviceId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { SessionResponse } from '../../shared/wire/relay';
import { DEFAULT_THROTTLE, addressScope, usernameScope } from '../../server/auth/LoginThrottle';
import { checkPasswordPolicy } from '../../server/auth/passwords';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import type { Clock } from '../../server/Clock';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { oneHashMs } from '../fixtures/argon2Timing';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * The adversarial review of issue 13's sign-in work: what a stranger sharing the clinicians' address, or
 * an insider with many workstations, could still do to everyone else's sign-in, and what one enrollment
 * code or a flood of emergency-code guesses could make the relay do. Virtual time, real Argon2.
 */

const PASSWORD = 'correct horse battery staple 7';
/** A ward's NAT: the clinicians and the stranger all come from it. */
const WARD = '10.20.0.1';

async function keys(): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
}

const existing = (deviceId: number) => ({ kind: 'existing' as const, deviceId: deviceId as DeviceId });
const outcome = (promise: Promise<unknown>) => promise.then(() => 'OK', (e: { code?: string }) => e.code ?? String(e));

describe('sign-in abuse (virtual time)', () => {
  let relay: RelayServer;
  let dir: string;
  let now: number;

  function start(config: RelayConfig): void {
    now = Date.UTC(2026, 11, 2, 9);
    dir = tempDataDir();
    const clock: Clock = { now: () => now };
    relay = new RelayServer(openStore(dir, clock), config, clock, () => undefined);
  }

  beforeEach(() => start({ ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } }));

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  /** Enrolls a clinician from her own address; returns her TOTP secret and first workstation's session. */
  async function enroll(username: string, address = '10.1.0.1'): Promise<{ secret: string; session: SessionResponse }> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
    const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, { address });
    const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward 4 workstation', keys: await keys() }, { address });
    return { secret: begin.totpSecret, session };
  }

  /** A code of the next time step: accepted, and later than the one the last sign-in used. */
  const nextCode = (secret: string) => currentTotp(secret, now + 30_000);

  /**
   * A stranger at `address` guesses at made-up names, without waiting, until the address itself must wait:
   * its free failures are used up (and the clock stands still, so it keeps waiting).
   */
  async function throttleAddress(address: string): Promise<void> {
    for (let i = 0; i < DEFAULT_THROTTLE.addressFreeFailures; i++) {
      expect(await outcome(relay.accounts.login(`made-up-${i}`, 'a wrong guess', '000000', existing(1), { address }))).toBe('INVALID_CREDENTIALS');
    }
    expect(await relay.store.loginFailures(addressScope(address), 0)).toHaveLength(DEFAULT_THROTTLE.addressFreeFailures);
  }

  it("a stranger keeping the ward's address throttled does not hold up a clinician with her code: a new workstation, an emergency code, an enrollment", async () => {
    const vera = await enroll('vera');
    await throttleAddress(WARD);

    // Vera, from the same address, adds a workstation with her password and a fresh code.
    const added = await relay.accounts.login('vera', PASSWORD, nextCode(vera.secret), { kind: 'new', name: 'Ward 5 workstation', keys: await keys() }, { address: WARD });
    expect(added.userId).toBe(vera.session.userId);
    // The stranger's guesses there are refused after a few per name, whatever the code.
    const again = [];
    for (let i = 0; i < 4; i++) again.push(await outcome(relay.accounts.login('made-up-again', 'a wrong guess', '000000', existing(1), { address: WARD })));
    expect(again).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'THROTTLED']);

    // The stranger guesses emergency codes until those are throttled at the address too (20 counted), then
    // goes on naming Vera herself (80-bit codes: checked, uncounted, however many)...
    const device = { name: 'Ward PC', keys: await keys() };
    for (let i = 0; i < 20; i++) expect(await outcome(relay.accounts.emergencyLogin('someone', 'AAAA-BBBB-CCCC-DDDD', device, { address: WARD }))).toBe('INVALID_CODE');
    for (let i = 0; i < 10; i++) expect(await outcome(relay.accounts.emergencyLogin('vera', 'AAAA-BBBB-CCCC-DDDD', device, { address: WARD }))).toBe('INVALID_CODE');
    // ...and Vera still uses the code her administrator just issued, from there (break-glass cannot be blocked).
    const { code } = await relay.accounts.issueEmergency('vera', 'workstation stolen from the ward');
    await expect(relay.accounts.emergencyLogin('vera', code, device, { address: WARD })).resolves.toMatchObject({ userId: vera.session.userId });

    // Wrong enrollment codes naming the new hire, from the ward, hear the usual answer (not counted); she
    // enrolls from the ward at once with hers.
    for (let i = 0; i < 10; i++) expect(await outcome(relay.accounts.beginEnrollment('wes', 'AAAA-BBBB-CCCC-DDDD', { address: WARD }))).toBe('INVALID_CODE');
    const { enrollmentCode } = await relay.accounts.addUser('wes', 'Wes W', 'clinician');
    for (let i = 0; i < 10; i++) expect(await outcome(relay.accounts.beginEnrollment('wes', 'AAAA-BBBB-CCCC-DDDD', { address: WARD }))).toBe('INVALID_CODE');
    const begin = await relay.accounts.beginEnrollment('wes', enrollmentCode, { address: WARD });
    await expect(relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward PC', keys: await keys() }, { address: WARD }))
      .resolves.toMatchObject({ deviceId: 1 });
  });

  it('a throttled address cannot try one-time codes for free: a few checks per account, known or not, then THROTTLED whatever the code', async () => {
    const uma = await enroll('uma');
    await throttleAddress(WARD);
    // Three checks per name from the throttled address, answered as from anywhere...
    for (const username of ['uma', 'nobody-here']) {
      for (let i = 0; i < 3; i++) expect(await outcome(relay.accounts.login(username, 'a wrong guess', String(100_000 + i), existing(1), { address: WARD }))).toBe('INVALID_CREDENTIALS');
    }
    // ...then THROTTLED without the code being looked at: Uma's own valid code as well, alike for both names.
    const answer = (username: string, code: string) => relay.accounts.login(username, 'a wrong guess', code, existing(1), { address: WARD })
      .then(() => 'OK', (e: { code: string; extra: { retryAfterMs?: number } }) => `${e.code} ${e.extra.retryAfterMs ?? ''}`);
    const umaAnswer = await answer('uma', '123456');
    expect(umaAnswer).toMatch(/^THROTTLED \d+$/);
    expect(await answer('uma', nextCode(uma.secret))).toBe(umaAnswer);
    expect(await answer('nobody-here', '123456')).toBe(umaAnswer);
    // None of it was counted: from another address, Uma's account has all its free attempts (and she gets in).
    expect(await outcome(relay.accounts.login('uma', 'a wrong guess', '000000', existing(1), { address: '10.30.0.1' }))).toBe('INVALID_CREDENTIALS');
    expect(await outcome(relay.accounts.login('uma', PASSWORD, nextCode(uma.secret), { kind: 'new', name: 'Laptop', keys: await keys() }, { address: '10.30.0.3' }))).toBe('OK');
  });

  it('from an address that must wait, a wrong code and a valid one (with a wrong password) get the same answer', async () => {
    const uma = await enroll('uma');
    await throttleAddress(WARD);
    const fromWard = (code: string) => outcome(relay.accounts.login('uma', 'not her password at all', code, existing(1), { address: WARD }));
    expect([await fromWard('000000'), await fromWard(nextCode(uma.secret))]).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS']);
  });

  it('an address that must wait cannot fill the audit log or the store: 1,200 guesses at 300 made-up names are one audit episode and no rows', async () => {
    await throttleAddress(WARD);
    const before = (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).length;
    const answers: string[][] = [];
    for (let i = 0; i < 300; i++) {
      const forName: string[] = [];
      for (let k = 0; k < 4; k++) forName.push(await outcome(relay.accounts.login(`ghost-${i}`, 'a wrong guess', '000000', existing(1), { address: WARD })));
      answers.push(forName);
    }
    // Each made-up name gets its three checks, like any account, then THROTTLED (two names may share a
    // budget, which only ever spends it sooner)...
    const checks = (forName: string[]) => forName.filter((a) => a === 'INVALID_CREDENTIALS').length;
    for (const forName of answers) expect(forName).toEqual([...Array<string>(checks(forName)).fill('INVALID_CREDENTIALS'), ...Array<string>(4 - checks(forName)).fill('THROTTLED')]);
    expect(answers.map(checks).reduce((a, b) => a + b)).toBeGreaterThan(850);
    expect(Math.max(...answers.map(checks))).toBe(3);
    // ...and the address's refusals are one episode: its 1st, 10th, 100th and 1,000th, with the count.
    const added = (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).slice(before);
    expect(added.map((r) => [r.type, r.actor, r.subject, r.details.count])).toEqual([1, 10, 100, 1000].map((count) => ['login.throttled', `anonymous@${WARD}`, '', count]));
    // Nothing was counted: no failure rows for the names, none more for the address.
    for (let i = 0; i < 300; i++) expect(await relay.store.loginFailures(usernameScope(`ghost-${i}`), 0)).toEqual([]);
    expect(await relay.store.loginFailures(addressScope(WARD), 0)).toHaveLength(DEFAULT_THROTTLE.addressFreeFailures);
  });

  it('one address guessing at twelve accounts for an hour, as fast as the relay lets it, is held to its own pace and cannot pause them all', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `nurse${i}`);
    const secrets = new Map<string, string>();
    for (const name of names) secrets.set(name, (await enroll(name)).secret);
    const started = now;
    const next = new Map(names.map((name) => [name, now]));
    let attempts = 0;
    while (now - started < 3600_000) {
      // The account the relay lets the stranger try soonest, as soon as it may.
      const [name, at] = [...next].sort((a, b) => a[1] - b[1])[0]!;
      now = Math.max(now, at);
      attempts++;
      const answer = await relay.accounts.login(name, 'a wrong guess at the password', '000000', existing(1), { address: '203.0.113.66' })
        .then(() => 'OK', (e: { code: string; extra: { retryAfterMs?: number } }) => (e.code === 'THROTTLED' ? e.extra.retryAfterMs ?? 1000 : 0));
      expect(answer).not.toBe('OK');
      next.set(name, now + Number(answer) + 1);
    }
    expect(attempts).toBeGreaterThan(1000);
    const records = await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER);
    // Only its attempts while the address was free to try were counted: its 20 free failures, then one
    // each time its delay (at most 30 s) ran out; never more than 55 in any 15 minutes, across all accounts.
    const counted = records.filter((r) => r.type === 'login.failure' && r.actor === 'anonymous@203.0.113.66').map((r) => r.at);
    expect(Math.max(...counted.map((at) => counted.filter((t) => t >= at && t < at + 15 * 60_000).length))).toBeLessThanOrEqual(55);
    // A pause takes ten failures at one account within 15 minutes: a few accounts at most, not every one.
    const paused = new Set(records.filter((r) => r.type === 'account.locked').map((r) => r.subject));
    expect(paused.size).toBeLessThan(names.length / 2);
    // Each nurse not paused right now adds a workstation from her own address once her account's delay (at
    // most 5 minutes) has passed.
    now += 5 * 60_000;
    for (const [i, name] of names.entries()) {
      const pausedNow = ((await relay.store.userByUsername(name))!.lockedUntil ?? 0) > now;
      const added = await outcome(relay.accounts.login(name, PASSWORD, currentTotp(secrets.get(name)!, now), { kind: 'new', name: 'Laptop', keys: await keys() }, { address: `10.1.1.${i + 1}` }));
      expect(added).toBe(pausedNow ? 'ACCOUNT_LOCKED' : 'OK');
    }
  }, 60_000);

  it('the failure that pauses an account is one write, as a failure at a made-up name is (no second fsync tells them apart)', async () => {
    // Each store write is a transaction and an fsync (synchronous = FULL): counted instead of timed.
    const writes: string[] = [];
    await relay.close();
    removeDir(dir);
    dir = tempDataDir();
    const counted = new Proxy(openStore(dir, { now: () => now }), {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (typeof property === 'string' && /^(record|update|append|claim|clear|replace|add|create|touch|useEmergency)/.test(property)) writes.push(property);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    relay = new RelayServer(counted, { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } }, { now: () => now }, () => undefined);
    await enroll('cara');
    /** Ten guesses at `username`, each from an address of its own and after the delay the relay asks for; the writes of the tenth. */
    const tenthWrites = async (username: string, network: string): Promise<string[]> => {
      for (let i = 0; ; ) {
        const mark = writes.length;
        const failure = await relay.accounts.login(username, 'a wrong guess', '000000', existing(1), { address: `${network}.${i + 1}` }).then(() => undefined, (e: { code: string; extra: { retryAfterMs?: number } }) => e);
        if (failure?.code === 'THROTTLED') {
          now += failure.extra.retryAfterMs ?? 1000;
          continue;
        }
        expect(failure?.code).toBe('INVALID_CREDENTIALS');
        if (++i === 10) return writes.slice(mark);
      }
    };
    const atCara = await tenthWrites('cara', '198.51.100');
    expect((await relay.store.userByUsername('cara'))!.lockedUntil).toBeGreaterThan(now);
    expect(atCara).toEqual(await tenthWrites('nobody-called-this', '198.51.101'));
    expect(atCara).toEqual(['recordLoginFailure']);
  });

  it('a burst of concurrent wrong enrollment codes from one address is counted one by one: 20 failures, then it must wait', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, () => outcome(relay.accounts.beginEnrollment('nobody', 'AAAA-BBBB-CCCC-DDDD', { address: WARD }))));
    expect(answers.every((a) => a === 'INVALID_CODE')).toBe(true);
    expect(await relay.store.loginFailures(addressScope(WARD), 0)).toHaveLength(DEFAULT_THROTTLE.addressFreeFailures);
    const audited = (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.actor === `anonymous@${WARD}`);
    expect(audited.length).toBeLessThan(DEFAULT_THROTTLE.addressFreeFailures + 5);
  });

  it('the addresses of one IPv6 /64 (and an IPv4 address written as IPv6) are one address to the throttle', async () => {
    for (let i = 0; i < DEFAULT_THROTTLE.addressFreeFailures; i++) {
      expect(await outcome(relay.accounts.beginEnrollment('nobody', 'AAAA-BBBB-CCCC-DDDD', { address: `2001:db8:5:7::${(i + 1).toString(16)}` }))).toBe('INVALID_CODE');
    }
    expect(await relay.store.loginFailures(addressScope('2001:db8:5:7:ffff::1'), 0)).toHaveLength(DEFAULT_THROTTLE.addressFreeFailures);
    expect(await relay.store.loginFailures(addressScope('2001:db8:5:8::1'), 0)).toHaveLength(0);
    expect(addressScope('::ffff:192.0.2.7')).toBe(addressScope('192.0.2.7'));
    expect(addressScope('2001:0db8:0005:0007:0:0:0:1')).toBe(addressScope('2001:db8:5:7::99'));
  });

  it("an insider's workstations cannot push a colleague's sign-in to the back of the hashing line", async () => {
    const vera = await enroll('vera');
    // Mallory enrolls ten workstations (one sign-in per time step).
    const mallory = await enroll('mallory');
    const workstations = [mallory.session];
    while (workstations.length < 10) {
      now += 30_000;
      workstations.push(await relay.accounts.login('mallory', PASSWORD, currentTotp(mallory.secret, now), { kind: 'new', name: `M${workstations.length}`, keys: await keys() }, { address: '10.40.0.1' }));
    }
    now += 30_000;
    const veraKeys = await keys();
    // From all ten at once, wrong passwords with her valid code, each workstation until it must wait.
    const order: string[] = [];
    const code = currentTotp(mallory.secret, now);
    const flood = workstations.map(async (session) => {
      for (;;) {
        const answer = await outcome(relay.accounts.login('mallory', 'not my password at all', code, existing(session.deviceId), { address: '10.40.0.1', credential: session.credential }));
        if (answer !== 'INVALID_CREDENTIALS') return;
        order.push('mallory');
      }
    });
    // Vera adds a workstation as soon as the first of Mallory's checks is answered (all ten are in line by then).
    while (order.length === 0) await new Promise((r) => setTimeout(r, 1));
    const colleague = outcome(relay.accounts.login('vera', PASSWORD, currentTotp(vera.secret, now), { kind: 'new', name: 'Ward 6 workstation', keys: veraKeys }, { address: '10.1.0.2' }))
      .then((answer) => order.push(`vera ${answer}`));
    await Promise.all([...flood, colleague]);

    expect(order.filter((o) => o === 'mallory')).toHaveLength(30); // three each, then each workstation waits
    // Vera waited for at most a couple of Mallory's checks, not for all of them.
    expect(order.indexOf('vera OK')).toBeGreaterThan(0);
    expect(order.indexOf('vera OK')).toBeLessThanOrEqual(4);
  });

  it('wrong emergency codes from 50 addresses are audited per account and episode: flagged once, then counted', async () => {
    const vera = await enroll('vera');
    const device = { name: 'Ward PC', keys: await keys() };
    for (let a = 0; a < 50; a++) {
      for (let i = 0; i < 10; i++) {
        const username = i % 2 === 1 ? 'vera' : `nobody-${a}-${i}`;
        expect(await outcome(relay.accounts.emergencyLogin(username, 'AAAA-BBBB-CCCC-DDDD', device, { address: `198.18.7.${a + 1}` }))).toBe('INVALID_CODE');
      }
    }
    const records = (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === 'login.failure' && r.details.reason === 'emergency code');
    const veraId = vera.session.userId;
    // 250 guesses each at Vera and at unknown names: the 1st (flagged), 10th and 100th of each episode.
    expect(records.map((r) => [r.subject, r.details.count, r.flagged])).toEqual([
      ['', 1, true], [veraId, 1, true],
      ['', 10, false], [veraId, 10, false],
      ['', 100, false], [veraId, 100, false],
    ]);
    // The code an administrator issues still works at once.
    const { code } = await relay.accounts.issueEmergency('vera', 'locked out on night shift');
    await expect(relay.accounts.emergencyLogin('vera', code, device, { address: '198.18.7.1' })).resolves.toMatchObject({ userId: veraId });
  });
});

describe('one enrollment code cannot keep the relay hashing (real Argon2 defaults)', () => {
  let relay: RelayServer;
  let dir: string;
  let now: number;

  beforeEach(() => {
    now = Date.UTC(2026, 11, 2, 9);
    dir = tempDataDir();
    const clock: Clock = { now: () => now };
    relay = new RelayServer(openStore(dir, clock), DEFAULT_CONFIG, clock, () => undefined);
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  it('an enrollment with incomplete device keys is refused before the password is hashed, and counted', async () => {
    const hashMs = await oneHashMs();
    await checkPasswordPolicy(PASSWORD, []); // the blocklist is loaded once, before anything is timed
    const { enrollmentCode } = await relay.accounts.addUser('newt', 'Newt N', 'clinician');
    const begin = await relay.accounts.beginEnrollment('newt', enrollmentCode, { address: '10.1.0.1' });
    const full = await keys();
    const incomplete: KeyUpload = { identityKey: full.identityKey, registrationId: full.registrationId, preKeys: [], kyberPreKeys: [] }; // no signed prekey

    const answers: string[] = [];
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      answers.push(await outcome(relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'x', keys: incomplete }, { address: '10.1.0.1' })));
      times.push(performance.now() - t);
    }
    // Three refusals, each without a password hash, then the enrollment must wait like any other run of failures.
    expect(answers).toEqual([...Array.from({ length: 3 }, () => 'BAD_REQUEST'), ...Array.from({ length: 7 }, () => 'THROTTLED')]);
    expect(Math.max(...times), `times ${times.map((t) => t.toFixed(0)).join(', ')} ms; one hash ${hashMs.toFixed(0)} ms`).toBeLessThan(hashMs / 2);

    // The new hire's own app, with complete keys, enrolls once the delay has passed.
    now += 60_000;
    await expect(relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward PC', keys: full }, { address: '10.1.0.1' }))
      .resolves.toMatchObject({ deviceId: 1 });
  }, 60_000);
});
