import { describe, expect, it } from 'vitest';
import { IdentityChangedError, NoSessionError, SafetyNumberMismatchError } from '../../main/core/errors';
import { TestDirectory, acknowledgeAll, ensureSessions, envelopesFor, newConversationId, newDevice, newUserId, seal, sendText, textPayload } from '../fixtures/protocolHarness';

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
    expect(a1.core.contactIdentities(b1.address.userId)).toEqual([{ address: b1.address, verified: true, changePending: null, changeDetectedAt: null, safetyNumber: fromAlice.digits }]);
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
    expect(a1.events).toEqual([{ type: 'identityChanged', userId: bob, address: b1.address, change: 'newKey', detectedAt: expect.any(Number) }]);

    // Sending is refused, verification is gone, and the safety number is a different one.
    await expect(a1.core.encryptDirect([b1.address], textPayload(conversation, 'blocked'))).rejects.toBeInstanceOf(IdentityChangedError);
    const after = a1.core.safetyNumber(b1.address);
    expect(a1.core.contactIdentities(bob)).toEqual([{ address: b1.address, verified: false, changePending: 'newKey', changeDetectedAt: expect.any(Number), safetyNumber: after.digits }]);
    expect(after.digits).not.toBe(before.digits);

    // Acknowledged: the stale session is gone, a new one starts from a fresh bundle, the message arrives.
    // Acknowledging the number the user was NOT shown does nothing.
    expect(await a1.core.acknowledgeIdentityChange(bob, [before.digits])).toBe(0);
    expect(await a1.core.acknowledgeIdentityChange(bob, [after.digits])).toBe(1);
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
    expect(await acknowledgeAll(a1.core, bob)).toBe(1);
    const [reply] = seal(a1, await a1.core.encryptDirect([b1.address], textPayload(conversation, 'welcome back')));
    expect((await b1New.core.decrypt(reply)).payload).toMatchObject({ text: 'welcome back' });
    // The old installation cannot read what is sent to the new one.
    await expect(b1.core.decrypt(reply)).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
  });

  it('a device that appears for a contact we already know is an identity change (no ghost devices)', async () => {
    const { directory, bob, a1, b1, conversation } = await establishedPair();
    const verified = a1.core.safetyNumber(b1.address).digits;
    await a1.core.markVerified(b1.address);

    // Whoever runs the relay publishes an extra "device" for Bob, with keys of their own.
    const ghost = await newDevice(directory, bob, 9);
    await expect(a1.core.startSessions([directory.bundle(ghost.address)])).rejects.toBeInstanceOf(IdentityChangedError);
    expect(a1.events.at(-1)).toMatchObject({ type: 'identityChanged', address: ghost.address, change: 'newDevice' });
    await expect(a1.core.encryptDirect([b1.address, ghost.address], textPayload(conversation, 'patient in bed 4'))).rejects.toBeInstanceOf(IdentityChangedError);
    // Bob's real device is still trusted and verified; only the new one waits for the user.
    expect(a1.core.contactIdentities(bob)).toEqual([
      { address: b1.address, verified: true, changePending: null, changeDetectedAt: null, safetyNumber: verified },
      { address: ghost.address, verified: false, changePending: 'newDevice', changeDetectedAt: expect.any(Number), safetyNumber: expect.stringMatching(/^\d{60}$/) },
    ]);

    // A message from such a device is read (nothing is lost) but flagged the same way.
    const carol = newUserId();
    const c1 = await newDevice(directory, carol, 1);
    const c2 = await newDevice(directory, carol, 2);
    const [fromC1] = envelopesFor(await sendText(c1, directory, [a1.address.userId], conversation, 'from device 1'), a1);
    await a1.core.decrypt(fromC1);
    await ensureSessions(a1, directory, [c1.address, c2.address]); // first send: Carol's device list is now known
    const c3 = await newDevice(directory, carol, 3);
    const [fromC3] = envelopesFor(await sendText(c3, directory, [a1.address.userId], conversation, 'from a new device'), a1);
    expect((await a1.core.decrypt(fromC3)).payload).toMatchObject({ text: 'from a new device' });
    expect(a1.core.contactIdentities(carol).map((c) => c.changePending)).toEqual([null, null, 'newDevice']);
  });

  it('a key that changes again while the user compares numbers stays blocked', async () => {
    const { directory, bob, a1, b1 } = await establishedPair();
    await newDevice(directory, bob, 1);
    await expect(a1.core.startSession(directory.bundle(b1.address))).rejects.toBeInstanceOf(IdentityChangedError);
    const shown = a1.core.contactIdentities(bob)[0]!.safetyNumber;
    // Before the user clicks "accept", the key changes once more.
    await newDevice(directory, bob, 1);
    await expect(a1.core.startSession(directory.bundle(b1.address))).rejects.toBeInstanceOf(IdentityChangedError);
    expect(await a1.core.acknowledgeIdentityChange(bob, [shown])).toBe(0);
    expect(a1.core.contactIdentities(bob)[0]!.changePending).toBe('newKey');
  });

  it('user ids are canonical lower-case UUIDs: an upper-case variant is refused, not a new contact', async () => {
    const { directory, alice, a1, b1, conversation } = await establishedPair();
    const [envelope] = envelopesFor(await sendText(b1, directory, [alice], conversation, 'hi'), a1);
    const shouted = { ...envelope!, sender: { ...envelope!.sender, userId: envelope!.sender.userId.toUpperCase() } };
    await expect(a1.core.decrypt(shouted)).rejects.toMatchObject({ code: 'MALFORMED_ENVELOPE' });
  });
});
