/**
 * What every RelayStore promises, written once against the interface (issue 17: one contract suite, two
 * stores). `relayStoreContract(name, open)` registers the suite for a store; SQLite runs it in
 * server/storage/sqlite/SqliteRelayStore.contract.test.ts, a PostgreSQL store will run the same.
 * The promises that matter most are the ones concurrency can break: a one-time prekey handed out once,
 * a TOTP step claimed once, queue limits that hold against senders racing, one audit chain.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import type { NewEnvelope, QueueLimits, RelayStore } from '../../server/storage/RelayStore';
import { UserIdSchema, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';

/** A fresh, empty store, and how to dispose of it (and of whatever holds its data) afterwards. */
export interface OpenedStore {
  readonly store: RelayStore;
  /**
   * Another store on the same data, as a second relay instance would open it: the races below run across
   * both, so that a store which serialises its own writes in one process still has to hold across two.
   */
  another(): Promise<RelayStore>;
  dispose(): Promise<void>;
}

const NOW = Date.UTC(2026, 11, 2, 9);
const ROOMY: QueueLimits = { maxEnvelopes: 1000, maxBytes: 1 << 30, maxEnvelopesPerSender: 1000, maxBytesPerSender: 1 << 30 };
const audited = (type: AuditEvent['type']) => (subject: { toString(): string }): AuditEvent => ({ type, actor: 'contract', subject: String(subject), details: {} });

async function keyUpload(oneTimeKeys: number): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: oneTimeKeys } }).keys.initialUpload();
}

