import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UserIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import type { Presence, PresenceSetRequest } from '../../../shared/wire/presence';
import { ProtocolCore } from '../crypto/ProtocolCore';
import { InMemoryProtocolStorage } from '../crypto/InMemoryProtocolStorage';
import { PresenceBook, forwardingSignatures, type ForwardingRefusal, type PresenceRelay } from './PresenceBook';

const NOW = Date.UTC(2026, 11, 3, 9);
const user = (): UserId => UserIdSchema.parse(randomUUID());
const device = (userId: UserId) => ProtocolCore.createDevice(new InMemoryProtocolStorage(), null).register({ userId, deviceId: 1 as DeviceId });

/**
 * The book believes a colleague's forward-to only with their device's signature over exactly it (issue 19). The
 * relay here is the adversary, so it is a stand-in that answers what a compromised relay would: a forward-to
 * with no signature, with another colleague's name under a genuine signature, and one "signed" in the future.
 */
describe('PresenceBook and signed forwarding', () => {
  const lee = user();
  const patel = user();
  const mallory = user();
  const leeDevice = device(lee);
  const signed = (forwardTo: Presence['forwardTo'], signedAt = NOW): Presence => {
    const proof = leeDevice.signForwarding({ status: 'offShift', forwardTo: forwardTo!, until: null }, signedAt);
    return { userId: lee, status: 'offShift', note: null, until: null, forwardTo, since: NOW, forwarding: { signer: leeDevice.address, ...proof, identityKey: 'BQ==' } };
  };

  const book = (answers: Presence[]) => {
    const refusals: { user: string; to: string; reason: ForwardingRefusal }[] = [];
    const sent: PresenceSetRequest[] = [];
    const relay: PresenceRelay = {
      presence: async () => answers,
      setPresence: async (request) => {
        sent.push(request);
        return { userId: lee, status: request.update.status, note: null, until: null, forwardTo: request.update.forwardTo ?? null, since: NOW, forwarding: null };
      },
    };
    const reader = device(user());
    // The reader has met Lee's device: it trusts the key its sessions use (here: recorded as a contact would be).
    const trusting = { signForwarding: reader.signForwarding.bind(reader), forwardingTrusted: (p: Presence) => p.forwarding?.signer.userId === lee && leeDevice.forwardingTrusted(p) };
    return { refusals, sent, book: new PresenceBook(relay, reader.address.userId, { now: () => NOW }, forwardingSignatures(trusting, (d) => refusals.push(d))) };
  };

  it('keeps a forward-to signed over exactly what it says', async () => {
    const { book: b, refusals } = book([signed({ kind: 'user', userId: patel })]);
    expect((await b.read([lee])).find((p) => p.userId === lee)).toMatchObject({ forwardTo: { kind: 'user', userId: patel } });
    expect(refusals).toEqual([]);
  });

  it('drops one without a signature, one whose signature is over someone else, and one signed in the future; each audited once', async () => {
    const swapped = { ...signed({ kind: 'user', userId: patel }), forwardTo: { kind: 'user' as const, userId: mallory } };
    for (const [answer, reason] of [
      [{ ...signed({ kind: 'user', userId: patel }), forwarding: null }, 'UNSIGNED'],
      [swapped, 'SIGNATURE_INVALID'],
      [signed({ kind: 'user', userId: patel }, NOW + 6 * 60_000), 'SIGNED_LATER'],
    ] as const) {
      const { book: b, refusals } = book([answer]);
      for (let i = 0; i < 3; i++) expect((await b.read([lee])).find((p) => p.userId === lee)).toMatchObject({ status: 'offShift', forwardTo: null, forwarding: null });
      expect(b.known(lee).forwardTo).toBeNull();
      expect(refusals).toEqual([{ user: lee, to: `user:${answer.forwardTo?.kind === 'user' ? answer.forwardTo.userId : ''}`, reason }]);
    }
  });

  it("signs the user's own forward-to, and nothing without one", async () => {
    const { book: b, sent } = book([]);
    await b.setOwn({ status: 'offShift', until: NOW + 3600_000, forwardTo: { kind: 'user', userId: patel } });
    await b.setOwn({ status: 'busy' });
    expect(sent).toEqual([
      { update: { status: 'offShift', until: NOW + 3600_000, forwardTo: { kind: 'user', userId: patel } }, forwarding: { signedAt: NOW, signature: expect.stringMatching(/^[A-Za-z0-9+/]{86}==$/) } },
      { update: { status: 'busy' }, forwarding: null },
    ]);
  });
});
