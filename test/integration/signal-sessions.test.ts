import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../shared/wire/envelope';
import { DuplicateMessageError, InvalidMessageError, NoSessionError, RoundsError, WrongRecipientError } from '../../main/core/errors';
import { fromBase64, toBase64 } from '../../main/core/crypto/encoding';
import {
  TestDirectory,
  envelopesFor,
  newConversationId,
  newDevice,
  newUserId,
  seal,
  sendText,
  textPayload,
  type TestDevice,
} from '../fixtures/protocolHarness';

async function textOf(device: TestDevice, envelope: Envelope): Promise<string> {
  const { payload } = await device.core.decrypt(envelope);
  if (payload.type !== 'text') throw new Error(`expected text, got ${payload.type}`);
  return payload.text;
}

async function twoUsersTwoDevicesEach() {
  const directory = new TestDirectory();
  const alice = newUserId();
  const bob = newUserId();
  const a1 = await newDevice(directory, alice, 1);
  const a2 = await newDevice(directory, alice, 2);
  const b1 = await newDevice(directory, bob, 1);
  const b2 = await newDevice(directory, bob, 2);
  return { directory, alice, bob, a1, a2, b1, b2, conversation: newConversationId() };
}

describe('1:1 sessions across devices', () => {
  it('first contact, reply, 1,000 alternating messages, out-of-order and lost deliveries', async () => {
    const { directory, alice, bob, a1, a2, b1, b2, conversation } = await twoUsersTwoDevicesEach();

    // First contact: Alice's device 1 to both of Bob's devices and to her own device 2.
    const first = await sendText(a1, directory, [bob], conversation, 'first contact');
    expect(first.map((e) => `${e.recipient.userId === bob ? 'bob' : 'alice'}.${e.recipient.deviceId}`).sort()).toEqual(['alice.2', 'bob.1', 'bob.2']);
    expect(first.every((e) => e.type === 'prekey')).toBe(true);
    for (const device of [b1, b2, a2]) expect(await textOf(device, envelopesFor(first, device)[0]!)).toBe('first contact');

    // Bob replies from device 2: reaches Alice's two devices and his own device 1.
    const reply = await sendText(b2, directory, [alice], conversation, 'reply');
    for (const device of [a1, a2, b1]) expect(await textOf(device, envelopesFor(reply, device)[0]!)).toBe('reply');

    // 1,000 alternating messages between the device pair a1 <-> b1, delivered in order. Until a1 has
    // heard from b1 its messages still carry the PreKey header; after the first reply they are plain.
    for (let i = 0; i < 1000; i++) {
      const [from, to] = i % 2 === 0 ? [a1, b1] : [b1, a1];
      const [envelope] = seal(from, await from.core.encryptDirect([to.address], textPayload(conversation, `m${i}`)));
      if (i >= 2) expect(envelope!.type).toBe('whisper');
      expect(await textOf(to, envelope!)).toBe(`m${i}`);
    }

    // 60 messages from b1 to a1, delivered shuffled, with every 7th never delivered: the rest all decrypt.
    const batch: Envelope[] = [];
    for (let i = 0; i < 60; i++) batch.push(...envelopesFor(await sendText(b1, directory, [alice], conversation, `late ${i}`), a1));
    const delivered = batch.filter((_, i) => i % 7 !== 3);
    const shuffled = [...delivered].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(shuffled.map((e) => e.id)).not.toEqual(delivered.map((e) => e.id));
    const received = new Set<string>();
    for (const envelope of shuffled) received.add(await textOf(a1, envelope));
    const expected = Array.from({ length: 60 }, (_, i) => `late ${i}`).filter((_, i) => i % 7 !== 3);
    expect([...received].sort()).toEqual(expected.sort());

    // After all that, a message to the skipped ones' sender still works both ways.
    const [back] = seal(a1, await a1.core.encryptDirect([b1.address], textPayload(conversation, 'still here')));
    expect(await textOf(b1, back!)).toBe('still here');
  });

  it('starts sessions on the last-resort Kyber key once one-time prekeys are exhausted', async () => {
    const directory = new TestDirectory();
    const bob = await newDevice(directory, newUserId(), 1, { batchSize: 2 });
    const conversation = newConversationId();
    const senders: TestDevice[] = [];
    for (let i = 0; i < 4; i++) senders.push(await newDevice(directory, newUserId(), 1));

    // Two senders use the one-time keys; the other two find none left.
    const bundles = senders.map(() => directory.bundle(bob.address));
    expect(bundles.map((b) => b.preKey !== undefined)).toEqual([true, true, false, false]);
    const lastResortId = bundles[3]!.kyberPreKey.keyId;
    expect(bundles[2]!.kyberPreKey.keyId).toBe(lastResortId);

    for (const [i, sender] of senders.entries()) {
      await sender.core.startSession(bundles[i]);
      const [envelope] = seal(sender, await sender.core.encryptDirect([bob.address], textPayload(conversation, `hello ${i}`)));
      expect(envelope!.type).toBe('prekey');
      expect(await textOf(bob, envelope!)).toBe(`hello ${i}`);
    }
    // The last-resort key is kept for the next newcomer; one-time keys are gone once used.
    expect(bob.storage.keys('preKey')).toEqual([]);
    expect(bob.storage.keys('kyberPreKey').length).toBe(1);
  });

  it('rejects a tampered ciphertext, a replay and a message for another device with typed errors', async () => {
    const { directory, bob, a1, b1, b2, conversation } = await twoUsersTwoDevicesEach();
    const first = await sendText(a1, directory, [bob], conversation, 'hello');
    const forB1 = envelopesFor(first, b1)[0]!;
    const forB2 = envelopesFor(first, b2)[0]!;

    // Message for another device.
    await expect(b1.core.decrypt(forB2)).rejects.toBeInstanceOf(WrongRecipientError);
    // Re-addressed to the wrong device: it is not encrypted for b1's keys.
    await expect(b1.core.decrypt({ ...forB2, recipient: b1.address })).rejects.toBeInstanceOf(InvalidMessageError);

    // Tampered first message: one byte flipped near the end (inside the authenticated ciphertext).
    const bytes = fromBase64(forB1.content);
    bytes[bytes.length - 12]! ^= 0x01;
    await expect(b1.core.decrypt({ ...forB1, content: toBase64(bytes) })).rejects.toBeInstanceOf(InvalidMessageError);
    // The genuine one still decrypts afterwards: the failed attempt changed nothing.
    expect(await textOf(b1, forB1)).toBe('hello');
    // Replay of the first message.
    await expect(b1.core.decrypt(forB1)).rejects.toBeInstanceOf(DuplicateMessageError);

    // The same for a later (whisper) message.
    const second = envelopesFor(await sendText(a1, directory, [bob], conversation, 'second'), b1)[0]!;
    const reply = envelopesFor(await sendText(b1, directory, [a1.address.userId], conversation, 'ack'), a1)[0]!;
    expect(await textOf(a1, reply)).toBe('ack');
    const third = envelopesFor(await sendText(a1, directory, [bob], conversation, 'third'), b1)[0]!;
    expect(third.type).toBe('whisper');
    const tampered = fromBase64(third.content);
    tampered[5]! ^= 0xff;
    await expect(b1.core.decrypt({ ...third, content: toBase64(tampered) })).rejects.toBeInstanceOf(InvalidMessageError);
    expect(await textOf(b1, third)).toBe('third');
    expect(await textOf(b1, second)).toBe('second');
    await expect(b1.core.decrypt(third)).rejects.toBeInstanceOf(DuplicateMessageError);
    await expect(b1.core.decrypt(second)).rejects.toBeInstanceOf(DuplicateMessageError);
  });

  it('refuses to encrypt for a device without a session, naming every such device', async () => {
    const { directory, bob, a1 } = await twoUsersTwoDevicesEach();
    const devices = directory.devicesOf(bob);
    const error = await a1.core.encryptDirect(devices, textPayload(newConversationId(), 'x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoSessionError);
    expect((error as NoSessionError).addresses).toHaveLength(2);
    expect((error as RoundsError).toJSON().code).toBe('NO_SESSION');
  });
});
