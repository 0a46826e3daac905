import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import type { DeviceAddress, EnvelopeId } from '../../shared/ids';
import type { OutgoingEnvelope } from '../../shared/wire/relay';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * Issue 13's delivery findings, against the relay in process with a virtual clock: queue quotas, send and
 * key-fetch rates, their audit (once per episode), each envelope's real outcome, and the in-flight cap.
 */

const PASSWORD = 'correct horse battery staple 7';
const caller = { address: '127.0.0.1' };
const MINUTE = 60_000;

interface TestDevice {
  readonly address: DeviceAddress;
  readonly credential: string;
  readonly totpSecret: string;
  readonly identityKey: string;
}

/** A ciphertext the relay cannot tell from a real one (it never looks inside). */
function envelope(recipient: DeviceAddress, bytes = 300, id: string = randomUUID()): OutgoingEnvelope {
  return { id: id as EnvelopeId, type: 'whisper', recipient, content: randomBytes(bytes).toString('base64') };
}

describe('relay delivery limits (in process, virtual time)', () => {
  let dir: string;
  let now: number;
  let relay: RelayServer;
  let url: string | undefined;

  const start = async (overrides: Partial<RelayConfig> = {}, listen = false) => {
    const clock = { now: () => now };
    relay = new RelayServer(openStore(dir, clock), { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 }, ...overrides }, clock, () => undefined);
    if (listen) url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  };

  beforeEach(() => {
    dir = tempDataDir();
    now = Date.UTC(2026, 10, 23, 9);
    url = undefined;
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  async function enroll(username: string, preKeys = 2): Promise<TestDevice> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
    const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, caller);
    const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: preKeys } }).keys.initialUpload();
    const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'ws', keys }, caller);
    return { address: { userId: session.userId, deviceId: session.deviceId }, credential: session.credential, totpSecret: begin.totpSecret, identityKey: keys.identityKey };
  }

  const post = (path: string, device: TestDevice, body: unknown) => fetch(`${url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${device.credential}` }, body: JSON.stringify(body),
  });
  const queued = async (device: TestDevice) => (await relay.store.queued(device.address, 0, 100_000)).length;
  const auditOf = async (type: string) => (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === type);
  /** Lets every refusal episode go quiet, then has the relay's periodic job audit them. */
  const closeEpisodes = async () => {
    now += DEFAULT_CONFIG.refusalEpisodeQuietMs;
    await relay.messages.sweepLimits();
  };

  it('refuses envelopes for a full queue with RECIPIENT_QUEUE_FULL (507 when nothing fits) while the other recipients get theirs', async () => {
    // One sender may fill the whole queue here (senders' shares are relay-account-limits.test.ts's).
    await start({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 5, maxQueuedBytes: 64 * 1024, senderSharePercent: 100 } }, true);
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    for (let i = 0; i < 5; i++) await relay.messages.send(alice.address, [envelope(bob.address)]);
    expect(await queued(bob)).toBe(5);

    // Nothing of the request fits: the whole send is refused, typed, naming the full device.
    const refused = await post('/v1/messages', alice, { envelopes: [envelope(bob.address)] });
    expect(refused.status).toBe(507);
    expect(await refused.json()).toMatchObject({ code: 'RECIPIENT_QUEUE_FULL', devices: [bob.address] });
    // A message to Bob and Carol: Carol gets hers, Bob's is refused on its own.
    const [toBob, toCarol] = [envelope(bob.address), envelope(carol.address)];
    const partial = await post('/v1/messages', alice, { envelopes: [toBob, toCarol] });
    expect(partial.status).toBe(200);
    expect(await partial.json()).toMatchObject({ accepted: [toCarol.id], refused: [{ id: toBob.id, code: 'RECIPIENT_QUEUE_FULL' }] });
    expect(await queued(bob)).toBe(5);
    expect(await queued(carol)).toBe(1);

    // Bytes count too: 64 KiB hold three 20 KiB envelopes, not four.
    for (let i = 0; i < 3; i++) await relay.messages.send(bob.address, [envelope(carol.address, 20 * 1024)]);
    await expect(relay.messages.send(bob.address, [envelope(carol.address, 20 * 1024)])).rejects.toMatchObject({ code: 'RECIPIENT_QUEUE_FULL' });
    // Once Bob's device takes its envelopes, there is room again.
    const ids = (await relay.store.queued(bob.address, 0, 100)).map((e) => e.id);
    await relay.messages.acknowledge(bob.address, ids);
    expect(await relay.messages.send(alice.address, [envelope(bob.address)])).toEqual({ accepted: [expect.any(String)], serverTimestamp: now });
  });

  it('holds the queue limit under concurrent senders (it is checked inside the write transaction)', async () => {
    await start({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 50 } });
    const bob = await enroll('bob');
    const senders = await Promise.all(Array.from({ length: 8 }, (_, i) => enroll(`sender${i}`)));
    const results = await Promise.all(senders.flatMap((s) => Array.from({ length: 20 }, () => relay.messages.send(s.address, [envelope(bob.address)]).then(
      (r) => r.accepted.length,
      (error: { code?: string }) => (error.code === 'RECIPIENT_QUEUE_FULL' ? 0 : Promise.reject(error as Error)),
    ))));
    expect(results.reduce((a, b) => a + b, 0)).toBe(50);
    expect(await queued(bob)).toBe(50);
  });

  it('refuses a device over its send rate with SEND_RATE_LIMITED and Retry-After, and lets it send once the rate allows', async () => {
    await start({ delivery: { ...DEFAULT_CONFIG.delivery, sendEnvelopesPerMinute: 10, sendBytesPerMinute: 1024 * 1024 } }, true);
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    for (let i = 0; i < 10; i++) await relay.messages.send(alice.address, [envelope(bob.address)]);
    const limited = await post('/v1/messages', alice, { envelopes: [envelope(bob.address)] });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('6');
    expect(await limited.json()).toMatchObject({ code: 'SEND_RATE_LIMITED', retryAfterSeconds: 6, retryAfterMs: 6000 });
    // Bob's rate is his own.
    await expect(relay.messages.send(bob.address, [envelope(alice.address)])).resolves.toMatchObject({ accepted: [expect.any(String)] });
    now += 6000;
    await expect(relay.messages.send(alice.address, [envelope(bob.address)])).resolves.toMatchObject({ accepted: [expect.any(String)] });
    // Bytes: a megabyte a minute is four 200 KiB envelopes and a bit, then a wait.
    now += MINUTE;
    for (let i = 0; i < 5; i++) await relay.messages.send(alice.address, [envelope(bob.address, 200 * 1024)]);
    await expect(relay.messages.send(alice.address, [envelope(bob.address, 200 * 1024)])).rejects.toMatchObject({ code: 'SEND_RATE_LIMITED' });
    expect(await queued(bob)).toBe(16);
  });

  it('audits refusals by episode: the first at once, the 10th and 100th with counts, the totals when it ends', async () => {
    await start({ delivery: { ...DEFAULT_CONFIG.delivery, maxQueuedEnvelopes: 3, senderSharePercent: 100, sendEnvelopesPerMinute: 200 } });
    const mallory = await enroll('mallory');
    const bob = await enroll('bob');
    const outcomes: string[] = [];
    const send = () => relay.messages.send(mallory.address, [envelope(bob.address, 999)]).then(() => outcomes.push('ok'), (error: { code: string }) => outcomes.push(error.code));
    await send();
    await send();
    await send();
    await send();
    // The first refusal is in the log before Mallory hears it: flagged as its reason deserves (a full
    // queue is usually only a colleague away for long).
    const started = await auditOf('envelope.refused');
    expect(started).toEqual([expect.objectContaining({
      actor: `${mallory.address.userId}.${mallory.address.deviceId}`, subject: bob.address.userId, flagged: false,
      details: expect.objectContaining({ reason: 'RECIPIENT_QUEUE_FULL', episode: 'started', requests: 1, envelopes: 1, bytes: 999, devices: `${bob.address.userId}.${bob.address.deviceId}` }),
    })]);
    for (let i = 0; i < 246; i++) {
      now += 10;
      await send();
    }
    const full = outcomes.filter((o) => o === 'RECIPIENT_QUEUE_FULL').length;
    const limited = outcomes.filter((o) => o === 'SEND_RATE_LIMITED').length;
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(3);
    expect(full).toBeGreaterThan(150);
    expect(limited).toBeGreaterThan(0);
    // While the episodes last: their first refusal, and each tenfold count, never one per refusal.
    const during = await auditOf('envelope.refused');
    expect(during.map((r) => [r.details.reason, r.details.episode, r.details.requests, r.flagged])).toEqual([
      ['RECIPIENT_QUEUE_FULL', 'started', 1, false],
      ['RECIPIENT_QUEUE_FULL', 'ongoing', 10, false],
      ['RECIPIENT_QUEUE_FULL', 'ongoing', 100, false],
      ['SEND_RATE_LIMITED', 'started', 1, true],
      ...(limited >= 10 ? [['SEND_RATE_LIMITED', 'ongoing', 10, false]] : []),
    ]);
    await closeEpisodes();
    // Then the totals: who, why, whom, how many.
    const ended = (await auditOf('envelope.refused')).filter((r) => r.details.episode === 'ended');
    expect(ended).toHaveLength(2);
    expect(ended.find((r) => r.details.reason === 'RECIPIENT_QUEUE_FULL')).toMatchObject({
      actor: `${mallory.address.userId}.${mallory.address.deviceId}`, subject: bob.address.userId, flagged: false,
      details: { requests: full, envelopes: full, bytes: 999 * full, devices: `${bob.address.userId}.${bob.address.deviceId}`, users: bob.address.userId, userCount: 1 },
    });
    expect(ended.find((r) => r.details.reason === 'SEND_RATE_LIMITED')).toMatchObject({ flagged: true, details: { requests: limited } });
    expect(await auditOf('envelope.accepted')).toHaveLength(3);
    // A later refusal starts a new episode, written at once; closing the relay writes its totals.
    const before = (await auditOf('envelope.refused')).length;
    await expect(relay.messages.send(mallory.address, [envelope(bob.address)])).rejects.toMatchObject({ code: 'RECIPIENT_QUEUE_FULL' });
    expect((await auditOf('envelope.refused')).slice(before).map((r) => r.details.episode)).toEqual(['started']);
    await relay.messages.refusals.closeAll();
    expect((await auditOf('envelope.refused')).slice(before).map((r) => r.details.episode)).toEqual(['started', 'ended']);
  });

  it('rate-limits prekey bundle fetches per fetching account and per account and colleague, and audits the episode', async () => {
    await start({ keyFetches: { ...DEFAULT_CONFIG.keyFetches, perAccountPerHour: 5, perPairPerHour: 3 } }, true);
    const carol = await enroll('carol', 20);
    const dan = await enroll('dan', 20);
    const mallory = await enroll('mallory');
    const erin = await enroll('erin');
    const frank = await enroll('frank');
    const actor = (d: TestDevice) => `${d.address.userId}.${d.address.deviceId}`;
    const fetchKeys = (by: TestDevice, of: TestDevice) => fetch(`${url}/v1/keys/${of.address.userId}`, { headers: { authorization: `Bearer ${by.credential}` } });
    for (let i = 0; i < 3; i++) expect((await fetchKeys(mallory, carol)).status).toBe(200);
    // One account fetching one colleague: 3 an hour here, then one every 20 minutes.
    const limited = await fetchKeys(mallory, carol);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1200');
    expect(await limited.json()).toMatchObject({ code: 'KEY_FETCH_RATE_LIMITED', retryAfterSeconds: 1200 });
    for (let i = 0; i < 10; i++) expect((await fetchKeys(mallory, carol)).status).toBe(429);
    // Carol lost three one-time keys, not fourteen.
    expect(await relay.messages.keyCount(carol.address)).toEqual({ preKeys: 17, kyberPreKeys: 17 });
    // Mallory may still start a session with Dan; others may still reach Carol, however often she was fetched.
    expect((await fetchKeys(mallory, dan)).status).toBe(200);
    expect((await fetchKeys(erin, carol)).status).toBe(200);
    expect((await fetchKeys(frank, carol)).status).toBe(200);
    // Per fetching account: Mallory's fifth fetch of anyone is her last this hour.
    expect((await fetchKeys(mallory, frank)).status).toBe(200);
    expect((await fetchKeys(mallory, dan)).status).toBe(429);
    now += 3600_000;
    expect((await fetchKeys(mallory, carol)).status).toBe(200);
    await closeEpisodes();
    // One episode for Mallory's account (both colleagues named), started at once and flagged, then its totals.
    const records = await auditOf('bundle.refused');
    expect(records.map((r) => [r.actor, r.details.episode, r.details.requests, r.flagged])).toEqual([
      [actor(mallory), 'started', 1, true],
      [actor(mallory), 'ongoing', 10, false],
      [actor(mallory), 'ended', 12, true],
    ]);
    expect(records.at(-1)).toMatchObject({ subject: carol.address.userId, details: { users: `${carol.address.userId} ${dan.address.userId}`, userCount: 2 } });
    expect(await auditOf('bundle.fetched')).toHaveLength(8);
  });

  it('bounds key uploads: so many an hour per device and per account, and no more one-time keys of a kind than the relay holds per device', async () => {
    await start({ keyFetches: { ...DEFAULT_CONFIG.keyFetches, uploadsPerDeviceHour: 3, uploadsPerAccountHour: 5, maxStoredPerKind: 30 } }, true);
    const mallory = await enroll('mallory', 10);
    const upload = async (from: number, count: number, by: TestDevice = mallory) => ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: Math.max(1, count) } }).keys.initialUpload()
      .then((keys) => fetch(`${url}/v1/keys`, {
        method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${by.credential}` },
        // The device's own identity, with a fresh batch of key ids from `from` (the relay checks identity, not signatures).
        body: JSON.stringify({ ...keys, identityKey: by.identityKey, signedPreKey: undefined, lastResortKyberPreKey: undefined,
          preKeys: keys.preKeys.slice(0, count).map((k, i) => ({ ...k, keyId: from + i })), kyberPreKeys: keys.kyberPreKeys.slice(0, count).map((k, i) => ({ ...k, keyId: from + i })) }),
      }));
    // 10 held; 20 more fit the cap of 30, one more does not (and tells her why).
    expect((await upload(100, 20)).status).toBe(200);
    const overCap = await upload(200, 1);
    expect(overCap.status).toBe(400);
    expect(await overCap.json()).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('at most 30 one-time keys') });
    expect(await relay.messages.keyCount(mallory.address)).toEqual({ preKeys: 30, kyberPreKeys: 30 });
    // Three uploads an hour (the refused one counted): the fourth waits, typed, with Retry-After.
    expect((await upload(300, 0)).status).toBe(200);
    const limited = await upload(400, 0);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ code: 'KEY_UPLOAD_RATE_LIMITED', retryAfterSeconds: 1200 });
    // Another workstation of hers shares the account's five: two more, then it waits too.
    now += 30_000;
    const keys = await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 1 } }).keys.initialUpload();
    const session = await relay.accounts.login('mallory', PASSWORD, currentTotp(mallory.totpSecret, now), { kind: 'new', name: 'ws2', keys }, caller);
    const second: TestDevice = { address: { userId: session.userId, deviceId: session.deviceId }, credential: session.credential, totpSecret: mallory.totpSecret, identityKey: keys.identityKey };
    for (let i = 0; i < 2; i++) expect((await upload(500 + i, 0, second)).status).toBe(200);
    expect(await (await upload(600, 0, second)).json()).toMatchObject({ code: 'KEY_UPLOAD_RATE_LIMITED' });
    await closeEpisodes();
    expect((await auditOf('keys.refused')).map((r) => [r.details.reason, r.details.episode, r.flagged])).toEqual([
      ['KEY_UPLOAD_RATE_LIMITED', 'started', true],
      ['KEY_UPLOAD_RATE_LIMITED', 'ended', true],
    ]);
  });

  it('reports a reused envelope id as a duplicate, and a resend of the same envelope after a lost answer as accepted, queued once', async () => {
    await start({}, true);
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const first = envelope(bob.address);
    const answer = await (await post('/v1/messages', alice, { envelopes: [first] })).json();
    // Nothing refused, nothing said about it: clients from before `refused` read the answer as before.
    expect(answer).toEqual({ accepted: [first.id], serverTimestamp: now });
    // The answer was lost; the client sends the very same envelope again: accepted, not queued twice.
    expect(await (await post('/v1/messages', alice, { envelopes: [first] })).json()).toEqual({ accepted: [first.id], serverTimestamp: now });
    expect(await queued(bob)).toBe(1);
    expect(await auditOf('envelope.accepted')).toHaveLength(1);
    // Another envelope under the same id (other content, or from someone else) is not accepted.
    const reuse = envelope(bob.address, 300, first.id);
    expect(await (await post('/v1/messages', alice, { envelopes: [reuse] })).json()).toMatchObject({ accepted: [], refused: [{ id: first.id, code: 'DUPLICATE_ENVELOPE' }] });
    const carol = await enroll('carol');
    await expect(relay.messages.send(carol.address, [{ ...first }])).resolves.toMatchObject({ accepted: [], refused: [{ id: first.id, code: 'DUPLICATE_ENVELOPE' }] });
    expect((await relay.store.queued(bob.address, 0, 10)).map((e) => e.content)).toEqual([first.content]);
  });

  it('reports an envelope for a device revoked between the check and the commit as UNKNOWN_DEVICE, not accepted', async () => {
    await start();
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const laptop = await relay.accounts.login('bob', PASSWORD, currentTotp(bob.totpSecret, now + 30_000), { kind: 'new', name: 'laptop', keys: await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } }).keys.initialUpload() }, caller);
    const bob2 = { userId: laptop.userId, deviceId: laptop.deviceId };
    await relay.messages.send(alice.address, [envelope(bob.address), envelope(bob2)]);
    // Revoked while the relay still holds Bob's device list from the last send (the race of the finding).
    await relay.store.revokeDevice(bob.address.userId, bob2.deviceId, now, []);
    const [toBob, toLaptop] = [envelope(bob.address), envelope(bob2)];
    await expect(relay.messages.send(alice.address, [toBob, toLaptop])).resolves.toMatchObject({ accepted: [toBob.id], refused: [{ id: toLaptop.id, code: 'UNKNOWN_DEVICE' }] });
    expect(await relay.store.queued(bob2, 0, 10)).toEqual([]);
    // The next send is checked against the device list read again.
    await expect(relay.messages.send(alice.address, [envelope(bob.address), envelope(bob2)])).rejects.toMatchObject({ code: 'UNKNOWN_DEVICE' });
  });

  it('keeps at most 8 MiB of envelopes unacknowledged on a socket, counted per envelope', async () => {
    await start({}, true);
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    for (let i = 0; i < 60; i++) await relay.messages.send(alice.address, [envelope(bob.address, 200 * 1024)]);
    const socket = new WebSocket(`${url!.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${bob.credential}` } });
    const pushed: { id: string; size: number }[] = [];
    let lastAt = Date.now();
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; envelope?: { id: string; content: string } };
      if (frame.type === 'envelope' && frame.envelope) pushed.push({ id: frame.envelope.id, size: frame.envelope.content.length });
      lastAt = Date.now();
    });
    await new Promise((resolve) => socket.once('open', resolve));
    // Until more than the least the window lets out has come and nothing more for 500 ms (a pause of the relay,
    // which runs in this process, on a busy machine is not the window closing).
    // (At most 20 s: then the checks below say what came.)
    const settle = async () => {
      const deadline = Date.now() + 20_000;
      while ((pushed.length <= 25 || Date.now() - lastAt < 500) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    await settle();
    const bytes = () => pushed.reduce((sum, p) => sum + p.size, 0);
    expect(bytes()).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(pushed.length).toBeGreaterThan(25);
    expect(pushed.length).toBeLessThan(60);
    // Acknowledged, the rest follows.
    socket.send(JSON.stringify({ type: 'ack', ids: pushed.map((p) => p.id) }));
    while (pushed.length < 60) await new Promise((r) => setTimeout(r, 50));
    socket.close();
  });
});
