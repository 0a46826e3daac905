/**
 * The RelayStore contract (relayStoreContract.ts): acknowledgements and escalation ladders (issue 19). A rung is
 * released once, by whichever instance gets it, and never after an acknowledgement that stopped its ladder; what
 * one instance held another releases (as a relay restarted, or another instance, would).
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import type { NewEscalation, ReleasedRung, VerifiedAcknowledgement } from '../../server/storage/EscalationStore';
import { MessageIdSchema, type DeviceAddress, type EnvelopeId } from '../../shared/ids';
import type { HoldLimits } from '../../server/storage/EscalationStore';
import { accepted, NOW, ROOMY, type ContractStores } from './relayStoreStores';

const MINUTE = 60_000;
const LIMITS: HoldLimits = { queue: ROOMY, maxLaddersPerAccount: 100, maxHeldBytesPerAccount: 1 << 30 };
const released = (r: ReleasedRung): AuditEvent => ({ type: 'escalation.released', actor: 'system', subject: r.escalationId, details: { rung: r.rung } });
const cancelledAudit = (c: { escalationId: string }): AuditEvent => ({ type: 'escalation.cancelled', actor: 'contract', subject: c.escalationId, details: {} });
const held = (id: string): AuditEvent[] => [{ type: 'escalation.held', actor: 'contract', subject: id, details: {} }];
const acknowledged = (subject: string) => (eligible: boolean): AuditEvent[] => [{ type: 'message.acknowledged', actor: 'contract', subject, details: { eligible } }];
const none = (): AuditEvent[] => [];

/** alice's urgent message to bob, escalating to carol after 5 minutes and to dave after 10. */
function ladder(alice: DeviceAddress, bob: DeviceAddress, carol: DeviceAddress, dave: DeviceAddress): NewEscalation {
  const envelope = (to: DeviceAddress) => ({ id: randomUUID() as EnvelopeId, type: 'prekey' as const, recipient: to, content: 'AAAA' });
  return {
    id: randomUUID(), messageId: MessageIdSchema.parse(randomUUID()), sender: alice, recipients: [bob.userId], createdAt: NOW,
    rungs: [{ dueAt: NOW + 5 * MINUTE, recipients: [carol.userId], envelopes: [envelope(carol)] }, { dueAt: NOW + 10 * MINUTE, recipients: [dave.userId], envelopes: [envelope(dave)] }],
  };
}

function ack(e: NewEscalation, by: DeviceAddress, at = NOW + 6 * MINUTE): VerifiedAcknowledgement {
  return { messageId: e.messageId, sender: e.sender.userId, acknowledger: by, acknowledgedAt: at, signature: 'A'.repeat(86) + '==', recordedAt: at };
}

