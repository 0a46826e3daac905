import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UiEvent } from '../../shared/contract';
import type { UserId } from '../../shared/ids';
import { Ward } from '../fixtures/ward';
import { until } from '../fixtures/workstation';

type PresenceEvent = Extract<UiEvent, { type: 'presence' }>;

/*
 * Presence changes reach the screens as they happen (issue 19): the relay tells every connected workstation whose
 * status changed (not the status), and those showing that colleague read it at once, checked as any read status
 * (a forward-to only when the colleague's own workstation signed it). The screens' one-minute reading stays as the
 * fallback; nothing here waits for it.
 */
describe('presence changes announced by the relay', () => {
  let ward: Ward;
  const statusesOf = (username: string, userId: UserId): PresenceEvent['presence'][] =>
    ward.station(username).events.filter((e): e is PresenceEvent => e.type === 'presence' && e.presence.userId === userId).map((e) => e.presence);

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel' });
  }, 90_000);
  afterAll(async () => ward?.close());

  it("shows a colleague's new status at once on the workstations that show that colleague", async () => {
    const [alice, bob, carol] = (['alice', 'bob', 'carol'] as const).map((u) => ward.station(u));
    const bobId = ward.id('bob');
    // Alice's screens show Bob (a conversation, a list); Carol's have never asked about him.
    await alice!.call('presence.get', { userIds: [bobId] });
    await bob!.call('presence.set', { status: 'inProcedure', note: 'Theatre 3' });
    await until(() => statusesOf('alice', bobId).some((p) => p.status === 'inProcedure'), "Bob's status read at Alice", 10_000);
    expect(statusesOf('alice', bobId).at(-1)).toMatchObject({ status: 'inProcedure', note: 'Theatre 3', since: expect.any(Number) });
    // And it is what the next read on Alice's workstation answers, without waiting for the relay.
    expect((await alice!.call('presence.get', { userIds: [bobId] })).find((p) => p.userId === bobId)?.status).toBe('inProcedure');
    // Bob's own workstation reads its own change too (another of his workstations would: Do not disturb applies there).
    await until(() => statusesOf('bob', bobId).some((p) => p.status === 'inProcedure'), 'his own status read again at Bob');
    // Carol's workstation shows nobody who is Bob: it reads nothing (and does not go and meet his devices).
    expect(statusesOf('carol', bobId)).toEqual([]);
    expect(carol!.events.some((e) => e.type === 'presence')).toBe(false);
  });

  it('reads an announced forward-to as any read one: kept because the absent colleague signed it', async () => {
    const [bobId, carolId] = [ward.id('bob'), ward.id('carol')];
    await ward.station('bob').call('presence.set', { status: 'offShift', forwardTo: { kind: 'user', userId: carolId } });
    await until(() => statusesOf('alice', bobId).some((p) => p.status === 'offShift'), 'the off-shift status read at Alice', 10_000);
    const pushed = statusesOf('alice', bobId).at(-1);
    expect(pushed).toMatchObject({ status: 'offShift', forwardTo: { kind: 'user', userId: carolId } });
    expect(pushed?.forwardingUnverified).toBeUndefined();
    // Back: Available again, pushed as well.
    await ward.station('bob').call('presence.set', { status: 'available' });
    await until(() => statusesOf('alice', bobId).at(-1)?.status === 'available', 'Available read at Alice', 10_000);
    expect(statusesOf('alice', bobId).at(-1)).toMatchObject({ forwardTo: null, note: null });
  });
});
