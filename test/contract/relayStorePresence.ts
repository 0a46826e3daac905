/**
 * The RelayStore contract (relayStoreContract.ts): presence (issue 19). A user's status is one row, replaced
 * by the next one set (through either instance) and gone when set back to Available; it is read for many
 * users at once; every change stores its audit record in the same transaction.
 */
import { expect, it } from 'vitest';
import type { DeviceId, UserId } from '../../shared/ids';
import { RoleIdSchema } from '../../shared/wire/roles';
import type { StoredPresence } from '../../server/storage/PresenceStore';
import { HOUR, NOW, type ContractStores } from './relayStoreStores';

const changed = (userId: UserId) => [{ type: 'presence.changed' as const, actor: `${userId}.1`, subject: userId, details: { status: 'x' } }];

const status = (userId: UserId, fields: Partial<StoredPresence> = {}): StoredPresence => ({
  userId, status: 'offShift', note: null, until: null, forwardTo: null, setAt: NOW, setBy: 1 as DeviceId, forwarding: null, ...fields,
});
/** A forward-to's proof as the service stores it (the store keeps it as given; the service verified it). */
const signed = { signedAt: NOW - 1000, signature: `${'A'.repeat(85)}w==`, identityKey: `B${'a'.repeat(43)}` };

export function relayStorePresence(t: ContractStores): void {
  it('keeps each user\'s status for every instance, replaced by the next one and gone at Available', async () => {
    const lee = await t.user();
    const patel = await t.user();
    const kim = await t.user();
    const roleId = RoleIdSchema.parse('6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9');
    await t.store.presence.setPresence(lee, status(lee, { note: 'Theatre 3', until: NOW + HOUR, forwardTo: { kind: 'user', userId: patel }, forwarding: signed }), changed(lee));
    await t.other.presence.setPresence(patel, status(patel, { status: 'doNotDisturb', forwardTo: { kind: 'role', roleId }, forwarding: signed }), changed(patel));
    const read = await t.other.presence.presenceOf([lee, patel, kim]);
    expect(read.sort((a, b) => a.userId.localeCompare(b.userId))).toEqual([
      status(lee, { note: 'Theatre 3', until: NOW + HOUR, forwardTo: { kind: 'user', userId: patel }, forwarding: signed }),
      status(patel, { status: 'doNotDisturb', forwardTo: { kind: 'role', roleId }, forwarding: signed }),
    ].sort((a, b) => a.userId.localeCompare(b.userId)));

    // The next status replaces it whole (no note left over), from the other instance too.
    await t.other.presence.setPresence(lee, status(lee, { status: 'busy', setAt: NOW + 1, setBy: 2 as DeviceId }), changed(lee));
    expect(await t.store.presence.presenceOf([lee])).toEqual([status(lee, { status: 'busy', setAt: NOW + 1, setBy: 2 as DeviceId })]);
    await t.store.presence.setPresence(lee, null, changed(lee));
    expect(await t.other.presence.presenceOf([lee, kim])).toEqual([]);
    expect(await t.store.presence.presenceOf([])).toEqual([]);
    expect((await t.audit('presence.changed')).map(([, subject]) => subject)).toEqual([lee, patel, lee, lee]);
  });

  it('ends with one status when two instances set it at once, each change audited', async () => {
    const lee = await t.user();
    await Promise.all(Array.from({ length: 6 }, (_, i) => t.either(i).presence.setPresence(lee, status(lee, { setAt: NOW + i }), changed(lee))));
    expect(await t.store.presence.presenceOf([lee])).toHaveLength(1);
    expect(await t.audit('presence.changed')).toHaveLength(6);
  });
}
