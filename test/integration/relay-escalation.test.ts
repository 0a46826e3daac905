/**
 * Issue 19 on the relay, in virtual time, on both stores: acknowledgements verified with the identity key the
 * acknowledging device uploaded (a forged or replayed one is refused), escalation rungs released at their time
 * and not before, an acknowledgement that stops the rest, and a relay restarted (SQLite) or a second instance
 * (PostgreSQL) while rungs are held: each released once, none lost.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import { EscalationService } from '../../server/escalation/EscalationService';
import { MessageService, REQUEST_LIMITS } from '../../server/MessageService';
import { DEFAULT_CONFIG } from '../../server/RelayConfig';
import { RelayFailure } from '../../server/RelayFailure';
import { openStore } from '../../server/openStore';
import { PostgresDatabase } from '../../server/storage/postgres/PostgresDatabase';
import { PostgresRelayStore } from '../../server/storage/postgres/PostgresRelayStore';
import type { RelayStore } from '../../server/storage/RelayStore';
import type { AcknowledgementStatement, SignedAcknowledgement } from '../../shared/acknowledgement';
import { ConversationIdSchema, MessageIdSchema, UserIdSchema, type DeviceAddress, type DeviceId, type EnvelopeId } from '../../shared/ids';
import { SENT_AT_WINDOW_MS, type EscalationRequest } from '../../shared/wire/escalation';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { onPostgres } from '../fixtures/postgres';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

const T0 = Date.UTC(2026, 11, 3, 10, 0);
const MINUTE = 60_000;
const LIMITS = { maxEnvelopeBytes: 64 * 1024, minFreeDiskBytes: 0 };

/** A store and how to open another on the same data (a restarted relay, or a second instance). */
interface Stores { readonly first: RelayStore; reopen(): Promise<RelayStore>; close(): Promise<void>; /** Whether the first stays open beside the other (two instances). */ readonly shared: boolean }

class World {
  now = T0;
  readonly clock = { now: () => this.now };
  readonly told: DeviceAddress[] = [];
  constructor(readonly store: RelayStore) {}
  service(store = this.store): EscalationService {
    return new EscalationService(store, this.clock, LIMITS, { envelopesQueued: (devices) => this.told.push(...devices) });
  }
  /** An active account with one device, whose protocol core holds its identity key. */
  async clinician(name: string): Promise<{ address: DeviceAddress; core: ProtocolCore }> {
    const userId = UserIdSchema.parse(randomUUID());
    await this.store.createUser({ id: userId, username: `${name}-${userId.slice(0, 6)}`, displayName: name, role: 'clinician', status: 'active', createdAt: T0, lastActiveAt: T0 }, sha256Hex(randomUUID()), T0 + MINUTE, []);
    const core = ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 2 } });
    const deviceId = await this.store.addDevice(userId, { name: 'ws', keys: await core.keys.initialUpload(), expiresAt: null, credentialHashFor: (id: DeviceId) => sha256Hex(`c-${id}`) }, T0, []);
    const address = { userId, deviceId };
    return { address, core: core.register(address) };
  }
}

/** alice's urgent message to bob: to carol after 5 minutes, to dave after 10. */
function ladder(alice: DeviceAddress, bob: DeviceAddress, carol: DeviceAddress, dave: DeviceAddress): EscalationRequest {
  const rung = (to: DeviceAddress, minutes: number) => ({ delayMs: minutes * MINUTE, recipients: [to.userId], envelopes: [{ id: randomUUID() as EnvelopeId, type: 'prekey' as const, recipient: to, content: 'AAAA' }] });
  return { escalationId: randomUUID(), messageId: MessageIdSchema.parse(randomUUID()), recipients: [bob.userId], rungs: [rung(carol, 5), rung(dave, 10)] };
}

async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  return error instanceof RelayFailure ? error.code : String(error);
}

type Clinician = Awaited<ReturnType<World['clinician']>>;

