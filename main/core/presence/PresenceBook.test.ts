import { describe, expect, it } from 'vitest';
import type { DeviceId, UserId } from '../../../shared/ids';
import { PresenceResponseSchema, type Presence, type PresenceSetRequest } from '../../../shared/wire/presence';
import { TestDirectory, ensureSessions, newDevice, newUserId, type TestDevice } from '../../../test/fixtures/protocolHarness';
import { PresenceBook, forwardingSignatures, type ForwardingRefusal, type PresenceRelay } from './PresenceBook';

const NOW = Date.UTC(2026, 11, 3, 9);
const HOUR = 3600_000;

/**
 * The book believes a colleague's forward-to only with the signature of one of their workstations this one
 * already knows, over exactly that forwarding (issue 19). The relay here is the adversary, so it is a stand-in
 * answering what a compromised relay would: no signature, a genuine signature under another colleague's name,
 * a workstation of the colleague's it invented and signed for itself, a time still to come.
 */
describe('PresenceBook and signed forwarding', async () => {
  const directory = new TestDirectory();
  const lee = newUserId();
  const patel = newUserId();
  const mallory = newUserId();
  const leeDevice = await newDevice(directory, lee, 1);
  const reader = await newDevice(directory, newUserId(), 1);
  // The reader has a session with Lee's workstation (it has messaged Lee): it holds that workstation's identity key.
  await ensureSessions(reader, directory, [leeDevice.address]);

  const signedBy = (device: TestDevice, forwardTo: NonNullable<Presence['forwardTo']>, at = NOW, until: number | null = null): Presence => {
    const proof = device.core.signForwarding({ status: 'offShift', forwardTo, until }, at);
    return { userId: lee, status: 'offShift', note: null, until, forwardTo, since: NOW, forwarding: { signer: device.address, ...proof } };
  };

  /** The relay's key directory, as a compromised relay would still answer it: Lee's real workstation only. */
  const bundles = { bundles: async (userId: UserId) => (userId === lee ? [directory.bundle(leeDevice.address)] : []) };

  const book = (answers: () => Presence[], clock = { now: () => NOW }, who: TestDevice = reader) => {
    const refusals: { user: string; to: string; reason: ForwardingRefusal }[] = [];
    const sent: PresenceSetRequest[] = [];
    const relay: PresenceRelay = {
      presence: async () => answers(),
      setPresence: async (request) => {
        sent.push(request);
        return { userId: reader.address.userId, status: request.update.status, note: null, until: request.update.until ?? null, forwardTo: null, since: NOW };
      },
    };
    return { refusals, sent, book: new PresenceBook(relay, who.address.userId, clock, forwardingSignatures(who.core, bundles, (d) => refusals.push(d))) };
  };
  const leeAsRead = async (b: PresenceBook) => (await b.read([lee])).find((p) => p.userId === lee);

  it('keeps a forward-to signed, over exactly what it says, by a workstation of theirs it knows', async () => {
    const { book: b, refusals } = book(() => [signedBy(leeDevice, { kind: 'user', userId: patel })]);
    expect(await leeAsRead(b)).toMatchObject({ forwardTo: { kind: 'user', userId: patel } });
    expect(refusals).toEqual([]);
  });

  it("reads a relay's answer without the signer's key, and an older relay's with one beside it, which it ignores", async () => {
    const answer = signedBy(leeDevice, { kind: 'user', userId: patel });
    const current = PresenceResponseSchema.parse({ presence: [answer] }).presence;
    // An older relay's answer: a key beside the proof (here not Lee's), never used to check it.
    const older = PresenceResponseSchema.parse({ presence: [{ ...answer, forwarding: { ...answer.forwarding!, identityKey: 'BQ==' } }] }).presence;
    for (const presence of [current, older]) {
      const { book: b, refusals } = book(() => presence);
      expect(await leeAsRead(b)).toMatchObject({ forwardTo: { kind: 'user', userId: patel } });
      expect(refusals).toEqual([]);
    }
  });

  it('meets the workstations of a colleague never written to, then believes their signature (a first message is forwarded too)', async () => {
    const stranger = await newDevice(directory, newUserId(), 1);
    const { book: b, refusals } = book(() => [signedBy(leeDevice, { kind: 'user', userId: patel })], { now: () => NOW }, stranger);
    expect(await leeAsRead(b)).toMatchObject({ forwardTo: { kind: 'user', userId: patel } });
    expect(stranger.core.hasSession(leeDevice.address)).toBe(true);
    expect(refusals).toEqual([]);
  });

  it('drops one unsigned, one signed over someone else, one from a workstation it never met, one from the future, one too long', async () => {
    // The relay invents Lee's "device 99", with a key of its own, and signs for it: the key it hands out beside is never used.
    const invented = await newDevice(new TestDirectory(), lee, 99);
    const cases: [Presence, ForwardingRefusal][] = [
      [{ ...signedBy(leeDevice, { kind: 'user', userId: patel }), forwarding: null }, 'UNSIGNED'],
      [{ ...signedBy(leeDevice, { kind: 'user', userId: patel }), forwardTo: { kind: 'user', userId: mallory } }, 'SIGNATURE_INVALID'],
      [signedBy(invented, { kind: 'user', userId: mallory }), 'UNKNOWN_SIGNER'],
      [signedBy(leeDevice, { kind: 'user', userId: patel }, NOW + 6 * 60_000), 'SIGNED_LATER'],
      [signedBy(leeDevice, { kind: 'user', userId: patel }, NOW - HOUR, NOW + 8 * 24 * HOUR), 'TOO_LONG'],
    ];
    for (const [answer, reason] of cases) {
      const { book: b, refusals } = book(() => [answer]);
      for (let i = 0; i < 3; i++) expect(await leeAsRead(b)).toMatchObject({ status: 'offShift', forwardTo: null, forwarding: null, forwardingUnverified: true });
      expect(b.known(lee).forwardTo).toBeNull();
      const to = answer.forwardTo?.kind === 'user' ? answer.forwardTo.userId : '';
      expect(refusals).toEqual([{ user: lee, to: `user:${to}`, reason }]);
    }
  });

  it('audits the same refusal at most once an hour, however the relay varies its answer', async () => {
    let now = NOW;
    let n = 0;
    const { book: b, refusals } = book(() => [{ ...signedBy(leeDevice, { kind: 'user', userId: patel }), forwardTo: { kind: 'user', userId: mallory }, since: NOW + ++n }], { now: () => now });
    for (let i = 0; i < 5; i++) await leeAsRead(b);
    expect(refusals).toHaveLength(1);
    now += HOUR;
    await leeAsRead(b);
    expect(refusals).toHaveLength(2);
  });

  it("signs the user's own forward-to, nothing without one, and nothing the relay would refuse as too long", async () => {
    const { book: b, sent } = book(() => []);
    await b.setOwn({ status: 'offShift', until: NOW + HOUR, forwardTo: { kind: 'user', userId: patel } });
    await b.setOwn({ status: 'busy' });
    await expect(b.setOwn({ status: 'offShift', until: NOW + 8 * 24 * HOUR, forwardTo: { kind: 'user', userId: patel } })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(sent).toEqual([
      { update: { status: 'offShift', until: NOW + HOUR, forwardTo: { kind: 'user', userId: patel } }, forwarding: { signedAt: NOW, signature: expect.stringMatching(/^[A-Za-z0-9+/]{86}==$/) } },
      { update: { status: 'busy' }, forwarding: null },
    ]);
  });

  it('refuses a forward-to signed by a workstation whose new key it has not acknowledged', async () => {
    // Lee's workstation 1 is set up again with a new identity (or a relay substitutes one): the reader meets the new key.
    const replaced = await newDevice(directory, lee, 1 as DeviceId as number);
    await reader.core.startSessions([directory.bundle(replaced.address)]).catch(() => undefined);
    const { book: b, refusals } = book(() => [signedBy(replaced, { kind: 'user', userId: mallory })]);
    expect(await leeAsRead(b)).toMatchObject({ forwardTo: null, forwardingUnverified: true });
    expect(refusals.map((r) => r.reason)).toEqual([expect.stringMatching(/^(SIGNER_UNCONFIRMED|SIGNATURE_INVALID)$/)]);
  });
});