export function relayStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`RelayStore contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: RelayStore;
    /** The same data through a second store (a second relay instance). */
    let other: RelayStore;
    let keys: KeyUpload;
    /** The store of the i-th of several racers: every other one goes through the second instance. */
    const either = (i: number) => (i % 2 === 0 ? store : other);

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
      other = await opened.another();
      keys ??= await keyUpload(5);
    });
    afterEach(async () => {
      await opened.dispose();
    });

    /** An active account with one device. */
    async function account(username = `u-${randomUUID().slice(0, 8)}`, upload = keys): Promise<DeviceAddress> {
      const userId = UserIdSchema.parse(randomUUID());
      await store.createUser({ id: userId, username, displayName: username, role: 'clinician', status: 'active', createdAt: NOW, lastActiveAt: NOW }, sha256Hex(randomUUID()), NOW + 3600_000, []);
      const deviceId = await store.addDevice(userId, { name: 'ws', keys: upload, expiresAt: null, credentialHashFor: () => sha256Hex(randomUUID()) }, NOW, []);
      return { userId, deviceId };
    }

    const envelope = (sender: DeviceAddress, recipient: DeviceAddress, content = 'AAAA'): NewEnvelope => ({ id: randomUUID() as EnvelopeId, type: 'whisper', sender, recipient, content, acceptedAt: NOW });
    const accepted = (e: NewEnvelope): AuditEvent => ({ type: 'envelope.accepted', actor: 'contract', subject: e.id, details: {} });

    it('finds accounts by id and username, and lists them', async () => {
      const alice = await account('alice');
      expect(await store.userById(alice.userId)).toMatchObject({ id: alice.userId, username: 'alice', status: 'active' });
      expect((await store.userByUsername('alice'))?.id).toBe(alice.userId);
      expect(await store.userByUsername('nobody')).toBeUndefined();
      expect((await store.listUsers()).map((u) => u.username)).toContain('alice');
    });

    it('hands each one-time prekey to one fetcher only, however many fetch at once', async () => {
      const bob = await account('bob', await keyUpload(5));
      const bundles = (await Promise.all(Array.from({ length: 12 }, (_, i) => either(i).takeBundles(bob.userId, undefined, audited('bundle.fetched'))))).flat();
      const handedOut = bundles.flatMap((b) => (b.preKey ? [b.preKey.keyId] : []));
      // Each of the five to one fetcher, none twice, none kept back while fetchers went without.
      expect(new Set(handedOut).size).toBe(handedOut.length);
      expect(handedOut).toHaveLength(5);
      // Past the stock every fetcher still gets the signed prekey and the last-resort Kyber key.
      expect(bundles).toHaveLength(12);
      expect(bundles.every((b) => b.signedPreKey && b.kyberPreKey)).toBe(true);
      expect(await store.keyCount(bob.userId, bob.deviceId)).toMatchObject({ preKeys: 0 });
    });

    it('lets one of two sign-ins with the same TOTP step through, and no earlier step after it', async () => {
      const alice = await account();
      const claims = await Promise.all([store.claimTotpStep(alice.userId, 1000), other.claimTotpStep(alice.userId, 1000)]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.claimTotpStep(alice.userId, 999)).toBe(false);
      expect(await store.claimTotpStep(alice.userId, 1001)).toBe(true);
    });

    it('queues in order, pages after a position, and removes only what the recipient acknowledges', async () => {
      const [alice, bob, carol] = [await account(), await account(), await account()];
      const sent = [envelope(alice, bob), envelope(alice, bob), envelope(alice, bob)];
      expect(await store.enqueue(sent, accepted, ROOMY)).toEqual(['queued', 'queued', 'queued']);
      const queued = await store.queued(bob, 0, 10);
      expect(queued.map((e) => e.id)).toEqual(sent.map((e) => e.id));
      expect(queued.map((e) => [e.sender, e.recipient, e.content, e.type])).toEqual(sent.map((e) => [alice, bob, e.content, 'whisper']));
      expect((await store.queued(bob, queued[0]!.seq, 10)).map((e) => e.id)).toEqual(sent.slice(1).map((e) => e.id));
      expect((await store.queued(bob, 0, 2)).map((e) => e.id)).toEqual(sent.slice(0, 2).map((e) => e.id));
      // Another device cannot acknowledge bob's envelopes away.
      expect(await store.acknowledge(carol, [sent[0]!.id], audited('envelope.delivered'))).toEqual([]);
      expect(await store.acknowledge(bob, [sent[0]!.id, sent[1]!.id], audited('envelope.delivered'))).toEqual([sent[0]!.id, sent[1]!.id]);
      expect((await store.queued(bob, 0, 10)).map((e) => e.id)).toEqual([sent[2]!.id]);
      // Accepted and delivered, each in the audit log once.
      const audit = await store.auditRecordsAfter(0, 1000, { types: ['envelope.accepted', 'envelope.delivered'] });
      expect(audit.map((r) => [r.type, r.subject])).toEqual([...sent.map((e) => ['envelope.accepted', e.id]), ['envelope.delivered', sent[0]!.id], ['envelope.delivered', sent[1]!.id]]);
    });

    it('takes a resend of a queued envelope, refuses another envelope with its id, and queues nothing for a revoked device', async () => {
      const [alice, bob] = [await account(), await account()];
      const first = envelope(alice, bob);
      await store.enqueue([first], accepted, ROOMY);
      expect(await store.enqueue([first], accepted, ROOMY)).toEqual(['alreadyQueued']);
      expect(await store.enqueue([{ ...first, content: 'BBBB' }], accepted, ROOMY)).toEqual(['idTaken']);
      await store.revokeDevice(bob.userId, bob.deviceId, NOW, []);
      expect(await store.queued(bob, 0, 10)).toEqual([]);
      expect(await store.enqueue([envelope(alice, bob)], accepted, ROOMY)).toEqual(['deviceGone']);
      expect((await store.controlEvents(0)).map((e) => [e.kind, e.userId, e.deviceId])).toEqual([['device.revoked', bob.userId, bob.deviceId]]);
    });

    it("holds a queue's limit and each sender's share of it against senders racing", async () => {
      const bob = await account();
      const senders = await Promise.all(Array.from({ length: 6 }, () => account()));
      const limits: QueueLimits = { maxEnvelopes: 10, maxBytes: 1 << 30, maxEnvelopesPerSender: 3, maxBytesPerSender: 1 << 30 };
      const outcomes = (await Promise.all(senders.flatMap((s, k) => Array.from({ length: 4 }, (_, i) => either(k + i).enqueue([envelope(s, bob)], accepted, limits))))).flat();
      expect(outcomes.filter((o) => o === 'queued')).toHaveLength(10);
      const queued = await store.queued(bob, 0, 100);
      expect(queued).toHaveLength(10);
      const perSender = new Map<UserId, number>();
      for (const e of queued) perSender.set(e.sender.userId, (perSender.get(e.sender.userId) ?? 0) + 1);
      expect(Math.max(...perSender.values())).toBeLessThanOrEqual(3);
      const atShare = senders.find((s) => perSender.get(s.userId) === 3);
      const belowShare = senders.find((s) => (perSender.get(s.userId) ?? 0) < 3)!;
      expect(await store.enqueue([envelope(belowShare, bob)], accepted, limits)).toEqual(['queueFull']);
      // Acknowledged envelopes make room again, for a sender below its share, not for one at it.
      await store.acknowledge(bob, queued.filter((e) => e.sender.userId !== atShare?.userId).slice(0, 2).map((e) => e.id), audited('envelope.delivered'));
      if (atShare) expect(await store.enqueue([envelope(atShare, bob)], accepted, limits)).toEqual(['senderShareFull']);
      expect(await store.enqueue([envelope(belowShare, bob)], accepted, limits)).toEqual(['queued']);
    });

    it('holds the byte limits of a queue and of a sender share, and takes or refuses one call\'s envelopes for a device together', async () => {
      const [alice, carol, bob] = [await account(), await account(), await account()];
      // 400 base64 characters: 300 bytes of ciphertext each.
      const big = (from: DeviceAddress) => envelope(from, bob, 'A'.repeat(400));
      const limits: QueueLimits = { maxEnvelopes: 100, maxBytes: 1000, maxEnvelopesPerSender: 100, maxBytesPerSender: 600 };
      expect(await store.enqueue([big(alice), big(alice), big(alice)], accepted, limits)).toEqual(['senderShareFull', 'senderShareFull', 'senderShareFull']);
      expect(await store.enqueue([big(alice), big(alice)], accepted, limits)).toEqual(['queued', 'queued']);
      expect(await store.enqueue([big(alice)], accepted, limits)).toEqual(['senderShareFull']);
      expect(await store.enqueue([big(carol), big(carol)], accepted, limits)).toEqual(['queueFull', 'queueFull']);
      const held = (await store.queued(bob, 0, 10))[0]!;
      expect(await store.enqueue([big(carol)], accepted, limits)).toEqual(['queued']);
      // A full queue still takes back an envelope it holds (a resend): accepted, not refused.
      expect(await store.enqueue([{ id: held.id, type: held.type, sender: held.sender, recipient: held.recipient, content: held.content, acceptedAt: held.acceptedAt }], accepted, limits)).toEqual(['alreadyQueued']);
      expect(await store.queued(bob, 0, 10)).toHaveLength(3);
    });

    it('queues nothing for a device revoked while sends race it', async () => {
      const [alice, bob] = [await account(), await account()];
      const sends = Array.from({ length: 10 }, (_, i) => either(i).enqueue([envelope(alice, bob)], accepted, ROOMY));
      const [outcomes] = await Promise.all([Promise.all(sends), other.revokeDevice(bob.userId, bob.deviceId, NOW, [])]);
      expect(outcomes.flat().every((o) => o === 'queued' || o === 'deviceGone')).toBe(true);
      expect(await store.queued(bob, 0, 100)).toEqual([]);
      expect(await store.enqueue([envelope(alice, bob)], accepted, ROOMY)).toEqual(['deviceGone']);
    });

    it('expires envelopes past retention, audited as one record with the count', async () => {
      const [alice, bob] = [await account(), await account()];
      await store.enqueue([{ ...envelope(alice, bob), acceptedAt: NOW - 10_000 }, envelope(alice, bob)], accepted, ROOMY);
      expect(await store.expireEnvelopes(NOW - 1, (count) => ({ type: 'envelope.expired', actor: 'system', subject: '', details: { count } }))).toBe(1);
      expect(await store.queued(bob, 0, 10)).toHaveLength(1);
      expect((await store.auditRecordsAfter(0, 1000, { types: ['envelope.expired'] })).map((r) => r.details)).toEqual([{ count: 1 }]);
      // What expired no longer counts against the queue.
      const tight: QueueLimits = { maxEnvelopes: 2, maxBytes: 1 << 30, maxEnvelopesPerSender: 2, maxBytesPerSender: 1 << 30 };
      expect(await store.enqueue([envelope(alice, bob)], accepted, tight)).toEqual(['queued']);
      expect(await store.enqueue([envelope(alice, bob)], accepted, tight)).toEqual(['queueFull']);
    });

    it('deactivates an account: every device revoked, queues emptied, one control event', async () => {
      const [alice, bob] = [await account(), await account()];
      await store.enqueue([envelope(alice, bob)], accepted, ROOMY);
      await store.deactivateUser(bob.userId, NOW, []);
      expect((await store.userById(bob.userId))?.status).toBe('deactivated');
      expect((await store.device(bob.userId, bob.deviceId))?.revokedAt).not.toBeNull();
      expect(await store.queued(bob, 0, 10)).toEqual([]);
      expect((await store.activeDevicesByUser(NOW)).has(bob.userId)).toBe(false);
      expect((await store.controlEvents(0)).map((e) => [e.kind, e.userId])).toEqual([['account.deactivated', bob.userId]]);
    });

    it('counts sign-in failures in a window and a streak until cleared', async () => {
      await store.recordLoginFailure(['user:alice', 'ip:10.0.0.1'], NOW - 5000, [], 'user:alice');
      await store.recordLoginFailure(['user:alice'], NOW, [], 'user:alice');
      expect(await store.loginFailures('user:alice', NOW - 60_000)).toHaveLength(2);
      expect(await store.loginFailures('user:alice', NOW - 1000)).toHaveLength(1);
      expect(await store.loginFailures('ip:10.0.0.1', NOW - 60_000)).toHaveLength(1);
      expect(await store.loginStreak('user:alice')).toBe(2);
      await store.clearLoginFailures('user:alice');
      expect(await store.loginStreak('user:alice')).toBe(0);
      expect(await store.loginFailures('user:alice', 0)).toEqual([]);
    });

    it('keeps one audit chain, in one order with no gap, under writers racing', async () => {
      const [alice, bob] = [await account(), await account()];
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => either(i).appendAudit([{ type: 'login.failure', actor: `racer-${i}`, subject: '', details: {} }])),
        ...Array.from({ length: 20 }, (_, i) => either(i + 1).enqueue([envelope(alice, bob)], accepted, ROOMY)),
      ]);
      const records = await store.auditRecordsAfter(0, 10_000);
      expect(records.map((r) => r.seq)).toEqual(records.map((_r, i) => records[0]!.seq + i));
      expect(records.filter((r) => r.type === 'envelope.accepted')).toHaveLength(20);
      expect(await store.checkAuditChain()).toMatchObject({ ok: true });
    });

    it('hands an emergency grant out once', async () => {
      const alice = await account();
      const grant = { id: randomUUID(), userId: alice.userId, codeHash: sha256Hex('code'), reason: 'ward 4 down', issuedAt: NOW, expiresAt: NOW + 3600_000, usedAt: null };
      await store.createEmergencyGrant(grant, []);
      expect((await store.emergencyGrants(alice.userId, NOW)).map((g) => g.id)).toEqual([grant.id]);
      const device = { name: 'emergency', keys, expiresAt: NOW + 3600_000, credentialHashFor: (_id: DeviceId) => sha256Hex(randomUUID()) };
      const uses = await Promise.allSettled([store.useEmergencyGrant(grant.id, device, NOW, []), other.useEmergencyGrant(grant.id, device, NOW, [])]);
      expect(uses.filter((u) => u.status === 'fulfilled')).toHaveLength(1);
      expect(uses.flatMap((u) => (u.status === 'rejected' ? [(u.reason as { code?: string }).code] : []))).toEqual(['INVALID_CODE']);
      expect(await store.emergencyGrants(alice.userId, NOW)).toEqual([]);
    });
  });
}