/** Runs `body` on new stores with four clinicians (alice, bob, carol, dave), and closes the stores after. */
async function withFour(open: () => Promise<Stores>, body: (world: World, service: EscalationService, people: [Clinician, Clinician, Clinician, Clinician]) => Promise<void>): Promise<void> {
  const stores = await open();
  try {
    const world = new World(stores.first);
    await body(world, world.service(), [await world.clinician('alice'), await world.clinician('bob'), await world.clinician('carol'), await world.clinician('dave')]);
  } finally {
    await stores.close();
  }
}

function escalationSuite(name: string, open: () => Promise<Stores>): void {
  describe(`acknowledgement and escalation on the relay: ${name}`, () => {
    it('records a genuine acknowledgement once and refuses forged and replayed ones', async () => {
      const stores = await open();
      try {
        const world = new World(stores.first);
        const service = world.service();
        const [alice, bob, carol] = [await world.clinician('alice'), await world.clinician('bob'), await world.clinician('carol')];
        const statement: AcknowledgementStatement = { messageId: MessageIdSchema.parse(randomUUID()), conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: bob.address, acknowledgedAt: T0 + MINUTE };
        const signed = bob.core.signAcknowledgement(statement);
        // Forged: carol's key signs a statement in bob's name, reported from bob's device.
        const forged: SignedAcknowledgement = { statement, signature: carol.core.signAcknowledgement({ ...statement, acknowledger: carol.address }).signature };
        expect(await refusal(service.acknowledge(bob.address, forged))).toBe('SIGNATURE_INVALID');
        // Replayed: bob's genuine signature, moved to another message or conversation.
        expect(await refusal(service.acknowledge(bob.address, { ...signed, statement: { ...statement, messageId: MessageIdSchema.parse(randomUUID()) } }))).toBe('SIGNATURE_INVALID');
        expect(await refusal(service.acknowledge(bob.address, { ...signed, statement: { ...statement, conversationId: ConversationIdSchema.parse(randomUUID()) } }))).toBe('SIGNATURE_INVALID');
        // Reported by another device than the one that signed.
        expect(await refusal(service.acknowledge(carol.address, signed))).toBe('FORBIDDEN');
        expect(await service.acknowledge(bob.address, signed)).toEqual({ recorded: true, cancelledRungs: 0 });
        expect(await service.acknowledge(bob.address, signed)).toEqual({ recorded: false, cancelledRungs: 0 });
        const audit = await stores.first.auditRecordsAfter(0, 1000, { types: ['message.acknowledged'] });
        expect(audit.map((r) => [r.actor, r.subject, r.details.signature, r.details.sender])).toEqual([[`${bob.address.userId}.${bob.address.deviceId}`, statement.messageId, signed.signature, alice.address.userId]]);
      } finally {
        await stores.close();
      }
    });

    it('releases each rung at its time, stops at an acknowledgement, and loses nothing across a restart', async () => {
      const stores = await open();
      try {
        const world = new World(stores.first);
        const service = world.service();
        const [alice, bob, carol, dave] = [await world.clinician('alice'), await world.clinician('bob'), await world.clinician('carol'), await world.clinician('dave')];
        const first = ladder(alice.address, bob.address, carol.address, dave.address);
        const second = ladder(alice.address, bob.address, carol.address, dave.address);
        expect((await service.hold(alice.address, first)).rungs.map((r) => r.dueAt)).toEqual([T0 + 5 * MINUTE, T0 + 10 * MINUTE]);
        await service.hold(alice.address, second);
        // bob acknowledges the first message at once: its ladder never goes anywhere.
        const ack = bob.core.signAcknowledgement({ messageId: first.messageId, conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: bob.address, acknowledgedAt: T0 + MINUTE });
        world.now = T0 + MINUTE;
        expect(await service.acknowledge(bob.address, ack)).toEqual({ recorded: true, cancelledRungs: 2 });
        world.now = T0 + 5 * MINUTE - 1;
        expect(await service.releaseDue()).toBe(0);

        // The relay stops with the second ladder held, and starts again (or another instance takes over).
        const restarted = await stores.reopen();
        const after = world.service(restarted);
        world.now = T0 + 5 * MINUTE;
        expect(await Promise.all([after.releaseDue(), stores.shared ? service.releaseDue() : 0]).then(([a, b]) => a + b)).toBe(1);
        expect(world.told).toEqual([carol.address]);
        expect((await restarted.queued(carol.address, 0, 10)).map((e) => e.id)).toEqual([second.rungs[0]!.envelopes[0]!.id]);
        expect(await after.releaseDue()).toBe(0);
        // carol acknowledges late (after the first rung reached her): dave never gets it.
        world.now = T0 + 7 * MINUTE;
        const late = carol.core.signAcknowledgement({ messageId: second.messageId, conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: carol.address, acknowledgedAt: world.now });
        expect(await after.acknowledge(carol.address, late)).toEqual({ recorded: true, cancelledRungs: 1 });
        world.now = T0 + 60 * MINUTE;
        expect(await after.releaseDue()).toBe(0);
        expect(await restarted.queued(dave.address, 0, 10)).toEqual([]);
        const state = await after.state(alice.address, second.escalationId);
        expect(state.acknowledged).toEqual({ by: carol.address.userId, at: T0 + 7 * MINUTE });
        expect(state.rungs.map((r) => [r.releasedAt, r.cancelledAt])).toEqual([[T0 + 5 * MINUTE, null], [null, T0 + 7 * MINUTE]]);
        expect(await refusal(after.state(bob.address, second.escalationId))).toBe('NOT_FOUND');
        const types = (await restarted.auditRecordsAfter(0, 1000, { types: ['escalation.held', 'escalation.released', 'escalation.cancelled'] })).map((r) => r.type);
        expect(types).toEqual(['escalation.held', 'escalation.held', 'escalation.cancelled', 'escalation.released', 'escalation.cancelled']);
      } finally {
        await stores.close();
      }
    });

    it('holds stopped a ladder that comes after its acknowledgement, and counts rungs from when the message went', () => withFour(open, async (world, service, [alice, bob, carol, dave]) => {
      // bob acknowledges before alice's workstation hands the ladder over (it was offline, or its first try was lost).
      const first = ladder(alice.address, bob.address, carol.address, dave.address);
      world.now = T0 + MINUTE;
      const ack = bob.core.signAcknowledgement({ messageId: first.messageId, conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: bob.address, acknowledgedAt: world.now });
      expect(await service.acknowledge(bob.address, ack)).toEqual({ recorded: true, cancelledRungs: 0 });
      world.now = T0 + 2 * MINUTE;
      const state = await service.hold(alice.address, { ...first, sentAt: T0 });
      expect(state.acknowledged).toEqual({ by: bob.address.userId, at: T0 + MINUTE });
      expect(state.rungs.map((r) => [r.dueAt, r.cancelledAt])).toEqual([[T0 + 5 * MINUTE, T0 + 2 * MINUTE], [T0 + 10 * MINUTE, T0 + 2 * MINUTE]]);
      world.now = T0 + 60 * MINUTE;
      expect(await service.releaseDue()).toBe(0);
      expect(await world.store.queued(carol.address, 0, 10)).toEqual([]);
      // A send time from a clock far behind counts as at most SENT_AT_WINDOW_MS back; one ahead counts as now.
      const old = await service.hold(alice.address, { ...ladder(alice.address, bob.address, carol.address, dave.address), sentAt: 0 });
      expect(old.rungs.map((r) => r.dueAt)).toEqual([world.now - SENT_AT_WINDOW_MS + 5 * MINUTE, world.now - SENT_AT_WINDOW_MS + 10 * MINUTE]);
      const ahead = await service.hold(alice.address, { ...ladder(alice.address, bob.address, carol.address, dave.address), sentAt: world.now + 60 * MINUTE });
      expect(ahead.rungs.map((r) => r.dueAt)).toEqual([world.now + 5 * MINUTE, world.now + 10 * MINUTE]);
    }));

    it('records an acknowledgement whose blob readers cannot be ended now, and logs that for housekeeping', () => withFour(open, async (world, _service, [alice, bob, carol, dave]) => {
      const logged: string[] = [];
      const failing = { ladderEnded: () => Promise.reject(new RelayFailure('RELAY_BUSY', 'the blob store is busy')) };
      const service = new EscalationService(world.store, world.clock, LIMITS, { envelopesQueued: () => undefined }, undefined, failing, (line) => logged.push(line));
      const first = ladder(alice.address, bob.address, carol.address, dave.address);
      await service.hold(alice.address, first);
      world.now = T0 + MINUTE;
      const ack = bob.core.signAcknowledgement({ messageId: first.messageId, conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: bob.address, acknowledgedAt: world.now });
      expect(await service.acknowledge(bob.address, ack)).toEqual({ recorded: true, cancelledRungs: 2 });
      expect(logged).toEqual([expect.stringMatching(new RegExp(`^escalation ${first.escalationId}: .*housekeeping.*the blob store is busy`))]);
    }));

    it('rate-limits acknowledgements like sends, and refuses them below the free-disk reserve', () => withFour(open, async (world, _service, [alice, bob]) => {
      const limited = new EscalationService(world.store, world.clock, LIMITS, { envelopesQueued: () => undefined }, new MessageService(world.store, world.clock, DEFAULT_CONFIG, { envelopesQueued: () => undefined, keysLow: () => undefined, canPushCommitted: () => false }));
      const report = (service: EscalationService) => service.acknowledge(bob.address, bob.core.signAcknowledgement({ messageId: MessageIdSchema.parse(randomUUID()), conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: bob.address, acknowledgedAt: world.now }));
      for (let i = 0; i < REQUEST_LIMITS.acknowledgement.perDevicePerMinute; i++) await report(limited);
      expect(await refusal(report(limited))).toBe('SEND_RATE_LIMITED');
      world.now += MINUTE;
      expect((await report(limited)).recorded).toBe(true);
      if (name !== 'SQLite') return; // The disk reserve is the data directory's (an embedded store's).
      const full = new EscalationService(world.store, world.clock, { ...LIMITS, minFreeDiskBytes: Number.MAX_SAFE_INTEGER }, { envelopesQueued: () => undefined });
      expect(await refusal(report(full))).toBe('RELAY_STORAGE_FULL');
    }));

    it("audits an acknowledgement at the relay's time, refuses one claiming a time far off, and marks one it cannot place self-reported", () => withFour(open, async (world, service, [alice, bob, carol, dave]) => {
      const request = ladder(alice.address, bob.address, carol.address, dave.address);
      await service.hold(alice.address, request);
      const sign = (by: typeof bob, messageId: EscalationRequest['messageId'], acknowledgedAt: number) => by.core.signAcknowledgement({ messageId, conversationId: ConversationIdSchema.parse(randomUUID()), sender: alice.address.userId, acknowledger: by.address, acknowledgedAt });
      world.now = T0 + 3 * MINUTE;
      // carol claims to acknowledge, back-dated to 1970, a message she never received: refused.
      expect(await refusal(service.acknowledge(carol.address, sign(carol, MessageIdSchema.parse(randomUUID()), 0)))).toBe('BAD_REQUEST');
      // Within a day, but of a message no ladder shows reached her: recorded as her own word.
      await service.acknowledge(carol.address, sign(carol, MessageIdSchema.parse(randomUUID()), T0 - 60 * MINUTE));
      // bob, whom the message went to, with his workstation's clock 2 minutes behind.
      expect(await service.acknowledge(bob.address, sign(bob, request.messageId, T0 + MINUTE))).toEqual({ recorded: true, cancelledRungs: 2 });
      const audit = await world.store.auditRecordsAfter(0, 1000, { types: ['message.acknowledged'] });
      expect(audit.map((r) => [r.actor.split('.')[0], r.details.acknowledgedAt, r.details.claimedAt, r.details.selfReported])).toEqual([
        [carol.address.userId, T0 + 3 * MINUTE, T0 - 60 * MINUTE, true],
        [bob.address.userId, T0 + 3 * MINUTE, T0 + MINUTE, undefined],
      ]);
    }));

    it("takes due times by the shared database's clock, whatever this instance's says (PostgreSQL)", () => withFour(open, async (world, _service, [alice, bob, carol, dave]) => {
      if (name === 'SQLite') return; // One relay alone on its data: its own clock is the only one.
      const real = Date.now();
      // This instance's clock runs an hour ahead of the database's (and of the other instances').
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(real + 60 * MINUTE);
      try {
        const service = new EscalationService(world.store, { now: () => Date.now() }, LIMITS, { envelopesQueued: () => undefined });
        const due = (await service.hold(alice.address, ladder(alice.address, bob.address, carol.address, dave.address))).rungs[0]!.dueAt;
        expect(due).toBeGreaterThan(real + 5 * MINUTE - 5000);
        expect(due).toBeLessThan(real + 5 * MINUTE + 30_000);
      } finally {
        vi.useRealTimers();
      }
    }));

    it('refuses a ladder whose rung misses a device of its recipient, or names someone else', async () => {
      const stores = await open();
      try {
        const world = new World(stores.first);
        const service = world.service();
        const [alice, bob, carol, dave] = [await world.clinician('alice'), await world.clinician('bob'), await world.clinician('carol'), await world.clinician('dave')];
        const request = ladder(alice.address, bob.address, carol.address, dave.address);
        const wrong = { ...request, rungs: [{ ...request.rungs[0]!, recipients: [dave.address.userId] }] };
        expect(await refusal(service.hold(alice.address, wrong))).toBe('BAD_REQUEST');
        await world.store.addDevice(carol.address.userId, { name: 'second', keys: await ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 1 } }).keys.initialUpload(), expiresAt: null, credentialHashFor: () => 'x' }, T0, []);
        expect(await refusal(service.hold(alice.address, request))).toBe('UNKNOWN_DEVICE');
      } finally {
        await stores.close();
      }
    });
  });
}

