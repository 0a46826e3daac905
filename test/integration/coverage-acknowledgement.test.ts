import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageView } from '../../shared/contract';
import type { UserId } from '../../shared/ids';
import { DEFAULT_POLICY } from '../../shared/policy';
import { Ward } from '../fixtures/ward';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { Workstation, until } from '../fixtures/workstation';

/*
 * A colleague covering acknowledges an urgent message (issue 19), with a real relay on loopback: Alice works on
 * two workstations and sends from the first, which is then shut down; Bob is off shift and Carol covers. Carol's
 * acknowledgement reaches Alice's other workstation, which shows it and passes it on to Bob, and the first one once
 * it is back; Bob sees it once however many of Alice's workstations passed it on, and is no longer asked to
 * acknowledge what Carol acknowledged for him.
 */
describe('an acknowledgement by the colleague covering', () => {
  let ward: Ward;
  let alice2: Workstation;
  const dir = tempDataDir();

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel' });
    alice2 = new Workstation(dir);
    await alice2.addDevice(ward.relay.url, 'alice');
    await until(() => alice2.online(), "Alice's second workstation online");
  }, 120_000);

  afterAll(async () => {
    // (Alice's first workstation is restarted by the test; the ward closes whatever app it has then.)
    await alice2?.app.close();
    await ward?.close();
    removeDir(dir);
  });

  it("is shown on each of the sender's workstations, once at the absent one, who is not asked to acknowledge", async () => {
    const [alice, bob, carol] = [ward.station('alice'), ward.station('bob'), ward.station('carol')];
    const id = (u: string) => ward.id(u);
    await bob.call('presence.set', { status: 'offShift', forwardTo: { kind: 'user', userId: id('carol') } });
    await alice.call('presence.get', { userIds: [id('bob')] });
    // Alice's first workstation knows her second one before it sends (its copy goes there too).
    await alice.call('directory.list', {});
    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: id('bob') });
    const text = 'Bed 9: sats 84% on 4 L';
    const { messageId } = await alice.call('messages.send', { conversationId: toBob, text, urgent: true, urgentReason: DEFAULT_POLICY.urgentReasons[0]! });
    const at = async (w: Workstation, peer: UserId): Promise<MessageView | undefined> => {
      const conversation = (await w.call('conversations.list', {})).find((c) => c.peer === peer);
      return conversation && (await w.call('messages.page', { conversationId: conversation.id, limit: 10 })).find((m) => m.body === text);
    };
    await until(async () => (await at(alice2, id('bob')))?.id === messageId, "Alice's message on her second workstation");
    await until(async () => (await at(carol, id('alice')))?.urgency?.canAcknowledge === true, 'the covering copy at Carol');
    await until(async () => (await at(bob, id('alice')))?.urgency?.canAcknowledge === true, 'the message at Bob');
    // The workstation Alice sent from is shut down: her other one gets Carol's acknowledgement, shows it and passes it on.
    await alice.app.close();
    await carol.call('messages.acknowledge', { messageId: (await at(carol, id('alice')))!.id });
    await alice2.call('directory.list', {});
    await until(async () => ((await at(alice2, id('bob')))?.urgency?.acknowledgements.length ?? 0) > 0, "the acknowledgement on Alice's second workstation");
    await bob.call('directory.list', {});
    await until(async () => ((await at(bob, id('alice')))?.urgency?.acknowledgements.length ?? 0) > 0, 'the acknowledgement at Bob, from the second workstation');
    await alice.restart();

    const byCarol = { userId: id('carol'), name: 'Dr. Carol Patel', coveringFor: { userId: id('bob'), name: 'Dr. Bob Lee' } };
    for (const [w, name] of [[alice, 'first'], [alice2, 'second']] as const) {
      await w.call('directory.list', {});
      await until(async () => ((await at(w, id('bob')))?.urgency?.acknowledgements.length ?? 0) > 0, `the acknowledgement on Alice's ${name} workstation`);
      expect((await at(w, id('bob')))?.urgency?.acknowledgements).toEqual([expect.objectContaining(byCarol)]);
    }
    // Bob: told by Alice's workstations (one or both), shown once, and nothing left for him to acknowledge.
    // (Time for a second workstation's pass-on to arrive too.)
    await new Promise((r) => setTimeout(r, 1500));
    const atBob = (await at(bob, id('alice')))?.urgency;
    expect(atBob?.acknowledgements).toEqual([expect.objectContaining({ ...byCarol, coveringFor: { userId: id('bob'), name: 'you' } })]);
    expect(atBob?.canAcknowledge).toBe(false);
  }, 90_000);
});
