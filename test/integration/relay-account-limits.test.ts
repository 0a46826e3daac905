import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { DEFAULT_ARGON2 } from '../../server/auth/argon2Params';
import { currentTotp } from '../../server/auth/totp';
import { DEFAULT_CONFIG, type RelayConfig } from '../../server/RelayConfig';
import { RelayServer } from '../../server/RelayServer';
import { openStore } from '../../server/openStore';
import { addressKey, type DeviceAddress, type EnvelopeId } from '../../shared/ids';
import type { OutgoingEnvelope } from '../../shared/wire/relay';
import { Clinician, RelayProcess, addUser, openRelayDatabase, removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * The review of issue 13's delivery limits: what one account (any number of its workstations) can do to
 * a colleague's queue, to a colleague's prekey fetches, and to the relay's disk and audit log; and that
 * a refusal episode is in the log while it lasts. The relay runs in process with a virtual clock, except
 * where a kill -9 is the point.
 */

const PASSWORD = 'correct horse battery staple 7';
const caller = { address: '127.0.0.1' };
const HOUR = 3600_000;

interface Workstation {
  readonly address: DeviceAddress;
  readonly credential: string;
}

interface Account {
  readonly username: string;
  readonly totpSecret: string;
  readonly workstations: Workstation[];
}

function envelope(recipient: DeviceAddress, bytes = 300): OutgoingEnvelope {
  return { id: randomUUID() as EnvelopeId, type: 'whisper', recipient, content: randomBytes(bytes).toString('base64') };
}

const first = (account: Account): Workstation => account.workstations[0]!;

describe('relay limits per account (in process, virtual time)', () => {
  let dir: string;
  let now: number;
  let relay: RelayServer;
  let url: string;
  let logged: string[];

  const start = async (overrides: Partial<RelayConfig> = {}) => {
    const clock = { now: () => now };
    logged = [];
    relay = new RelayServer(openStore(dir, clock), { ...DEFAULT_CONFIG, argon2: { ...DEFAULT_ARGON2, memoryKiB: 8192 }, ...overrides }, clock, (line) => logged.push(line));
    url = await relay.listen({ host: '127.0.0.1', port: 0 }, 'silent');
  };
  const delivery = (limits: Partial<RelayConfig['delivery']>) => ({ delivery: { ...DEFAULT_CONFIG.delivery, ...limits } });

  beforeEach(() => {
    dir = tempDataDir();
    now = Date.UTC(2026, 10, 23, 9);
  });

  afterEach(async () => {
    await relay.close();
    removeDir(dir);
  });

  const keys = () => ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 5 } }).keys.initialUpload();

  async function enroll(username: string): Promise<Account> {
    const { enrollmentCode } = await relay.accounts.addUser(username, `Display ${username}`, 'clinician');
    const begin = await relay.accounts.beginEnrollment(username, enrollmentCode, caller);
    const session = await relay.accounts.completeEnrollment(begin.enrollmentId, PASSWORD, currentTotp(begin.totpSecret, now), { name: 'ws 1', keys: await keys() }, caller);
    return { username, totpSecret: begin.totpSecret, workstations: [{ address: { userId: session.userId, deviceId: session.deviceId }, credential: session.credential }] };
  }

  /** Another workstation of the account (password and a fresh TOTP step). */
  async function addWorkstation(account: Account): Promise<Workstation> {
    now += 30_000;
    const session = await relay.accounts.login(account.username, PASSWORD, currentTotp(account.totpSecret, now), { kind: 'new', name: `ws ${account.workstations.length + 1}`, keys: await keys() }, caller);
    const workstation = { address: { userId: session.userId, deviceId: session.deviceId }, credential: session.credential };
    account.workstations.push(workstation);
    return workstation;
  }

  /** One envelope for every workstation of each account (what a client sends), from `from`. */
  const toAll = (from: Workstation, ...accounts: Account[]) =>
    accounts.flatMap((a) => a.workstations).filter((w) => addressKey(w.address) !== addressKey(from.address)).map((w) => envelope(w.address));
  const post = (from: Workstation, envelopes: OutgoingEnvelope[]) => fetch(`${url}/v1/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${from.credential}` }, body: JSON.stringify({ envelopes }),
  });
  const fetchKeys = (by: Workstation, of: Account) => fetch(`${url}/v1/keys/${first(of).address.userId}`, { headers: { authorization: `Bearer ${by.credential}` } });
  const queued = async (w: Workstation) => (await relay.store.queued(w.address, 0, 100_000)).length;
  const audit = async (type: string) => (await relay.store.auditRecords(0, Number.MAX_SAFE_INTEGER)).filter((r) => r.type === type);

  it("keeps each sending account to its share of a colleague's queue, so another colleague's message still gets through", async () => {
    // A queue of 50 here: one sending account may fill 20% of it, 10 envelopes, from all its workstations.
    await start(delivery({ maxQueuedEnvelopes: 50 }));
    const mallory = await enroll('mallory');
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    const [m1, m2] = [first(mallory), await addWorkstation(mallory)];
    for (let i = 0; i < 6; i++) expect((await post(m1, toAll(m1, bob))).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await post(m2, toAll(m2, bob))).status).toBe(200);

    // Her share is full, from either workstation: refused, typed, and told it is her share.
    const refused = await post(m2, toAll(m2, bob));
    expect(refused.status).toBe(507);
    expect(await refused.json()).toMatchObject({ code: 'RECIPIENT_QUEUE_FULL', share: 'sender', devices: [first(bob).address] });
    const [toBob, toCarol] = [envelope(first(bob).address), envelope(first(carol).address)];
    expect(await (await post(m1, [toBob, toCarol])).json()).toMatchObject({ accepted: [toCarol.id], refused: [{ id: toBob.id, code: 'RECIPIENT_QUEUE_FULL', share: 'sender' }] });
    expect(await queued(first(bob))).toBe(10);

    // Carol's message to Bob is queued (before, Mallory could fill all of his queue and lock her out).
    expect(await relay.messages.send(first(carol).address, toAll(first(carol), bob))).toMatchObject({ accepted: [expect.any(String)] });
    // Bob's own workstations are held only to the whole queue (copies of what he sends elsewhere).
    const bob2 = await addWorkstation(bob);
    for (let i = 0; i < 15; i++) await relay.messages.send(bob2.address, [envelope(first(bob).address)]);
    expect(await queued(first(bob))).toBe(26);

    // One flagged episode for Mallory's account, in the log at once.
    expect((await audit('envelope.refused')).map((r) => [r.actor, r.details.reason, r.details.episode, r.flagged])).toEqual([
      [addressKey(m2.address), 'SENDER_SHARE_FULL', 'started', true],
    ]);
    // Once Bob takes his queue, Mallory has her share again.
    await relay.messages.acknowledge(first(bob).address, (await relay.store.queued(first(bob).address, 0, 100)).map((e) => e.id));
    expect((await post(m2, toAll(m2, bob))).status).toBe(200);
  });

  it("holds a sending account to its share of a queue under concurrent sends from all of its workstations", async () => {
    await start(delivery({ maxQueuedEnvelopes: 50 }));
    const bob = await enroll('bob');
    const mallory = await enroll('mallory');
    await addWorkstation(mallory);
    await addWorkstation(mallory);
    const results = await Promise.all(mallory.workstations.flatMap((w) => Array.from({ length: 10 }, () => relay.messages.send(w.address, toAll(w, bob)).then(
      (r) => r.accepted.length,
      (error: { code?: string; extra?: { share?: string } }) => (error.code === 'RECIPIENT_QUEUE_FULL' && error.extra?.share === 'sender' ? 0 : Promise.reject(error as Error)),
    ))));
    expect(results.reduce((a, b) => a + b, 0)).toBe(10);
    expect(await queued(first(bob))).toBe(10);
  });

  it("limits what all of an account's workstations send per minute together, not only each one", async () => {
    await start(delivery({ sendEnvelopesPerMinute: 8, accountEnvelopesPerMinute: 10 }));
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    const mallory = await enroll('mallory');
    const [m1, m2] = [first(mallory), await addWorkstation(mallory)];
    for (let i = 0; i < 8; i++) await relay.messages.send(m1.address, toAll(m1, bob));
    await expect(relay.messages.send(m1.address, toAll(m1, bob))).rejects.toMatchObject({ code: 'SEND_RATE_LIMITED', message: expect.stringMatching(/^this device/) });
    for (let i = 0; i < 2; i++) await relay.messages.send(m2.address, toAll(m2, bob));
    // Her second workstation has room of its own, but her account has sent its 10 this minute.
    const limited = await post(m2, toAll(m2, bob));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('6');
    expect(await limited.json()).toMatchObject({ code: 'SEND_RATE_LIMITED', message: expect.stringMatching(/^this account's workstations together/) });
    // Carol's rate is her own.
    await expect(relay.messages.send(first(carol).address, toAll(first(carol), bob))).resolves.toMatchObject({ accepted: [expect.any(String)] });
    now += 6000;
    await expect(relay.messages.send(m2.address, toAll(m2, bob))).resolves.toMatchObject({ accepted: [expect.any(String)] });
  });

  it('refuses an account past its daily envelope budget with SEND_RATE_LIMITED and Retry-After, audited as a flagged episode', async () => {
    await start(delivery({ accountEnvelopesPerDay: 100 }));
    const bob = await enroll('bob');
    const mallory = await enroll('mallory');
    const [m1, m2] = [first(mallory), await addWorkstation(mallory)];
    await relay.messages.send(m1.address, Array.from({ length: 60 }, () => envelope(first(bob).address)));
    await relay.messages.send(m2.address, Array.from({ length: 40 }, () => envelope(first(bob).address)));
    const refused = await post(m1, toAll(m1, bob));
    expect(refused.status).toBe(429);
    // A day's budget refills evenly: one envelope every 864 s.
    expect(refused.headers.get('retry-after')).toBe('864');
    expect(await refused.json()).toMatchObject({ code: 'SEND_RATE_LIMITED', retryAfterMs: 864_000, message: expect.stringMatching(/in a day/) });
    expect(await (await post(m2, toAll(m2, bob))).json()).toMatchObject({ code: 'SEND_RATE_LIMITED' });
    expect((await audit('envelope.refused')).map((r) => [r.actor, r.details.reason, r.details.episode, r.flagged])).toEqual([
      [addressKey(m1.address), 'DAILY_SEND_BUDGET', 'started', true],
    ]);
    now += 864_000;
    await expect(relay.messages.send(m2.address, toAll(m2, bob))).resolves.toMatchObject({ accepted: [expect.any(String)] });
    now += DEFAULT_CONFIG.refusalEpisodeQuietMs;
    await relay.messages.sweepLimits();
    expect((await audit('envelope.refused')).at(-1)).toMatchObject({
      flagged: true, details: { reason: 'DAILY_SEND_BUDGET', episode: 'ended', requests: 2, envelopes: 2, senders: `${addressKey(m1.address)} ${addressKey(m2.address)}`, senderCount: 2 },
    });
  });

  it('bounds the audit records one account can make the relay write in a day, however many workstations send', async () => {
    // Mallory sends garbage around the clock between her four workstations, which acknowledge all of it
    // (the finding: 70,000 permanent records in two minutes from one device). Her day's budget is 300 here.
    await start(delivery({ accountEnvelopesPerDay: 300 }));
    const mallory = await enroll('mallory');
    for (let i = 0; i < 3; i++) await addWorkstation(mallory);
    const began = now;
    let requests = 0;
    while (now < began + 24 * HOUR) {
      for (const w of mallory.workstations) {
        requests++;
        await relay.messages.send(w.address, Array.from({ length: 33 }, () => toAll(w, mallory)).flat()).catch((error: { code?: string }) => {
          if (error.code !== 'SEND_RATE_LIMITED') throw error as Error;
        });
      }
      for (const w of mallory.workstations) await relay.messages.acknowledge(w.address, (await relay.store.queued(w.address, 0, 1000)).map((e) => e.id));
      now += 5 * 60_000;
    }
    await relay.messages.refusals.closeAll();
    const accepted = (await audit('envelope.accepted')).length;
    // A full budget at the start and one day's refill: at most twice the budget in the first day...
    expect(accepted).toBeLessThanOrEqual(600);
    expect(accepted).toBeGreaterThanOrEqual(500);
    expect((await audit('envelope.delivered')).length).toBe(accepted);
    // ...and the refusals of over a thousand requests cost a handful of records.
    expect(requests).toBeGreaterThan(1000);
    expect((await audit('envelope.refused')).length).toBeLessThanOrEqual(6);
  });

  it("never refuses a colleague's prekey fetch because others fetched the same user, however many workstations they use", async () => {
    // At the defaults: 84 workstations fetching Bob 12 times each used to spend the 1,000 fetches of him
    // that everyone together had an hour, and lock every colleague out of starting a session with him.
    await start();
    const bob = await enroll('bob');
    const carol = await enroll('carol');
    const mallory = await enroll('mallory');
    while (mallory.workstations.length < 84) await addWorkstation(mallory);
    let fetched = 0;
    for (const m of mallory.workstations) {
      for (let i = 0; i < 12; i++) if ((await fetchKeys(m, bob)).status === 200) fetched++;
    }
    // Nothing she does is charged to Bob: Carol's first fetch of him is answered...
    expect((await fetchKeys(first(carol), bob)).status).toBe(200);
    // ...and her workstations share her 12 fetches of him an hour.
    expect(fetched).toBe(12);
  });

  it("limits prekey fetches per account, whichever of its workstations makes them", async () => {
    await start({ keyFetches: { ...DEFAULT_CONFIG.keyFetches, perAccountPerHour: 5 } });
    const colleagues = await Promise.all(['a1', 'a2', 'a3', 'a4', 'a5', 'a6'].map((name) => enroll(name)));
    const mallory = await enroll('mallory');
    const [m1, m2] = [first(mallory), await addWorkstation(mallory)];
    for (const [i, colleague] of colleagues.slice(0, 5).entries()) expect((await fetchKeys(i % 2 === 0 ? m1 : m2, colleague)).status).toBe(200);
    const limited = await fetchKeys(m2, colleagues[5]!);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ code: 'KEY_FETCH_RATE_LIMITED', retryAfterSeconds: 720 });
    expect((await fetchKeys(m1, colleagues[5]!)).status).toBe(429);
    expect((await fetchKeys(first(colleagues[5]!), mallory)).status).toBe(200);
  });

  it('refuses new envelopes with RELAY_STORAGE_FULL while the disk is below the reserve, and still delivers and takes acknowledgements', async () => {
    await start();
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    await relay.messages.send(first(alice).address, toAll(first(alice), bob));
    await relay.close();
    // The same relay with a reserve no disk has free.
    await start({ minFreeDiskBytes: Number.MAX_SAFE_INTEGER });
    const refused = await post(first(alice), toAll(first(alice), bob));
    expect(refused.status).toBe(507);
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(await refused.json()).toMatchObject({ code: 'RELAY_STORAGE_FULL', retryAfterSeconds: 60 });
    expect(logged.filter((line) => line.startsWith('refusing new envelopes'))).toHaveLength(1);
    await post(first(alice), toAll(first(alice), bob));
    expect(logged.filter((line) => line.startsWith('refusing new envelopes'))).toHaveLength(1);
    // What is queued still goes out, and its acknowledgement (and audit record) is written.
    const waiting = await relay.store.queued(first(bob).address, 0, 10);
    expect(waiting).toHaveLength(1);
    expect(await relay.messages.acknowledge(first(bob).address, waiting.map((e) => e.id))).toEqual(waiting.map((e) => e.id));
    expect(await audit('envelope.delivered')).toHaveLength(1);
    expect((await audit('envelope.refused')).map((r) => [r.details.reason, r.details.episode])).toEqual([['RELAY_STORAGE_FULL', 'started']]);
  });

  const RESERVE = 64 * 1024 * 1024;
  /** A relay keeping RESERVE free, on a disk 2 MiB above it (`disk.free`, which the test fills), and two clinicians. */
  async function nearlyFullRelay(): Promise<{ alice: Account; bob: Account; disk: { free: number } }> {
    await start({ minFreeDiskBytes: RESERVE });
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    const disk = { free: RESERVE + 2 * 1024 * 1024 };
    relay.store.freeBytes = async () => disk.free;
    return { alice, bob, disk };
  }

  it('stops at the reserve as the disk fills, even between two readings of the free space', async () => {
    const { alice, bob, disk } = await nearlyFullRelay();
    // The disk fills by what the relay stores (the relay reads it at most every 250 ms).
    let acceptedBelow = 0;
    let refused = 0;
    for (let i = 0; i < 30; i++) {
      const content = randomBytes(200 * 1024).toString('base64');
      const wasBelow = disk.free < RESERVE;
      const result = await relay.messages.send(first(alice).address, [{ id: randomUUID() as EnvelopeId, type: 'whisper', recipient: first(bob).address, content }])
        .catch((error: { code?: string }) => {
          expect(error.code).toBe('RELAY_STORAGE_FULL');
          refused++;
          return { accepted: [] };
        });
      disk.free -= result.accepted.length * content.length;
      if (wasBelow) acceptedBelow += result.accepted.length;
    }
    expect(acceptedBelow).toBe(0);
    expect(refused).toBeGreaterThan(20);
  });

  it('stops at the reserve when senders race in one turn, before any of their envelopes is on the disk', async () => {
    const { alice, bob, disk } = await nearlyFullRelay();
    // The disk fills by what is committed, when it is committed.
    const enqueue = relay.store.enqueue.bind(relay.store);
    relay.store.enqueue = async (envelopes, auditOf, limits) => {
      const outcomes = await enqueue(envelopes, auditOf, limits);
      envelopes.forEach((e, i) => {
        if (outcomes[i] === 'queued') disk.free -= e.content.length;
      });
      return outcomes;
    };
    const results = await Promise.allSettled(Array.from({ length: 30 }, () =>
      relay.messages.send(first(alice).address, [{ id: randomUUID() as EnvelopeId, type: 'whisper', recipient: first(bob).address, content: randomBytes(200 * 1024).toString('base64') }])));
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(0);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r.reason as { code?: string }).code === 'RELAY_STORAGE_FULL')).toBe(true);
    expect(disk.free).toBeGreaterThanOrEqual(RESERVE);
  });
});