escalationSuite('SQLite', async () => {
  const dir = tempDataDir();
  const opened: RelayStore[] = [openStore(dir)];
  return {
    first: opened[0]!, shared: false,
    // A restart: the first store closes, then a new one opens the same data directory.
    reopen: async () => {
      await opened[0]!.close();
      const again = openStore(dir);
      opened.push(again);
      return again;
    },
    close: async () => {
      for (const s of opened.slice(1)) await s.close();
      removeDir(dir);
    },
  } satisfies Stores;
});

onPostgres('acknowledgement and escalation on the relay: PostgreSQL', (server) => {
  escalationSuite('PostgreSQL', async () => {
    const pg = await server();
    const url = await pg.newDatabase();
    const db = PostgresDatabase.connect({ url, password: pg.password });
    await db.migrate();
    const opened: RelayStore[] = [await PostgresRelayStore.open(db, { now: () => Date.now() })];
    return {
      first: opened[0]!, shared: true,
      // A second instance on the same database, racing the first.
      reopen: async () => {
        const second = await PostgresRelayStore.open(PostgresDatabase.connect({ url, password: pg.password }), { now: () => Date.now() });
        opened.push(second);
        return second;
      },
      close: async () => {
        for (const s of opened) await s.close();
      },
    } satisfies Stores;
  });
});
