import { describe, expect, it } from 'vitest';
import { TestDirectory, ensureSessions, envelopesFor, newConversationId, newDevice, newUserId, seal, sendText, textPayload } from '../../../test/fixtures/protocolHarness';
import { InMemoryProtocolStorage } from './InMemoryProtocolStorage';
import { ProtocolCore } from './ProtocolCore';
import { NoLocalIdentityError } from '../errors';

describe('ProtocolCore', () => {
  it('a failure while storing a decrypted message leaves nothing consumed: the message decrypts again', async () => {
    const directory = new TestDirectory();
    const alice = await newDevice(directory, newUserId(), 1);
    const bob = await newDevice(directory, newUserId(), 1);
    const [envelope] = envelopesFor(await sendText(alice, directory, [bob.address.userId], newConversationId(), 'do not lose me'), bob);
    const preKeysBefore = bob.storage.keys('preKey');

    const crash = bob.core.decrypt(envelope, { inTransaction: () => { throw new Error('disk full'); } });
    await expect(crash).rejects.toThrow('disk full');
    expect(bob.storage.keys('preKey')).toEqual(preKeysBefore);
    expect(bob.core.hasSession(alice.address)).toBe(false);

    const stored: string[] = [];
    await bob.core.decrypt(envelope, { inTransaction: (m) => { if (m.payload.type === 'text') stored.push(m.payload.text); } });
    expect(stored).toEqual(['do not lose me']);
    expect(bob.storage.keys('preKey')).toHaveLength(preKeysBefore.length - 1);
  });

  it('opens an existing device identity and refuses to open storage without one', async () => {
    const storage = new InMemoryProtocolStorage();
    const created = ProtocolCore.createDevice(storage, { userId: newUserId(), deviceId: 2 as never });
    const reopened = ProtocolCore.open(storage);
    expect(reopened.address).toEqual(created.address);
    expect(reopened.identityKey).toEqual(created.identityKey);
    expect(reopened.registrationId).toBe(created.registrationId);
    expect(() => ProtocolCore.open(new InMemoryProtocolStorage())).toThrow(NoLocalIdentityError);
  });

  it('a first message queued before a long absence still decrypts after the device rotates its keys', async () => {
    const DAY = 24 * 3600_000;
    let now = 100 * DAY;
    const clock = { now: () => now };
    const directory = new TestDirectory();
    const alice = await newDevice(directory, newUserId(), 1, { clock });
    const bob = await newDevice(directory, newUserId(), 1, { clock, batchSize: 1 });
    directory.bundle(bob.address); // the one-time keys are gone: the message uses signed + last-resort keys
    const [queued] = envelopesFor(await sendText(alice, directory, [bob.address.userId], newConversationId(), 'sent before the absence'), bob);
    now += 40 * DAY; // Bob's workstation was off; on return it rotates first, then fetches its queue
    await bob.core.keys.rotateSignedPreKeys();
    expect((await bob.core.decrypt(queued)).payload).toMatchObject({ text: 'sent before the absence' });
  });

  it('a failing event listener cannot undo a decryption that was stored', async () => {
    const directory = new TestDirectory();
    const alice = await newDevice(directory, newUserId(), 1);
    const storage = new InMemoryProtocolStorage();
    const bobAddress = { userId: newUserId(), deviceId: 1 as never };
    const bob = ProtocolCore.createDevice(storage, bobAddress, { onEvent: () => { throw new Error('renderer gone'); } });
    directory.publish(bobAddress, await bob.keys.initialUpload());
    await ensureSessions(alice, directory, [bobAddress]);
    const [first] = seal(alice, await alice.core.encryptDirect([bobAddress], textPayload(newConversationId(), 'one')));
    await bob.decrypt(first);
    // Alice reinstalls: the next message raises an identityChanged event, whose listener throws.
    const alice2 = await newDevice(directory, alice.address.userId, 1);
    await ensureSessions(alice2, directory, [bobAddress]);
    const [second] = seal(alice2, await alice2.core.encryptDirect([bobAddress], textPayload(newConversationId(), 'two')));
    const errors: string[] = [];
    const original = console.error;
    console.error = (line: string) => errors.push(line);
    try {
      expect((await bob.decrypt(second)).payload).toMatchObject({ text: 'two' });
    } finally {
      console.error = original;
    }
    expect(errors.join()).toContain('renderer gone');
  });

  it('a replayed first message against the last-resort Kyber key is a DUPLICATE_MESSAGE', async () => {
    const directory = new TestDirectory();
    const bob = await newDevice(directory, newUserId(), 1, { batchSize: 1 });
    directory.bundle(bob.address);
    const alice = await newDevice(directory, newUserId(), 1);
    const [first] = envelopesFor(await sendText(alice, directory, [bob.address.userId], newConversationId(), 'once'), bob);
    await bob.core.decrypt(first);
    // Bob's session is dropped (say, restored from an older backup): the replay must still be refused.
    bob.storage.commit(bob.storage.keys('session').map((key) => ({ ns: 'session' as const, key, value: null })));
    await expect(bob.core.decrypt(first)).rejects.toMatchObject({ code: 'DUPLICATE_MESSAGE' });
  });
});