describe('refusal episodes in the audit log (a real relay process)', () => {
  it('writes the first refusal of an episode at once, so a relay killed with -9 meanwhile keeps it', async () => {
    const dir = tempDataDir();
    let relay = await RelayProcess.start(dir, ['--send-envelopes-per-minute', '5']);
    try {
      const mallory = await Clinician.enroll(relay.url, 'mallory', addUser(dir, 'mallory', 'Mallory M'), PASSWORD);
      const bob = await Clinician.enroll(relay.url, 'bob', addUser(dir, 'bob', 'Bob B'), PASSWORD);
      const post = () => fetch(`${relay.url}/v1/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${mallory.session.credential}` },
        body: JSON.stringify({ envelopes: [envelope(bob.address)] }),
      });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await post()).status);
      expect(statuses.filter((s) => s === 429)).toHaveLength(15);
      const refusals = () => {
        const db = openRelayDatabase(dir);
        try {
          return (db.prepare("SELECT actor, details, flagged FROM audit_log WHERE type = 'envelope.refused' ORDER BY seq").all() as { actor: string; details: string; flagged: number }[])
            .map((r) => ({ actor: r.actor, flagged: r.flagged, ...(JSON.parse(r.details) as { reason: string; episode: string; requests: number }) }));
        } finally {
          db.close();
        }
      };
      // While the flood lasts: its start (flagged) and its 10th refusal, with the count.
      const expected = [
        expect.objectContaining({ actor: addressKey(mallory.address), reason: 'SEND_RATE_LIMITED', episode: 'started', requests: 1, flagged: 1 }),
        expect.objectContaining({ reason: 'SEND_RATE_LIMITED', episode: 'ongoing', requests: 10, flagged: 0 }),
      ];
      expect(refusals()).toEqual(expected);
      await relay.kill();
      relay = await RelayProcess.start(dir);
      expect(refusals()).toEqual(expected);
    } finally {
      await relay.stop();
      removeDir(dir);
    }
  });
});
