import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import type { KeyUpload } from '../../shared/wire/keys';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { until } from '../fixtures/workstation';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { RelayClient, type RelayConnection } from '../../main/core/messaging/RelayClient';
import type { EnvelopeId } from '../../shared/ids';

const DAY = 24 * 3600_000;
const PASSWORD = 'correct horse battery staple 7';
const caller = { address: '127.0.0.1' };

async function keys(): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload();
}

describe('accounts (in process, virtual time)', () => {
  let dir: string;
  let now: number;
  let relay: RelayServer;
  const config: RelayConfig = { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 } };

  beforeEach(() => {
    dir = tempDataDir();
    now = Date.UTC(2026, 10, 23, 9);
    const clock = { now: () => now };
    relay = new RelayServer(openStore(dir, clock), config, clock, () => undefined);
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  /** Enrolls a user; returns the TOTP secret. */
  async function enroll(username: string): Promise<string> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
    const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, caller);
    await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'ws', keys: await keys() }, caller);
    return begin.totpSecret;
  }

  it('enrollment codes work once, for their own username, before they expire', async () => {
    const { enrollmentCode } = await relay.accounts.addUser('gina', 'Gina', 'clinician');
    await expect(relay.accounts.beginEnrollment('someone', enrollmentCode, caller)).rejects.toMatchObject({ code: 'INVALID_CODE' });
    // Lower case and no dashes: typed from paper, it still works.
    const begin = await relay.accounts.beginEnrollment('gina', enrollmentCode.toLowerCase().replaceAll('-', ''), caller);
    expect(begin.totpUri).toMatch(/^otpauth:\/\/totp\/Rounds:gina\?/);
    await expect(relay.accounts.completeEnrollment(begin.enrollmentId, 'password1234', currentTotp(begin.totpSecret, now), { name: 'ws', keys: await keys() }, caller))
      .rejects.toMatchObject({ code: 'PASSWORD_POLICY', extra: { issues: [expect.stringContaining('commonly used')] } });
    await expect(relay.accounts.completeEnrollment(begin.enrollmentId, 'short', currentTotp(begin.totpSecret, now), { name: 'ws', keys: await keys() }, caller))
      .rejects.toMatchObject({ code: 'PASSWORD_POLICY', extra: { issues: expect.arrayContaining([expect.stringContaining('at least 12')]) } });
    await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'ws', keys: await keys() }, caller);
    await expect(relay.accounts.beginEnrollment('gina', enrollmentCode, caller)).rejects.toMatchObject({ code: 'INVALID_CODE' });

    const late = await relay.accounts.addUser('hal', 'Hal', 'clinician');
    now += 8 * DAY;
    await expect(relay.accounts.beginEnrollment('hal', late.enrollmentCode, caller)).rejects.toMatchObject({ code: 'INVALID_CODE' });
  });

  it('a TOTP code is accepted once', async () => {
    const secret = await enroll('ivy');
    now += 60_000;
    const code = currentTotp(secret, now);
    await relay.accounts.login('ivy', PASSWORD, code, { kind: 'existing', deviceId: 1 as never }, caller);
    await expect(relay.accounts.login('ivy', PASSWORD, code, { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });

  it('emergency access: mandatory reason, time-limited, flagged in the audit log, and it lifts a lockout', async () => {
    const secret = await enroll('jo');
    await expect(relay.accounts.issueEmergency('jo', '  ')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    // Jo is locked out: ten failures within 15 minutes, each after the throttle's delay.
    for (let i = 0; i < 10; i++) {
      now += 70_000;
      await expect(relay.accounts.login('jo', `wrong ${i} password here`, '000000', { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    }
    // The lock is told only to someone who proves password and code (a guess cannot tell it apart).
    await expect(relay.accounts.login('jo', PASSWORD, '000000', { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'THROTTLED' });
    now += 5 * 60_000;
    await expect(relay.accounts.login('jo', PASSWORD, '000000', { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
    now += 5 * 60_000;
    await expect(relay.accounts.login('jo', PASSWORD, currentTotp(secret, now), { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'ACCOUNT_LOCKED' });
    const { code, expiresAt } = await relay.accounts.issueEmergency('jo', 'lost phone with authenticator, night shift ICU');
    expect(expiresAt - now).toBe(3600_000);
    const session = await relay.accounts.emergencyLogin('jo', code, { name: 'Emergency workstation', keys: await keys() }, caller);
    expect(session.expiresAt).toBe(expiresAt);
    await expect(relay.accounts.credentials.authenticate(session.credential)).resolves.toMatchObject({ address: { deviceId: session.deviceId } });
    // The code works once; the sign-in ends by itself.
    await expect(relay.accounts.emergencyLogin('jo', code, { name: 'again', keys: await keys() }, caller)).rejects.toMatchObject({ code: 'INVALID_CODE' });
    now = expiresAt + 1;
    await expect(relay.accounts.credentials.authenticate(session.credential)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    const audit = await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER);
    expect(audit.filter((r) => r.type.startsWith('emergency.')).map((r) => [r.type, r.flagged, r.details.reason])).toEqual([
      ['emergency.issued', true, 'lost phone with authenticator, night shift ICU'],
      ['emergency.used', true, 'lost phone with authenticator, night shift ICU'],
    ]);
    expect(audit.some((r) => r.type === 'account.locked' && r.flagged)).toBe(true);
    expect((await relay.store.checkAuditChain()).ok).toBe(true);
  });

  it('deactivates accounts unused for 90 days, deletes queued envelopes past retention, and audits both', async () => {
    await enroll('kim');
    await enroll('lee');
    const kim = (await relay.store.userByUsername('kim'))!;
    const lee = (await relay.store.userByUsername('lee'))!;
    await relay.messages.send({ userId: kim.id, deviceId: 1 as never }, [{ id: crypto.randomUUID() as never, type: 'whisper', recipient: { userId: lee.id, deviceId: 1 as never }, content: 'AAAA' }]);
    now += 31 * DAY;
    await relay.store.touchDevice(lee.id, 1 as never, now);
    await relay.housekeeping();
    expect(await relay.store.queued({ userId: lee.id, deviceId: 1 as never }, 0, 10)).toEqual([]);
    now += 60 * DAY; // kim: 91 days without activity; lee: 60
    await relay.housekeeping();
    expect((await relay.store.userByUsername('kim'))!.status).toBe('deactivated');
    expect((await relay.store.userByUsername('lee'))!.status).toBe('active');
    const types = (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).map((r) => r.type);
    expect(types).toContain('envelope.expired');
    expect(types).toContain('account.inactive');
    // An admin can bring the account back.
    await relay.accounts.reactivate('kim');
    expect((await relay.store.userByUsername('kim'))!.status).toBe('active');
  });

  it('50 concurrent wrong passwords are verified one at a time: at most 10 guesses, one lockout', async () => {
    await enroll('max');
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      relay.accounts.login('max', `wrong guess number ${i}`, '000000', { kind: 'existing', deviceId: 1 as never }, caller).then(() => 'OK', (e: { code: string }) => e.code)));
    expect(outcomes).not.toContain('OK');
    const audit = await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER);
    // Each guess is a verdict (the code is checked first: these wrong ones cost no password hash).
    const guesses = audit.filter((r) => r.type === 'login.failure');
    expect(guesses.length).toBeLessThanOrEqual(3); // the throttle delays the 4th guess beyond this burst
    expect(outcomes.filter((o) => o === 'INVALID_CREDENTIALS')).toHaveLength(guesses.length);
    // Over time, still no more than 10 guesses before the lock, and one lock record.
    for (let round = 0; round < 40; round++) {
      now += 10_000;
      await Promise.all(Array.from({ length: 10 }, () => relay.accounts.login('max', 'another wrong guess', '000000', { kind: 'existing', deviceId: 1 as never }, caller).catch(() => undefined)));
    }
    const after = await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER);
    const lock = after.filter((r) => r.type === 'account.locked');
    expect(lock).toHaveLength(1);
    expect(after.filter((r) => r.type === 'login.failure' && r.seq < lock[0]!.seq).length).toBe(10);
  });

  it('a TOTP code used once is refused again, even after the relay restarts', async () => {
    const secret = await enroll('nia');
    now += 60_000;
    const code = currentTotp(secret, now);
    await relay.accounts.login('nia', PASSWORD, code, { kind: 'existing', deviceId: 1 as never }, caller);
    await relay.close();
    const clock = { now: () => now };
    relay = new RelayServer(openStore(dir, clock), config, clock, () => undefined);
    await expect(relay.accounts.login('nia', PASSWORD, code, { kind: 'existing', deviceId: 1 as never }, caller)).rejects.toMatchObject({ code: 'INVALID_CREDENTIALS' });
  });

  it('an open socket stops working when its emergency sign-in expires or its device is revoked', async () => {
    await enroll('oz');
    const { code } = await relay.accounts.issueEmergency('oz', 'lost phone');
    const session = await relay.accounts.emergencyLogin('oz', code, { name: 'Emergency', keys: await keys() }, caller);
    const url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
    const client = new RelayClient(url, session.credential);
    let closed = false;
    const connection = await client.connect({ onEnvelope: () => undefined, onClose: () => (closed = true) });
    const ping = () => connection.send([{ id: crypto.randomUUID() as never, type: 'whisper', recipient: { userId: session.userId, deviceId: 1 as never }, content: 'AAAA' }]);
    await expect(ping()).resolves.toMatchObject({ accepted: [expect.any(String)] });
    now += 2 * 3600_000; // the grant has expired
    await expect(ping()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await until(() => closed, 'the socket closed');
  });

  it('a send must reach every active device of each addressed user: a missed or unknown device is named', async () => {
    const secret = await enroll('pat');
    await enroll('quinn');
    now += 60_000;
    const pat = (await relay.store.userByUsername('pat'))!;
    const quinn = (await relay.store.userByUsername('quinn'))!;
    await relay.accounts.login('pat', PASSWORD, currentTotp(secret, now), { kind: 'new', name: 'second', keys: await keys() }, caller);
    const envelope = (deviceId: number) => ({ id: crypto.randomUUID() as never, type: 'whisper' as const, recipient: { userId: pat.id, deviceId: deviceId as never }, content: 'AAAA' });
    const from = { userId: quinn.id, deviceId: 1 as never };
    await expect(relay.messages.send(from, [envelope(1)])).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE', extra: { devices: [{ userId: pat.id, deviceId: 2 }] } });
    await expect(relay.messages.send(from, [envelope(1), envelope(2), envelope(9)])).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE', extra: { devices: [{ userId: pat.id, deviceId: 9 }] } });
    await expect(relay.messages.send(from, [envelope(1), envelope(2)])).resolves.toMatchObject({ accepted: [expect.any(String), expect.any(String)] });
    // The directory lists both devices, in one read.
    expect((await relay.store.activeDevicesByUser(now)).get(pat.id)).toEqual([1, 2]);
    // With allOwnDevices, Pat's own other workstation counts as addressed even when no envelope names her: a
    // workstation that does not know of its user's newer one is told. Without it (a client from before it, or one
    // whose own devices get the message later), only a send that names one of her devices is held to all of them.
    const toQuinn = () => ({ id: crypto.randomUUID() as never, type: 'whisper' as const, recipient: { userId: quinn.id, deviceId: 1 as never }, content: 'AAAA' });
    const fromPat = { userId: pat.id, deviceId: 1 as never };
    await expect(relay.messages.send(fromPat, [toQuinn()], { allOwnDevices: true })).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE', extra: { devices: [{ userId: pat.id, deviceId: 2 }] } });
    await expect(relay.messages.send(fromPat, [toQuinn(), envelope(2)], { allOwnDevices: true })).resolves.toMatchObject({ accepted: [expect.any(String), expect.any(String)] });
    await expect(relay.messages.send(fromPat, [toQuinn()])).resolves.toMatchObject({ accepted: [expect.any(String)] });
    await expect(relay.messages.send(fromPat, [toQuinn(), envelope(7)])).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE', extra: { devices: [{ userId: pat.id, deviceId: 7 }, { userId: pat.id, deviceId: 2 }] } });
  });

  it('a send of no envelope, for nobody else, still holds the sender to its own other devices (allOwnDevices)', async () => {
    // As a care team's message where the sender alone is left: the relay only checks the sender's own devices.
    const secret = await enroll('wes');
    now += 60_000;
    const wes = (await relay.store.userByUsername('wes'))!;
    const session = await relay.accounts.login('wes', PASSWORD, currentTotp(secret, now), { kind: 'existing', deviceId: 1 as never }, caller);
    const client = new RelayClient(await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent'), session.credential);
    await expect(client.send([], true)).resolves.toMatchObject({ accepted: [] });
    // Without allOwnDevices a send of nothing asks for nothing: refused, as a malformed request.
    await expect(client.send([])).rejects.toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    now += 60_000;
    await relay.accounts.login('wes', PASSWORD, currentTotp(secret, now), { kind: 'new', name: 'second', keys: await keys() }, caller);
    // His new workstation is named, over HTTP and over the socket; nothing is queued for it.
    await expect(client.send([], true)).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE', details: { devices: [{ userId: wes.id, deviceId: 2 }] } });
    const connection = await client.connect({ onEnvelope: () => undefined });
    try {
      await expect(connection.send([], true)).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE' });
      await expect(connection.send([])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    } finally {
      connection.close();
    }
    expect(await relay.store.queued({ userId: wes.id, deviceId: 2 as never }, 0, 10)).toEqual([]);
  });

  it('the directory lists colleagues still to enroll, with no devices; workstation names go to their own account only', async () => {
    const secret = await enroll('tess');
    await enroll('uma');
    await relay.accounts.addUser('vic', 'Vic', 'clinician'); // not enrolled yet
    now += 60_000;
    const session = await relay.accounts.login('tess', PASSWORD, currentTotp(secret, now), { kind: 'new', name: 'Ward 4 desk', keys: await keys() }, caller);
    const client = new RelayClient(await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent'), session.credential);
    const users = (await client.directory()).users;
    expect(users.find((u) => u.username === 'vic')).toMatchObject({ displayName: 'Vic', role: 'clinician', devices: [] });
    expect(users.find((u) => u.username === 'uma')?.devices).toEqual([1]);
    expect(JSON.stringify(users)).not.toContain('Ward 4 desk');
    expect((await client.ownDevices()).devices.map((d) => [d.deviceId, d.name])).toEqual([[1, 'ws'], [2, 'Ward 4 desk']]);
  });

  it('on connect, a device hears that its key stock is low, and gets its whole queue before queueEmpty', async () => {
    const raeSecret = await enroll('rae'); // enrolled with 2 one-time keys: below the relay's threshold of 25
    await enroll('sam');
    now += 60_000;
    const rae = (await relay.store.userByUsername('rae'))!;
    const sam = (await relay.store.userByUsername('sam'))!;
    const session = await relay.accounts.login('rae', PASSWORD, currentTotp(raeSecret, now), { kind: 'existing', deviceId: 1 as never }, caller);
    // 600 envelopes wait for Rae: more than the relay pushes before it needs acknowledgements.
    for (let i = 0; i < 6; i++) {
      await relay.messages.send({ userId: sam.id, deviceId: 1 as never }, Array.from({ length: 100 }, () => ({ id: crypto.randomUUID() as never, type: 'whisper' as const, recipient: { userId: rae.id, deviceId: 1 as never }, content: 'AAAA' })));
    }
    const url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
    const client = new RelayClient(url, session.credential);
    const lowStock: unknown[] = [];
    let received = 0;
    let receivedAtEmpty = -1;
    // Envelopes can arrive before connect() resolves: their acks wait for the connection.
    const unacked: EnvelopeId[] = [];
    const holder: { connection?: RelayConnection } = {};
    const ack = (id: EnvelopeId) => (holder.connection ? holder.connection.ack([id]) : unacked.push(id));
    const connection = await client.connect({
      onEnvelope: (e) => {
        received++;
        ack(e.id);
      },
      onQueueEmpty: () => (receivedAtEmpty = received),
      onKeysLow: (count) => lowStock.push(count),
    });
    holder.connection = connection;
    connection.ack(unacked.splice(0));
    await until(() => receivedAtEmpty >= 0, 'the queue drained');
    expect(receivedAtEmpty).toBe(600);
    expect(lowStock).toEqual([{ preKeys: 2, kyberPreKeys: 2 }]);
    await connection.close();
  });

  it("an admin's deactivation of an account a directory source deactivated is the admin's: the source cannot bring it back", async () => {
    const scim = { kind: 'scim', tokenName: 'entra' } as const;
    const person = { externalId: 'obj-9', username: 'r.left@hospital.example', displayName: 'R Left', department: null, jobTitle: null, contact: null, active: false };
    const { userId } = await relay.store.provisionPerson(person, scim, now);
    await relay.accounts.deactivate('r.left@hospital.example');
    expect(await relay.store.userById(userId)).toMatchObject({ status: 'deactivated', deactivatedBySource: null });
    expect((await relay.store.provisionPerson({ ...person, active: true }, scim, now + 1)).outcome).not.toBe('reactivated');
    expect((await relay.store.userById(userId))?.status).toBe('deactivated');
    const records = await relay.store.auditRecordsAfter(0, 100, { types: ['account.deactivated'] });
    expect(records.at(-1)?.details).toMatchObject({ reason: 'admin', tookOverFrom: 'scim' });
  });
});