export function relayStoreEscalations(t: ContractStores): void {
  it('holds a ladder once, releases each rung at its time once across two instances, and shows its progress', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const e = ladder(alice, bob, carol, dave);
    expect(await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit)).toBe('held');
    expect(await other.escalations.hold(e, LIMITS, held(e.id), cancelledAudit)).toBe('alreadyHeld');
    expect(await other.escalations.hold({ ...e, sender: bob }, LIMITS, held(e.id), cancelledAudit)).toBe('idTaken');
    // Nothing before its time; nothing is in carol's queue while it is held.
    expect(await other.escalations.releaseDue(NOW + 5 * MINUTE - 1, 10, released)).toEqual([]);
    expect(await store.queued(carol, 0, 10)).toEqual([]);
    // Both instances at once, at the time: the rung is released by one of them.
    const raced = (await Promise.all([store.escalations.releaseDue(NOW + 5 * MINUTE, 10, released), other.escalations.releaseDue(NOW + 5 * MINUTE, 10, released)])).flat();
    expect(raced.map((r) => [r.rung, r.recipients, r.delivered])).toEqual([[1, [carol.userId], [carol]]]);
    expect((await store.queued(carol, 0, 10)).map((q) => [q.id, q.sender, q.type])).toEqual([[e.rungs[0]!.envelopes[0]!.id, alice, 'prekey']]);
    expect(await store.escalations.releaseDue(NOW + 6 * MINUTE, 10, released)).toEqual([]);
    const state = await other.escalations.state(e.id, alice.userId);
    expect(state?.rungs.map((r) => [r.rung, r.dueAt, r.releasedAt, r.cancelledAt])).toEqual([[1, NOW + 5 * MINUTE, NOW + 5 * MINUTE, null], [2, NOW + 10 * MINUTE, null, null]]);
    expect(state?.acknowledged).toBeNull();
    // Only the sender's account reads it.
    expect(await store.escalations.state(e.id, bob.userId)).toBeUndefined();
    expect(await t.audit('escalation.held', 'escalation.released')).toEqual([['escalation.held', e.id], ['escalation.released', e.id]]);
  });

  it('stops the ladder at an acknowledgement by a recipient, once; a stranger\'s acknowledgement stops nothing', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const e = ladder(alice, bob, carol, dave);
    await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit);
    // carol is only on the first rung, not released yet: the relay does not know she saw it (self-reported).
    expect(await other.escalations.acknowledge(ack(e, carol), acknowledged(e.messageId), cancelledAudit)).toEqual({ recorded: true, eligible: false, cancelled: [] });
    await store.escalations.releaseDue(NOW + 5 * MINUTE, 10, released);
    // The first rung reached her: the same acknowledgement, reported again, now stops the second (nothing recorded twice).
    expect(await other.escalations.acknowledge(ack(e, carol), acknowledged(e.messageId), cancelledAudit)).toEqual({ recorded: false, eligible: true, cancelled: [{ escalationId: e.id, rungs: 1, acknowledger: carol }] });
    expect(await store.escalations.acknowledge(ack(e, carol), none, cancelledAudit)).toEqual({ recorded: false, eligible: true, cancelled: [] });
    expect(await store.escalations.releaseDue(NOW + 60 * MINUTE, 10, released)).toEqual([]);
    expect(await store.queued(dave, 0, 10)).toEqual([]);
    const state = await store.escalations.state(e.id, alice.userId);
    expect(state?.acknowledged).toEqual({ by: carol.userId, at: NOW + 6 * MINUTE });
    expect(state?.rungs.map((r) => [r.releasedAt !== null, r.cancelledAt !== null])).toEqual([[true, false], [false, true]]);
    const audit = await store.auditRecordsAfter(0, 1000, { types: ['message.acknowledged', 'escalation.cancelled'] });
    expect(audit.map((r) => [r.type, r.subject, r.details.eligible])).toEqual([['message.acknowledged', e.messageId, false], ['escalation.cancelled', e.id, undefined]]);
  });

  it('holds stopped a ladder whose message a recipient acknowledged before it came, and releases none of it', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const e = ladder(alice, bob, carol, dave);
    // bob acknowledges (and dave, never a recipient, claims to) before alice's workstation hands the ladder over.
    expect(await other.escalations.acknowledge(ack(e, dave, NOW - 2 * MINUTE), none, cancelledAudit)).toEqual({ recorded: true, eligible: false, cancelled: [] });
    expect(await other.escalations.acknowledge(ack(e, bob, NOW - MINUTE), none, cancelledAudit)).toEqual({ recorded: true, eligible: false, cancelled: [] });
    expect(await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit)).toBe('held');
    const state = await other.escalations.state(e.id, alice.userId);
    expect(state?.acknowledged).toEqual({ by: bob.userId, at: NOW - MINUTE });
    expect(state?.rungs.map((r) => [r.releasedAt, r.cancelledAt])).toEqual([[null, NOW], [null, NOW]]);
    expect(await other.escalations.releaseDue(NOW + 60 * MINUTE, 10, released)).toEqual([]);
    expect([...await store.queued(carol, 0, 10), ...await store.queued(dave, 0, 10)]).toEqual([]);
    expect(await t.audit('escalation.held', 'escalation.cancelled')).toEqual([['escalation.held', e.id], ['escalation.cancelled', e.id]]);
    // Reported again, bob's acknowledgement finds the ladder stopped already.
    expect(await store.escalations.acknowledge(ack(e, bob, NOW - MINUTE), none, cancelledAudit)).toEqual({ recorded: false, eligible: true, cancelled: [] });
  });

  it('never lets a hold and an acknowledgement racing on two instances leave the ladder running', async () => {
    const { store } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const ladders = [ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave)];
    await Promise.all(ladders.flatMap((e, i) => [t.either(i).escalations.hold(e, LIMITS, held(e.id), cancelledAudit), t.either(i + 1).escalations.acknowledge(ack(e, bob), none, cancelledAudit)]));
    for (const e of ladders) expect((await store.escalations.state(e.id, alice.userId))?.rungs.map((r) => r.cancelledAt !== null)).toEqual([true, true]);
  });

  it('never both releases and cancels a rung when an acknowledgement races its release on two instances', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const ladders = [ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave)];
    for (const e of ladders) await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit);
    await Promise.all(ladders.flatMap((e) => [other.escalations.acknowledge(ack(e, bob), none, cancelledAudit), store.escalations.releaseDue(NOW + 5 * MINUTE, 10, released)]));
    for (const e of ladders) {
      const rung = (await store.escalations.state(e.id, alice.userId))?.rungs[0];
      expect([rung?.releasedAt !== null, rung?.cancelledAt !== null]).not.toEqual([true, true]);
      expect([rung?.releasedAt !== null, rung?.cancelledAt !== null]).not.toEqual([false, false]);
    }
    const queuedForCarol = (await store.queued(carol, 0, 10)).length;
    const releasedRungs = (await t.audit('escalation.released')).length;
    expect(queuedForCarol).toBe(releasedRungs);
  });

  it('counts what ladders hold against the queues and the sender\'s share, and caps what one account holds', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    // carol's queue takes 4 envelopes, at most 2 from one account; each ladder holds one for carol, one for dave.
    const queue = { ...ROOMY, maxEnvelopes: 4, maxEnvelopesPerSender: 2 };
    const limits: HoldLimits = { queue, maxLaddersPerAccount: 100, maxHeldBytesPerAccount: 1 << 30 };
    const [first, second, third] = [ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave)];
    expect(await store.escalations.hold(first, limits, held(first.id), cancelledAudit)).toBe('held');
    // alice already has one envelope queued for carol: with the held one, her share is full.
    await store.enqueue([{ id: randomUUID() as EnvelopeId, type: 'prekey', sender: alice, recipient: carol, content: 'AAAA', acceptedAt: NOW }], accepted, ROOMY);
    expect(await other.escalations.hold(second, limits, held(second.id), cancelledAudit)).toBe('senderShareFull');
    // bob's envelopes fill the rest of carol's queue: nobody's ladder fits now.
    await store.enqueue([1, 2].map(() => ({ id: randomUUID() as EnvelopeId, type: 'prekey' as const, sender: bob, recipient: carol, content: 'AAAA', acceptedAt: NOW })), accepted, ROOMY);
    expect(await other.escalations.hold({ ...third, sender: dave, rungs: [third.rungs[0]!] }, limits, held(third.id), cancelledAudit)).toBe('queueFull');
    // Stopped, the first ladder holds nothing: alice's share has room again.
    await store.escalations.acknowledge(ack(first, bob), none, cancelledAudit);
    expect(await other.escalations.hold(second, limits, held(second.id), cancelledAudit)).toBe('held');
    // One account holds at most so many running ladders, and so many bytes.
    expect(await store.escalations.hold(third, { ...LIMITS, maxLaddersPerAccount: 1 }, held(third.id), cancelledAudit)).toBe('tooMuchHeld');
    expect(await store.escalations.hold(third, { ...LIMITS, maxHeldBytesPerAccount: 8 }, held(third.id), cancelledAudit)).toBe('tooMuchHeld');
    expect(await store.escalations.hold(third, { ...LIMITS, maxHeldBytesPerAccount: 12 }, held(third.id), cancelledAudit)).toBe('held');
  });

  it('releases a batch no larger than its content budget (at least one rung), the rest at the next call', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const ladders = [ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave)];
    for (const e of ladders) await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit);
    // Each first rung holds 4 characters: a budget of 5 stops after the second.
    expect(await store.escalations.releaseDue(NOW + 5 * MINUTE, 10, released, 5)).toHaveLength(2);
    expect(await other.escalations.releaseDue(NOW + 5 * MINUTE, 10, released, 0)).toHaveLength(1);
    expect(await store.escalations.releaseDue(NOW + 5 * MINUTE, 10, released, 0)).toEqual([]);
    expect(await store.queued(carol, 0, 10)).toHaveLength(3);
  });

  it('purges, past retention, finished ladders and acknowledgements, never a ladder with a rung to come', async () => {
    const { store, other } = t;
    const [alice, bob, carol, dave] = [await t.account(), await t.account(), await t.account(), await t.account()];
    const [stopped, running] = [ladder(alice, bob, carol, dave), ladder(alice, bob, carol, dave)];
    for (const e of [stopped, running]) await store.escalations.hold(e, LIMITS, held(e.id), cancelledAudit);
    await store.escalations.acknowledge(ack(stopped, bob), none, cancelledAudit);
    const purged = (c: { ladders: number; acknowledgements: number }): AuditEvent => ({ type: 'escalation.purged', actor: 'system', subject: '', details: { ...c } });
    expect(await other.escalations.purge(NOW, purged)).toEqual({ ladders: 0, acknowledgements: 0 });
    // Later than both were held and acknowledged: the stopped ladder and the acknowledgement go, the running one stays.
    expect(await other.escalations.purge(NOW + 60 * MINUTE, purged)).toEqual({ ladders: 1, acknowledgements: 1 });
    expect(await store.escalations.state(stopped.id, alice.userId)).toBeUndefined();
    expect((await store.escalations.state(running.id, alice.userId))?.rungs).toHaveLength(2);
    await store.escalations.releaseDue(NOW + 10 * MINUTE, 10, released);
    expect(await store.escalations.purge(NOW + 60 * MINUTE, purged)).toEqual({ ladders: 1, acknowledgements: 0 });
    expect(await t.audit('escalation.purged')).toEqual([['escalation.purged', ''], ['escalation.purged', '']]);
  });

  it("gives an active device's uploaded identity key, and none for a revoked one", async () => {
    const { store, other } = t;
    const alice = await t.account();
    expect(await other.escalations.identityKey(alice)).toBe(t.keys.identityKey);
    await store.revokeDevice(alice.userId, alice.deviceId, NOW, []);
    expect(await other.escalations.identityKey(alice)).toBeUndefined();
  });
}
