import { describe, expect, it } from 'vitest';
import { TestDirectory, envelopesFor, newConversationId, newDevice, newUserId, sendText } from '../../../test/fixtures/protocolHarness';
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
});
