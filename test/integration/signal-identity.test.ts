import { describe, expect, it } from 'vitest';
import { IdentityChangedError, NoSessionError, SafetyNumberMismatchError } from '../../main/core/errors';
import { TestDirectory, envelopesFor, newConversationId, newDevice, newUserId, seal, sendText, textPayload } from '../fixtures/protocolHarness';

async function establishedPair() {
  const directory = new TestDirectory();
  const alice = newUserId();
  const bob = newUserId();
  const a1 = await newDevice(directory, alice, 1);
  const b1 = await newDevice(directory, bob, 1);
  const conversation = newConversationId();
  const hello = envelopesFor(await sendText(a1, directory, [bob], conversation, 'hello'), b1)[0]!;
  await b1.core.decrypt(hello);
  const reply = envelopesFor(await sendText(b1, directory, [alice], conversation, 'hi'), a1)[0]!;
  await a1.core.decrypt(reply);
  return { directory, alice, bob, a1, b1, conversation };
}

describe('safety numbers and identity changes', () => {
  it('gives both sides the same 60-digit safety number and a scannable code that matches', async () => {
    const { a1, b1 } = await establishedPair();
    const fromAlice = a1.core.safetyNumber(b1.address);
    const fromBob = b1.core.safetyNumber(a1.address);
    expect(fromAlice.digits).toMatch(/^\d{60}$/);
    expect(fromAlice.groups).toHaveLength(12);
    expect(fromAlice.digits).toBe(fromBob.digits);
    // Alice scans Bob's screen.
    expect(a1.core.compareScannedSafetyNumber(b1.address, fromBob.scannable)).toBe(true);
    expect(() => a1.core.compareScannedSafetyNumber(b1.address, new Uint8Array([1, 2, 3]))).toThrow(SafetyNumberMismatchError);
    await a1.core.markVerified(b1.address);
    expect(a1.core.contactIdentities(b1.address.userId)).toEqual([{ address: b1.address, verified: true, changePending: false, changeDetectedAt: null }]);
  });

  it('detects a new identity in a fetched bundle, blocks sending until acknowledged, and the safety number differs', async () => {
    const { directory, bob, a1, b1, conversation } = await establishedPair();
    const before = a1.core.safetyNumber(b1.address);
    await a1.core.markVerified(b1.address);

    // Bob's workstation is reinstalled: same device slot, new identity key, new keys on the relay.
    const b1New = await newDevice(directory, bob, 1);
    const error = await a1.core.startSession(directory.bundle(b1.address)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdentityChangedError);
    expect((error as IdentityChangedError).userId).toBe(bob);
    expect(a1.events).toEqual([{ type: 'identityChanged', userId: bob, address: b1.address, detectedAt: expect.any(Number) }]);

    // Sending is refused, verification is gone, and the safety number is a different one.
    await expect(a1.core.encryptDirect([b1.address], textPayload(conversation, 'blocked'))).rejects.toBeInstanceOf(IdentityChangedError);
    expect(a1.core.contactIdentities(bob)).toEqual([{ address: b1.address, verified: false, changePending: true, changeDetectedAt: expect.any(Number) }]);
    const after = a1.core.safetyNumber(b1.address);
    expect(after.digits).not.toBe(before.digits);

    // Acknowledged: the stale session is gone, a new one starts from a fresh bundle, the message arrives.
    expect(await a1.core.acknowledgeIdentityChange(bob)).toBe(1);
    await expect(a1.core.encryptDirect([b1.address], textPayload(conversation, 'x'))).rejects.toBeInstanceOf(NoSessionError);
    await a1.core.startSession(directory.bundle(b1.address));
    const [envelope] = seal(a1, await a1.core.encryptDirect([b1.address], textPayload(conversation, 'after acknowledging')));
    const { payload } = await b1New.core.decrypt(envelope);
    expect(payload).toMatchObject({ type: 'text', text: 'after acknowledging' });
    expect(b1New.core.safetyNumber(a1.address).digits).toBe(after.digits);
  });

  it('accepts a message from a changed identity (nothing is lost) but blocks the reply until acknowledged', async () => {
    const { directory, alice, bob, a1, b1, conversation } = await establishedPair();
    const b1New = await newDevice(directory, bob, 1);
    const [incoming] = envelopesFor(await sendText(b1New, directory, [alice], conversation, 'I reinstalled'), a1);
    const { payload } = await a1.core.decrypt(incoming);
    expect(payload).toMatchObject({ text: 'I reinstalled' });
    expect(a1.events.map((e) => e.type)).toEqual(['identityChanged']);

    await expect(a1.core.encryptDirect([b1.address], textPayload(conversation, 'reply'))).rejects.toBeInstanceOf(IdentityChangedError);
    expect(await a1.core.acknowledgeIdentityChange(bob)).toBe(1);
    const [reply] = seal(a1, await a1.core.encryptDirect([b1.address], textPayload(conversation, 'welcome back')));
    expect((await b1New.core.decrypt(reply)).payload).toMatchObject({ text: 'welcome back' });
    // The old installation cannot read what is sent to the new one.
    await expect(b1.core.decrypt(reply)).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
  });
});
