import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelayFailure } from '../../server/RelayFailure';
import type { RelayServer } from '../../server/RelayServer';
import type { ConversationId } from '../../shared/ids';
import { OLDER_RELAY_HTTP_REFUSAL, olderRelay, type OlderRelay } from '../fixtures/olderRelay';
import { VirtualWard, conversationBodies, delays, type Enrolled } from '../fixtures/virtualWard';
import { until } from '../fixtures/workstation';

/*
 * A workstation newer than its relay: a relay from before sends of no envelope refuses the check of one's own
 * workstations that a message with nobody else to go to is (BAD_REQUEST, with its schema's message). The workstation
 * reads the directory afresh before it counts such a message as sent to no one, tells IT once where that applies, and
 * mistakes no other refusal for that one. The relay runs in process on the virtual clock, behind the older relay's
 * refusals (test/fixtures/olderRelay.ts); own-workstations.test.ts has the same through the app.
 */
describe('a workstation through a relay from before sends of no envelope', () => {
  let ward: VirtualWard;
  let relay: RelayServer;
  let older: OlderRelay;

  beforeEach(async () => {
    ward = new VirtualWard();
    relay = await ward.startRelay({});
    older = await olderRelay(ward.url);
  });

  afterEach(async () => {
    await ward.close();
    await older.close();
  });

  const refusals = () => older.refused.http + older.refused.socket;
  const pending = (who: Enrolled, id: string) => who.client.pending([id as never]).size === 1;

  /** A care team `alice` made with Bob and then removed him from: she alone is left in it. */
  async function teamOfOne(alice: Enrolled, bob: Enrolled): Promise<ConversationId> {
    const team = alice.client.createCareTeam('Bay 2 night', [bob.userId]);
    alice.client.removeCareTeamMember(team, bob.userId);
    await until(() => alice.client.pendingCount() === 0, 'the team and its change sent');
    return team;
  }

  it('reaches a workstation of hers enrolled since her directory was read, with no warning', async () => {
    const alice = await ward.enroll('alice', { via: older.url });
    const bob = await ward.enroll('bob');
    const team = await teamOfOne(alice, bob);
    const desk = await ward.addWorkstation('alice');
    const sent = await alice.client.send(team, 'Bay 2 handover done');
    await until(() => conversationBodies(desk, team).includes('Bay 2 handover done'), 'the message on her new desk');
    await until(() => !pending(alice, sent), 'out of the outbox');
    expect(refusals()).toBeGreaterThan(0);
    expect(alice.warnings).toEqual([]);
  });

  it('counts a message with nobody to go to as sent after reading the directory afresh, and warns once', async () => {
    const alice = await ward.enroll('alice', { via: older.url });
    const bob = await ward.enroll('bob');
    const team = await teamOfOne(alice, bob);
    const sent = await alice.client.send(team, 'Bay 2 handover done');
    await until(() => !pending(alice, sent), 'counted as sent');
    await alice.client.send(team, 'Bay 2 quiet');
    await until(() => alice.client.pendingCount() === 0, 'the next one too');
    // Each message asked twice: refused, then again after the directory was read afresh, then counted as sent.
    expect(refusals()).toBe(4);
    // One warning per message counted so, carrying no id, text or name.
    expect(alice.warnings).toHaveLength(2);
    expect(alice.warnings[0]).toMatch(/BAD_REQUEST.*older than this workstation/);
    expect(alice.warnings.join(' ')).not.toMatch(/alice|Bay 2/);
    expect(alice.warnings.join(' ')).not.toContain(team);
  });

  it("keeps a message to a colleague still to enroll waiting, with no warning however often it is tried, until she enrolls", async () => {
    const alice = await ward.enroll('alice', { via: older.url });
    const carolAccount = await ward.addAccount('carol');
    const waiting = await alice.client.send(alice.client.openDirect(carolAccount.userId), 'Bed 9: handover at 19:00');
    await until(() => delays(alice).some((e) => e.messageId === waiting && e.reason === 'RECIPIENT_NOT_ENROLLED'), 'the wait reported');
    for (let i = 0; i < 3; i++) {
      const before = refusals();
      ward.time.advance(delays(alice).at(-1)!.retryAt - ward.time.now());
      await until(() => refusals() > before, 'tried again');
    }
    expect(pending(alice, waiting)).toBe(true);
    expect(alice.warnings).toEqual([]);
    const carol = await ward.enroll('carol', { enrollmentCode: carolAccount.enrollmentCode });
    ward.time.advance(delays(alice).at(-1)!.retryAt - ward.time.now());
    await until(() => conversationBodies(carol, alice.client.openDirect(carol.userId)).includes('Bed 9: handover at 19:00'), 'delivered once she enrolled');
    expect(alice.warnings).toEqual([]);
  });

  it('keeps a message in the outbox when its send is refused with BAD_REQUEST for any other reason', async () => {
    const alice = await ward.enroll('alice');
    const bob = await ward.enroll('bob');
    const team = await teamOfOne(alice, bob);
    const send = relay.messages.send.bind(relay.messages);
    const refuse = (message: string) => (relay.messages.send = () => Promise.reject(new RelayFailure('BAD_REQUEST', message)));
    // A send with envelopes refused with the older relay's very message: that relay takes those.
    refuse(OLDER_RELAY_HTTP_REFUSAL.message);
    const direct = await alice.client.send(alice.client.openDirect(bob.userId), 'Bed 7 obs due at 4');
    await alice.client.flushOutbox().catch(() => undefined);
    expect(pending(alice, direct)).toBe(true);
    relay.messages.send = send;
    await alice.client.flushOutbox();
    await until(() => conversationBodies(bob, alice.client.openDirect(bob.userId)).includes('Bed 7 obs due at 4'), 'it goes once the relay takes it');
    // A send of no envelope refused with another message (a regression of ours, say): not hidden as the older relay's.
    refuse('invalid request: allOwnDevices Invalid input');
    const alone = await alice.client.send(team, 'Bay 2 handover done');
    await alice.client.flushOutbox().catch(() => undefined);
    expect(pending(alice, alone)).toBe(true);
    expect(alice.warnings).toEqual([]);
    relay.messages.send = send;
    await alice.client.flushOutbox();
    expect(alice.client.pendingCount()).toBe(0);
  });
});
