import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageIdSchema, type MessageId } from '../../shared/ids';
import { PAYLOAD_VERSION, type Payload } from '../../shared/payload';
import { directConversationId } from '../../main/core/messaging/directConversation';
import { Ward } from '../fixtures/ward';
import { Clinician, addUser } from '../fixtures/relayProcess';
import { PASSWORD, until } from '../fixtures/workstation';

/*
 * Message ids are chosen by senders, so a message is a duplicate only from the same sender. Alice writes to Bob;
 * Mallory, who learnt the id, sends Bob a message under the same id (a real relay on loopback, Mallory a raw
 * protocol client that can put any id in its payload). Bob keeps both, Mallory's in its own conversation, and his
 * receipts name each message as its sender did; Mallory's message sent again under that id is stored once.
 */
describe('a message id another sender used', () => {
  let ward: Ward;
  let mallory: Clinician;

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee' });
    mallory = await Clinician.enroll(ward.relay.url, 'mallory', addUser(ward.relayDir, 'mallory', 'Dr. Mallory Vance'), PASSWORD);
    await mallory.connect();
  }, 120_000);

  afterAll(async () => {
    await mallory?.disconnect();
    await ward?.close();
  });

  it("keeps another sender's message under an id Bob holds, and a replay of it once", async () => {
    const [alice, bob] = [ward.station('alice'), ward.station('bob')];
    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ward.id('bob') });
    const { messageId } = await alice.call('messages.send', { conversationId: toBob, text: 'Bed 4: please review the chest drain' });
    await until(async () => (await bob.bodies(toBob)).includes('Bed 4: please review the chest drain'), "Alice's message at Bob");

    const withMallory = directConversationId(mallory.address.userId, ward.id('bob'));
    const forged = (text: string): Payload => ({ v: PAYLOAD_VERSION, type: 'text', messageId, conversationId: withMallory, sentAt: Date.now(), text });
    await mallory.send([ward.id('bob')], forged('Canteen closes at 7 tonight'));
    await until(async () => (await bob.bodies(withMallory)).includes('Canteen closes at 7 tonight'), "Mallory's message at Bob, under the id Alice used");
    // The same sender's id again: a replay, stored once.
    await mallory.send([ward.id('bob')], forged('Canteen closes at 7 tonight (again)'));
    await mallory.send([ward.id('bob')], forged('a third message under the same id'));
    await until(() => mallory.received.filter((m) => m.payload.type === 'receipt' && m.payload.receipt === 'delivered').length >= 1, 'the delivered receipt at Mallory');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await bob.bodies(withMallory)).toEqual(['Canteen closes at 7 tonight']);
    // Alice's message is untouched, and still hers.
    const [atBob] = await bob.call('messages.page', { conversationId: toBob, limit: 5 });
    expect(atBob).toMatchObject({ id: messageId, body: 'Bed 4: please review the chest drain', sender: { userId: ward.id('alice') } });

    // Bob reads Mallory's message: the read receipt names it by Mallory's id for it.
    await bob.call('conversations.markRead', { conversationId: withMallory });
    await until(() => mallory.received.some((m) => m.payload.type === 'receipt' && m.payload.receipt === 'read'), 'the read receipt at Mallory');
    const read = mallory.received.find((m) => m.payload.type === 'receipt' && m.payload.receipt === 'read')?.payload;
    expect(read).toMatchObject({ messageIds: [messageId as MessageId] });

    // Replies name a message by its sender's id for it, both ways: Bob's reply to Mallory's message reaches her
    // naming her id, and her reply to it is shown at Bob as a reply to her message, not to Alice's.
    const mallorys = (await bob.call('messages.page', { conversationId: withMallory, limit: 5 }))[0]!;
    expect(mallorys.id).not.toBe(messageId);
    await bob.call('messages.send', { conversationId: withMallory, text: 'Noted', replyTo: mallorys.id });
    await until(() => mallory.received.some((m) => m.payload.type === 'text' && m.payload.text === 'Noted'), "Bob's reply at Mallory");
    expect(mallory.received.find((m) => m.payload.type === 'text' && m.payload.text === 'Noted')?.payload).toMatchObject({ replyTo: messageId });
    const reply = MessageIdSchema.parse(crypto.randomUUID());
    await mallory.send([ward.id('bob')], { v: PAYLOAD_VERSION, type: 'text', messageId: reply, conversationId: withMallory, sentAt: Date.now(), text: 'Bring cash', replyTo: messageId });
    await until(async () => (await bob.bodies(withMallory)).includes('Bring cash'), "Mallory's reply at Bob");
    const [atBobReply] = await bob.call('messages.page', { conversationId: withMallory, limit: 1 });
    expect(atBobReply).toMatchObject({ body: 'Bring cash', replyTo: mallorys.id });
  }, 90_000);
});
