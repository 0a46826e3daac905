import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AcknowledgementStatement, SignedAcknowledgement } from '../../../shared/acknowledgement';
import { MessageIdSchema, type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { AcknowledgementPayloadSchema, PAYLOAD_VERSION, type AcknowledgementPayload, type Payload } from '../../../shared/payload';
import { ensureSessions, newConversationId, newDevice, newUserId, TestDirectory, type TestDevice } from '../../../test/fixtures/protocolHarness';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import type { LocalAuditDetails, LocalAuditKind } from '../audit/LocalAudit';
import { ConversationStore } from '../storage/ConversationStore';
import { MessageStore } from '../storage/MessageStore';
import { OutboxStore } from '../storage/OutboxStore';
import { ProfileDatabase } from '../storage/ProfileDatabase';
import { UrgencyStore } from '../storage/UrgencyStore';
import { Acknowledgements } from './Acknowledgements';
import { PASS_ON_WAIT_MS, UrgentMessages } from './UrgentMessages';
import type { ClientContext } from './ClientContext';
import type { RelayClient } from './RelayClient';

/*
 * Alice's workstation receiving acknowledgements of her urgent message to Bob (issue 19): Bob's genuine one is
 * kept once; a forged one (another key), one relayed from another device, one moved to another message or
 * conversation, one about a message that is not urgent, and one by someone the message never went to are
 * refused, each with its reason in the local audit log. The colleague covering for Bob may acknowledge, only as
 * the one it was forwarded to. On Bob's side, one passed on by Alice (the sender) is kept, as her word while his
 * workstation cannot check the signer, and verified when it comes first hand; no one else may pass one on.
 */
describe('acknowledgements received', () => {
  let dir: string;
  let db: ProfileDatabase;
  let alice: TestDevice;
  let bob: TestDevice;
  let carol: TestDevice;
  let acks: Acknowledgements;
  let aliceUrgent: UrgentMessages;
  let urgent: MessageId;
  let plain: MessageId;
  let conversation: ConversationId;
  const audit: { type: LocalAuditKind; details: unknown }[] = [];

  let directory: TestDirectory;
  const opened: ProfileDatabase[] = [];

  /** A workstation's profile and its Acknowledgements, auditing into `into`. */
  function workstation(device: TestDevice, name: string, into: { type: LocalAuditKind; details: unknown }[]) {
    const profile = new ProfileDatabase(join(dir, `${name}.db`), Buffer.alloc(32, 7));
    opened.push(profile);
    const messages = new MessageStore(profile);
    const conversations = new ConversationStore(profile);
    const scheduler = virtualScheduler();
    const ctx: ClientContext = {
      self: device.address, db: profile, core: device.core, relay: {} as RelayClient, messages, conversations, outbox: new OutboxStore(profile),
      scheduler, logger: { error: () => undefined, warn: () => undefined, info: () => undefined } as unknown as ClientContext['logger'],
      running: () => true, audit: <K extends LocalAuditKind>(type: K, details: LocalAuditDetails[K]) => void into.push({ type, details }), emit: () => undefined, kick: () => undefined,
    };
    // Sending goes nowhere here: what is queued is noted (whom to, which payload type).
    const queued: { to: readonly UserId[]; type: string }[] = [];
    const sender = { queue: (to: readonly UserId[], p: Payload) => void queued.push({ to, type: p.type }), encryptFor: async () => [], readDirectory: async () => [] };
    return {
      db: profile, messages, conversations, scheduler, queued, acks: new Acknowledgements(ctx, new UrgencyStore(profile), () => undefined, () => undefined),
      urgentMessages: new UrgentMessages(ctx, sender, () => false, () => undefined, ['Deteriorating patient']),
    };
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rounds-acks-'));
    directory = new TestDirectory();
    [alice, bob, carol] = [await newDevice(directory, newUserId(), 1), await newDevice(directory, newUserId(), 1), await newDevice(directory, newUserId(), 1)];
    // Alice's workstation knows Bob's and Carol's identity keys (she has sessions with them).
    await ensureSessions(alice, directory, [bob.address, carol.address]);
    conversation = newConversationId();
    audit.length = 0;
    const at = workstation(alice, 'alice', audit);
    db = at.db;
    acks = at.acks;
    aliceUrgent = at.urgentMessages;
    at.conversations.ensureDirect(conversation, bob.address.userId, 0);
    [urgent, plain] = [MessageIdSchema.parse(crypto.randomUUID()), MessageIdSchema.parse(crypto.randomUUID())];
    at.messages.insert({ id: urgent, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1000, body: 'bed 3 sats 84%', replyTo: null, urgent: true, recipients: [bob.address.userId] });
    at.messages.insert({ id: plain, conversationId: conversation, sender: alice.address, sentAt: 1100, receivedAt: 1100, body: 'thanks', replyTo: null, urgent: false, recipients: [bob.address.userId] });
  });

  afterEach(() => {
    for (const profile of opened.splice(0)) profile.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const statement = (by: DeviceAddress, changes: Partial<AcknowledgementStatement> = {}): AcknowledgementStatement =>
    ({ messageId: urgent, conversationId: conversation, sender: alice.address.userId, acknowledger: by, acknowledgedAt: 2000, ...changes });
  const payload = (signed: SignedAcknowledgement): AcknowledgementPayload =>
    AcknowledgementPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'acknowledgement', conversationId: signed.statement.conversationId, ...signed, sentAt: 2000 });
  const refusals = () => audit.filter((a) => a.type === 'acknowledgement.refused').map((a) => (a.details as { reason: string }).reason);

  it("keeps Bob's genuine acknowledgement once, and refuses forged and replayed ones with why", () => {
    const genuine = bob.core.signAcknowledgement(statement(bob.address));
    // Forged: Carol's key, in Bob's name. Relayed: Bob's genuine one, arriving from Carol's device.
    const forged: SignedAcknowledgement = { statement: statement(bob.address), signature: carol.core.signAcknowledgement(statement(carol.address)).signature };
    expect(acks.receiveIn(payload(forged), bob.address)).toBe(false);
    expect(acks.receiveIn(payload(genuine), carol.address)).toBe(false);
    // Replayed: Bob's signature moved to the other message; Bob's own signature on the wrong conversation, on a
    // message that is not urgent, on a message Alice's workstation does not hold.
    expect(acks.receiveIn(payload({ ...genuine, statement: statement(bob.address, { messageId: plain }) }), bob.address)).toBe(false);
    expect(acks.receiveIn(payload(bob.core.signAcknowledgement(statement(bob.address, { conversationId: newConversationId() }))), bob.address)).toBe(false);
    expect(acks.receiveIn(payload(bob.core.signAcknowledgement(statement(bob.address, { messageId: plain }))), bob.address)).toBe(false);
    expect(acks.receiveIn(payload(bob.core.signAcknowledgement(statement(bob.address, { messageId: MessageIdSchema.parse(crypto.randomUUID()) }))), bob.address)).toBe(false);
    // Carol's own, genuine, but the message never went to her.
    expect(acks.receiveIn(payload(carol.core.signAcknowledgement(statement(carol.address))), carol.address)).toBe(false);
    expect(refusals()).toEqual(['SIGNATURE_INVALID', 'NOT_FROM_ACKNOWLEDGER', 'SIGNATURE_INVALID', 'WRONG_CONVERSATION', 'NOT_URGENT', 'UNKNOWN_MESSAGE', 'NOT_A_RECIPIENT']);
    expect(new UrgencyStore(db).acknowledgements(urgent)).toEqual([]);

    expect(acks.receiveIn(payload(genuine), bob.address)).toBe(true);
    // The same one again (first hand and passed on by the sender both arrive): kept once, and no refusal.
    expect(acks.receiveIn(payload(genuine), bob.address)).toBe(false);
    expect(refusals()).toHaveLength(7);
    // Another acknowledgement by Bob of the same message is one too many.
    expect(acks.receiveIn(payload(bob.core.signAcknowledgement(statement(bob.address, { acknowledgedAt: 2500 }))), bob.address)).toBe(false);
    expect(refusals().at(-1)).toBe('DUPLICATE');
    expect(new UrgencyStore(db).acknowledgements(urgent).map((a) => [a.statement.acknowledger, a.signature])).toEqual([[bob.address, genuine.signature]]);
    expect(audit.filter((a) => a.type === 'acknowledgement.received')).toHaveLength(1);
  });

  it("keeps the acknowledgement of the colleague the message was forwarded to, covering for Bob, and no one else's claim to cover", () => {
    const covering = carol.core.signAcknowledgement(statement(carol.address, { coveringFor: bob.address.userId }));
    // Before Alice's workstation forwarded anything to Carol, her claim to cover for Bob is refused.
    expect(acks.receiveIn(payload(covering), carol.address)).toBe(false);
    expect(refusals()).toEqual(['NOT_A_RECIPIENT']);
    new MessageStore(db).setCoverage(urgent, { kind: 'alsoSent', absent: bob.address.userId, status: 'offShift', to: [carol.address.userId] });
    // Covering for someone else than the absent one, or with the covering note taken off: not what she signed.
    expect(acks.receiveIn(payload(carol.core.signAcknowledgement(statement(carol.address, { coveringFor: alice.address.userId }))), carol.address)).toBe(false);
    expect(acks.receiveIn(payload({ ...covering, statement: statement(carol.address) }), carol.address)).toBe(false);
    expect(refusals()).toEqual(['NOT_A_RECIPIENT', 'NOT_A_RECIPIENT', 'SIGNATURE_INVALID']);
    expect(acks.receiveIn(payload(covering), carol.address)).toBe(true);
    expect(new UrgencyStore(db).acknowledgements(urgent)).toEqual([expect.objectContaining({ statement: expect.objectContaining({ coveringFor: bob.address.userId }), vouchedBy: null })]);
  });

  it("on Alice's other workstation: a covering acknowledgement that came before her copy to the colleague is checked again when it comes", () => {
    const covering = payload(carol.core.signAcknowledgement(statement(carol.address, { coveringFor: bob.address.userId })));
    // Carol's acknowledgement arrives first: this workstation does not know yet that the message went to her.
    expect(aliceUrgent.acknowledgementIn(covering, carol.address)).toBe(false);
    expect(refusals()).toEqual(['NOT_A_RECIPIENT']);
    // Then the copy Alice's other workstation forwarded to Carol, covering for Bob: kept now, with whom she covered for.
    new MessageStore(db).setCoverage(urgent, { kind: 'alsoSent', absent: bob.address.userId, status: 'offShift', to: [carol.address.userId] });
    aliceUrgent.coverageKnown(urgent);
    expect(new UrgencyStore(db).acknowledgements(urgent, alice.address.userId)).toEqual([expect.objectContaining({ signature: covering.signature, statement: expect.objectContaining({ coveringFor: bob.address.userId }) })]);
    expect(audit.filter((a) => a.type === 'acknowledgement.received')).toHaveLength(1);
    // Taken out once checked: nothing to check a second time.
    expect(new UrgencyStore(db).takeSetAside(urgent, alice.address.userId)).toEqual([]);
    // A refusal that is not about whom it reached is final, never set aside.
    expect(aliceUrgent.acknowledgementIn(payload(carol.core.signAcknowledgement(statement(carol.address, { acknowledgedAt: 0 }))), carol.address)).toBe(false);
    expect(new UrgencyStore(db).takeSetAside(urgent, alice.address.userId)).toEqual([]);
  });

  it("passes a covering acknowledgement on once: from the workstation Alice sent from, else from another of hers when that one's does not come", async () => {
    const covering = payload(carol.core.signAcknowledgement(statement(carol.address, { coveringFor: bob.address.userId })));
    const alsoSent = { kind: 'alsoSent' as const, absent: bob.address.userId, status: 'offShift' as const, to: [carol.address.userId] };
    // The workstation Alice sent from: at once, to Bob.
    const first = workstation(alice, 'alice-first', []);
    first.conversations.ensureDirect(conversation, bob.address.userId, 0);
    first.messages.insert({ id: urgent, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1000, body: 'bed 3 sats 84%', replyTo: null, urgent: true, recipients: [bob.address.userId] });
    first.messages.setCoverage(urgent, alsoSent);
    expect(first.urgentMessages.acknowledgementIn(covering, carol.address)).toBe(true);
    expect(first.queued).toEqual([{ to: [bob.address.userId], type: 'acknowledgement' }]);
    // Her other workstations: they wait for the first one's pass-on, and pass it on only when it does not come.
    const alice2 = await newDevice(directory, alice.address.userId, 2);
    await ensureSessions(alice2, directory, [carol.address, alice.address]);
    const others = ['second', 'third'].map((name) => {
      const w = workstation(alice2, `alice-${name}`, []);
      w.conversations.ensureDirect(conversation, bob.address.userId, 0);
      w.messages.insert({ id: urgent, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1100, body: 'bed 3 sats 84%', replyTo: null, urgent: true });
      w.messages.setCoverage(urgent, alsoSent);
      expect(w.urgentMessages.acknowledgementIn(covering, carol.address)).toBe(true);
      w.scheduler.advance(PASS_ON_WAIT_MS - 1);
      expect(w.queued).toEqual([]);
      return w;
    });
    // The second gets the first one's pass-on in time: nothing more from it. The third does not: it passes it on.
    expect(others[0]!.urgentMessages.acknowledgementIn(covering, alice.address)).toBe(false);
    for (const w of others) w.scheduler.advance(1);
    expect(others.map((w) => w.queued)).toEqual([[], [{ to: [bob.address.userId], type: 'acknowledgement' }]]);
  });

  it("at Bob's workstation: takes one passed on by the sender, as her word when it cannot check the signer, and no one else's", async () => {
    const atBob: { type: LocalAuditKind; details: unknown }[] = [];
    const bobs = workstation(bob, 'bob', atBob);
    const store = new UrgencyStore(bobs.db);
    bobs.conversations.ensureDirect(conversation, alice.address.userId, 0);
    const escalated = MessageIdSchema.parse(crypto.randomUUID());
    for (const id of [urgent, escalated]) bobs.messages.insert({ id, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1100, body: 'bed 3 sats 84%', replyTo: null, urgent: true });
    store.annotate(escalated, 'Deteriorating patient', { escalatesTo: [carol.address.userId] });
    const dave = await newDevice(directory, newUserId(), 1);
    const covering = payload(carol.core.signAcknowledgement(statement(carol.address, { coveringFor: bob.address.userId })));
    const stepped = payload(carol.core.signAcknowledgement(statement(carol.address, { messageId: escalated })));
    const bobRefusals = () => atBob.filter((a) => a.type === 'acknowledgement.refused').map((a) => (a.details as { reason: string }).reason);
    // Passed on by someone who did not send the message: refused, whatever it says.
    expect(bobs.acks.receiveIn(covering, dave.address)).toBe(false);
    expect(bobRefusals()).toEqual(['NOT_FROM_ACKNOWLEDGER']);
    // Passed on by Alice: Bob's workstation never met Carol's, so each is kept as Alice's word.
    expect(bobs.acks.receiveIn(covering, alice.address)).toBe(true);
    expect(bobs.acks.receiveIn(stepped, alice.address)).toBe(true);
    expect(store.acknowledgements(urgent)).toEqual([expect.objectContaining({ vouchedBy: alice.address.userId, statement: expect.objectContaining({ coveringFor: bob.address.userId }) })]);
    // Once Bob's workstation knows Carol's key, a forgery in her name passed on by Alice is refused.
    await ensureSessions(bob, directory, [carol.address]);
    const forged = payload({ statement: statement(carol.address, { acknowledgedAt: 2100 }), signature: dave.core.signAcknowledgement(statement(dave.address, { acknowledgedAt: 2100 })).signature });
    expect(bobs.acks.receiveIn(forged, alice.address)).toBe(false);
    expect(bobRefusals()).toEqual(['NOT_FROM_ACKNOWLEDGER', 'SIGNATURE_INVALID']);
    // Carol's own copy of the escalated one, first hand: verified now, and no second acknowledgement nor refusal.
    expect(bobs.acks.receiveIn(stepped, carol.address)).toBe(false);
    expect(store.acknowledgements(escalated).map((a) => a.vouchedBy)).toEqual([null]);
    expect(bobRefusals()).toHaveLength(2);
    // Her claim to have covered for Bob cannot be checked here first hand (only Alice's workstation knows): it stays Alice's word.
    expect(bobs.acks.receiveIn(covering, carol.address)).toBe(false);
    expect(bobRefusals().at(-1)).toBe('NOT_A_RECIPIENT');
    expect(store.acknowledgements(urgent).map((a) => a.vouchedBy)).toEqual([alice.address.userId]);
  });

  it("at Bob's workstation: a colleague's copy naming Alice's message as its original neither stands for nor blocks Bob's acknowledgement of it", async () => {
    const atBob: { type: LocalAuditKind; details: unknown }[] = [];
    const bobs = workstation(bob, 'bob', atBob);
    const store = new UrgencyStore(bobs.db);
    bobs.conversations.ensureDirect(conversation, alice.address.userId, 0);
    bobs.messages.insert({ id: urgent, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1100, body: 'bed 3 sats 84%', replyTo: null, urgent: true });
    // Mallory (Carol here) sends Bob an urgent "covering copy" whose original is Alice's real page.
    const fake = MessageIdSchema.parse(crypto.randomUUID());
    const withMallory = newConversationId();
    bobs.conversations.ensureDirect(withMallory, carol.address.userId, 0);
    bobs.messages.insert({ id: fake, conversationId: withMallory, sender: carol.address, sentAt: 1500, receivedAt: 1600, body: 'ignore', replyTo: null, urgent: true });
    bobs.messages.setCoverage(fake, { kind: 'forwarded', absent: alice.address.userId, status: 'offShift', original: urgent });
    // She passes on an "acknowledgement" in Bob's own name: refused (his own come first hand from his workstations).
    const inBobsName = payload({ statement: statement(bob.address, { sender: carol.address.userId, conversationId: withMallory }), signature: carol.core.signAcknowledgement(statement(carol.address)).signature });
    expect(bobs.acks.receiveIn(inBobsName, carol.address)).toBe(false);
    expect(atBob.filter((a) => a.type === 'acknowledgement.refused').map((a) => (a.details as { reason: string }).reason)).toEqual(['NOT_FROM_ACKNOWLEDGER']);
    // Bob acknowledges her copy: it is about her copy, not Alice's page (another sender's message is not its original).
    const onFake = bobs.acks.acknowledge(fake);
    expect(onFake.statement).toMatchObject({ messageId: fake, sender: carol.address.userId });
    expect(onFake.statement).not.toHaveProperty('coveringFor');
    // Alice's page still waits for Bob, and his acknowledgement of it goes through.
    expect(store.unacknowledged(bob.address.userId).map((m) => m.id)).toContain(urgent);
    const onReal = bobs.acks.acknowledge(urgent);
    expect(onReal.statement).toMatchObject({ messageId: urgent, sender: alice.address.userId });
    expect(store.acknowledgements(urgent, alice.address.userId).map((a) => a.signature)).toEqual([onReal.signature]);
    expect(store.unacknowledged(bob.address.userId).map((m) => m.id)).not.toContain(urgent);
  });

  it("at Bob's workstation: Mallory's urgent message under an id Bob holds is acknowledged, silenced and reported as hers, and only by her id for it", async () => {
    const atBob: { type: LocalAuditKind; details: unknown }[] = [];
    const bobs = workstation(bob, 'bob', atBob);
    const store = new UrgencyStore(bobs.db);
    bobs.conversations.ensureDirect(conversation, alice.address.userId, 0);
    bobs.messages.insert({ id: urgent, conversationId: conversation, sender: alice.address, sentAt: 1000, receivedAt: 1100, body: 'bed 3 sats 84%', replyTo: null, urgent: true });
    // Mallory (Carol's device here) sends Bob an urgent message under the id of Alice's: kept apart, under an id of Bob's own.
    const withMallory = newConversationId();
    bobs.conversations.ensureDirect(withMallory, carol.address.userId, 0);
    const local = bobs.messages.receive({ id: urgent, conversationId: withMallory, sender: carol.address, sentAt: 1500, receivedAt: 1600, body: 'call me', replyTo: null, urgent: true });
    expect(local).toBeDefined();
    expect(local).not.toBe(urgent);
    expect(store.unacknowledged(bob.address.userId).map((m) => m.id).sort()).toEqual([urgent, local!].sort());

    // Bob acknowledges Mallory's: it names her id for it, and her message no longer reminds him (after a restart too).
    const onMallorys = bobs.acks.acknowledge(local!);
    expect(onMallorys.statement).toMatchObject({ messageId: urgent, sender: carol.address.userId, conversationId: withMallory });
    expect(store.unacknowledged(bob.address.userId).map((m) => m.id)).toEqual([urgent]);
    // Alice's page still waits for him, and his acknowledgement of it is a second, reported on its own.
    bobs.acks.acknowledge(urgent);
    expect(store.unacknowledged(bob.address.userId)).toEqual([]);
    store.markReported(urgent, carol.address.userId, bob.address.userId, 5000);
    expect(store.unreported(bob.address.userId).map((a) => a.statement.sender)).toEqual([alice.address.userId]);
    // Alice's older page expires under the retention policy: Bob's acknowledgement of Mallory's stays with hers.
    expect(bobs.messages.deleteOlderThan(1200)).toBe(1);
    expect(store.acknowledgements(urgent).map((a) => a.statement.sender)).toEqual([carol.address.userId]);
    expect(store.unacknowledged(bob.address.userId)).toEqual([]);

    // Bob's other workstation's acknowledgement naming the id Bob's profile chose (no sender named it so): refused.
    const bob2 = await newDevice(directory, bob.address.userId, 2);
    await ensureSessions(bob, directory, [bob2.address]);
    const byLocal = payload(bob2.core.signAcknowledgement(statement(bob2.address, { messageId: local!, sender: carol.address.userId, conversationId: withMallory })));
    expect(bobs.acks.receiveIn(byLocal, bob2.address)).toBe(false);
    expect(atBob.filter((a) => a.type === 'acknowledgement.refused').map((a) => (a.details as { reason: string }).reason)).toEqual(['UNKNOWN_MESSAGE']);
    expect(store.acknowledgements(local!)).toEqual([]);
  });

  it('refuses an acknowledgement dated before its message was sent, or ahead of this clock', () => {
    const later = MessageIdSchema.parse(crypto.randomUUID());
    new MessageStore(db).insert({ id: later, conversationId: conversation, sender: alice.address, sentAt: 10 * 3600_000, receivedAt: 10 * 3600_000, body: 'bed 9 K+ 6.8', replyTo: null, urgent: true, recipients: [bob.address.userId] });
    const backdated = bob.core.signAcknowledgement(statement(bob.address, { messageId: later, acknowledgedAt: 3600_000 }));
    const ahead = bob.core.signAcknowledgement(statement(bob.address, { messageId: later, acknowledgedAt: 48 * 3600_000 }));
    expect(acks.receiveIn(payload(backdated), bob.address)).toBe(false);
    expect(acks.receiveIn(payload(ahead), bob.address)).toBe(false);
    expect(refusals()).toEqual(['TIME_IMPLAUSIBLE', 'TIME_IMPLAUSIBLE']);
  });
});
