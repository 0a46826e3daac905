import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import type { DeviceId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { SessionResponse } from '../../shared/wire/relay';
import { DEFAULT_ARGON2, checkPasswordPolicy } from '../../server/auth/passwords';
import { currentTotp } from '../../server/auth/totp';
import type { Clock } from '../../server/Clock';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer, openStore } from '../../server/RelayServer';
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

  /** A stranger at `address` guesses at made-up names, without waiting, until the address itself must wait. */
  async function throttleAddress(address: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await outcome(relay.accounts.login(`made-up-${i}`, 'a wrong guess', '000000', existing(1), { address }))) === 'THROTTLED') return;
    }
    throw new Error(`${address} was never throttled`);
  }

  it("a stranger keeping the ward's address throttled does not hold up a clinician with her code: a new workstation, an emergency code, an enrollment", async () => {
    const vera = await enroll('vera');
    await throttleAddress(WARD);

    // Vera, from the same address, adds a workstation with her password and a fresh code.
    const added = await relay.accounts.login('vera', PASSWORD, nextCode(vera.secret), { kind: 'new', name: 'Ward 5 workstation', keys: await keys() }, { address: WARD });
    expect(added.userId).toBe(vera.session.userId);
    // The stranger's wrong guesses are still throttled there.
    expect(await outcome(relay.accounts.login('made-up-again', 'a wrong guess', '000000', existing(1), { address: WARD }))).toBe('THROTTLED');

    // The stranger guesses emergency codes until those are throttled at the address too...
    const device = { name: 'Ward PC', keys: await keys() };
    for (let i = 0; i < 21; i++) await outcome(relay.accounts.emergencyLogin('someone', 'AAAA-BBBB-CCCC-DDDD', device, { address: WARD }));
    expect(await outcome(relay.accounts.emergencyLogin('someone', 'AAAA-BBBB-CCCC-DDDD', device, { address: WARD }))).toBe('THROTTLED');
    // ...and Vera uses the code her administrator just issued, from there.
    const { code } = await relay.accounts.issueEmergency('vera', 'workstation stolen from the ward');
    await expect(relay.accounts.emergencyLogin('vera', code, device, { address: WARD })).resolves.toMatchObject({ userId: vera.session.userId });

    // A wrong enrollment code from the ward must wait; a new hire with hers enrolls from the ward at once.
    expect(await outcome(relay.accounts.beginEnrollment('wes', 'AAAA-BBBB-CCCC-DDDD', { address: WARD }))).toBe('THROTTLED');
    const { enrollmentCode } = await relay.accounts.addUser('wes', 'Wes W', 'clinician');
    const begin = await relay.accounts.beginEnrollment('wes', enrollmentCode, { address: WARD });
    await expect(relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'Ward PC', keys: await keys() }, { address: WARD }))
      .resolves.toMatchObject({ deviceId: 1 });
  });

  it('a throttled address cannot try one-time codes for free: each wrong code still counts against the account it names, known or not', async () => {
    const uma = await enroll('uma');
    await throttleAddress(WARD);
    // Refused because of the address, but not for free...
    for (const username of ['uma', 'nobody-here']) {
      for (let i = 0; i < 3; i++) expect(await outcome(relay.accounts.login(username, 'a wrong guess', String(100_000 + i), existing(1), { address: WARD }))).toBe('THROTTLED');
    }
    // ...each counted: from a fresh address, both names must now wait, alike (no hint of who exists).
    const fresh = (username: string, address: string) => relay.accounts.login(username, 'a wrong guess', '000000', existing(1), { address })
      .then(() => 'OK', (e: { code: string; extra: { retryAfterMs?: number } }) => `${e.code} ${e.extra.retryAfterMs ?? ''}`);
    const umaAnswer = await fresh('uma', '10.30.0.1');
    expect(umaAnswer).toMatch(/^THROTTLED \d+$/);
    expect(await fresh('nobody-here', '10.30.0.2')).toBe(umaAnswer);
    // A valid code waits on the account as well: the right code among guesses does not slip through.
    expect(await outcome(relay.accounts.login('uma', PASSWORD, nextCode(uma.secret), { kind: 'new', name: 'Laptop', keys: await keys() }, { address: '10.30.0.3' }))).toBe('THROTTLED');
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
    checkPasswordPolicy(PASSWORD, []); // the blocklist is loaded once, before anything is timed
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
