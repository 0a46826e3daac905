import { PrivateKey } from '@signalapp/libsignal-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceId, UserId } from '../../shared/ids';
import { forwardingSigningBytes } from '../../shared/wire/presence';
import { readBundle } from '../../server/audit/bundleFiles';
import { openRelayDatabase } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import { until, type Workstation } from '../fixtures/workstation';

const HOUR = 3600_000;

/*
 * Forwarding is the absent clinician's signed word, not the relay's (issue 19). Bob goes off shift and names
 * Carol; the relay's database is then changed, as a compromised relay would, to name Mallory instead. Alice's
 * workstation checks Bob's signature, finds it is not over Mallory, and sends her message to Bob alone: Mallory
 * receives nothing, Alice's screens show no forwarding, and her local audit log says why.
 */
describe('forwarding signed by the absent clinician', () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;
  let mallory: Workstation;
  let ids: Record<string, UserId>;

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel', mallory: 'Mal Lory' });
    [alice, bob, mallory] = [ward.station('alice'), ward.station('bob'), ward.station('mallory')];
    ids = ward.ids;
  }, 90_000);

  afterAll(async () => {
    await ward?.close();
  });

  const relayRow = () => {
    const db = openRelayDatabase(ward.relayDir);
    try {
      return db.prepare('SELECT forward_user, forward_signature, forward_identity_key FROM presence WHERE user_id = ?').get([ids.bob!]) as { forward_user: string | null; forward_signature: string | null; forward_identity_key: string | null } | undefined;
    } finally {
      db.close();
    }
  };
  const onRelay = (sql: string, params: unknown[]) => {
    const db = openRelayDatabase(ward.relayDir);
    try {
      db.prepare(sql).run(params as (string | number)[]);
    } finally {
      db.close();
    }
  };

  it('keeps the signature with the status on the relay, and a sender acts on it', async () => {
    const set = await bob.call('presence.set', { status: 'offShift', until: Date.now() + 2 * HOUR, forwardTo: { kind: 'user', userId: ids.carol! } });
    expect(set).toMatchObject({ forwardTo: { kind: 'user', userId: ids.carol }, forwarding: { signer: { userId: ids.bob }, signature: expect.any(String) } });
    expect(relayRow()).toMatchObject({ forward_user: ids.carol, forward_signature: expect.any(String), forward_identity_key: expect.any(String) });
    const [read] = await alice.call('presence.get', { userIds: [ids.bob!] }).then((all) => all.filter((p) => p.userId === ids.bob));
    expect(read).toMatchObject({ status: 'offShift', forwardTo: { kind: 'user', userId: ids.carol } });
  });

  it('sends nothing extra when the relay names someone the clinician did not sign for, and audits why', async () => {
    // What a compromised relay would do: the same signed row, another colleague in it.
    onRelay('UPDATE presence SET forward_user = ? WHERE user_id = ?', [ids.mallory!, ids.bob!]);
    const [read] = (await alice.call('presence.get', { userIds: [ids.bob!] })).filter((p) => p.userId === ids.bob);
    expect(read).toMatchObject({ status: 'offShift', forwardTo: null });

    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const { messageId } = await alice.call('messages.send', { conversationId: toBob, text: 'Bed 7: INR 4.1, warfarin held?' });
    expect((await alice.call('messages.page', { conversationId: toBob, limit: 1 }))[0]).toMatchObject({ id: messageId, coverage: null });
    await until(async () => (await bob.bodies(toBob)).includes('Bed 7: INR 4.1, warfarin held?'), 'the message at Bob');
    // Mallory has no conversation with Alice: nothing was sent her way (a copy would have been queued with the message).
    expect((await mallory.call('conversations.list', {})).find((c) => c.peer === ids.alice)).toBeUndefined();
    expect((await alice.call('conversations.list', {})).find((c) => c.peer === ids.mallory)).toBeUndefined();

    const events = new TextDecoder().decode(readBundle((await alice.call('audit.export', {})).path).get('events.jsonl')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: Record<string, unknown> });
    const refused = events.filter((e) => e.type === 'forwarding.refused');
    expect(refused).toEqual([expect.objectContaining({ details: { user: ids.bob, to: `user:${ids.mallory}`, reason: 'SIGNATURE_INVALID' } })]);
  });

  it('does not believe a workstation of the clinician it never met, whose key the relay hands out itself', async () => {
    // The relay invents Bob's "workstation 99", with a key of its own, and signs "forward to Mallory" for it.
    const invented = PrivateKey.generate();
    const signedAt = Date.now();
    const terms = { status: 'offShift' as const, forwardTo: { kind: 'user' as const, userId: ids.mallory! }, until: null };
    const signature = Buffer.from(invented.sign(forwardingSigningBytes({ userId: ids.bob!, deviceId: 99 as DeviceId }, terms, signedAt))).toString('base64');
    onRelay('UPDATE presence SET until = NULL, forward_user = ?, set_by_device = 99, forward_signed_at = ?, forward_signature = ?, forward_identity_key = ? WHERE user_id = ?',
      [ids.mallory!, signedAt, signature, Buffer.from(invented.getPublicKey().serialize()).toString('base64'), ids.bob!]);
    const [read] = (await alice.call('presence.get', { userIds: [ids.bob!] })).filter((p) => p.userId === ids.bob);
    expect(read).toMatchObject({ status: 'offShift', forwardTo: null, forwardingUnverified: true });
    const { conversationId: toBob } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    await alice.call('messages.send', { conversationId: toBob, text: 'Bed 9: chest pain settled' });
    expect((await alice.call('messages.page', { conversationId: toBob, limit: 1 }))[0]).toMatchObject({ coverage: null });
    await until(async () => (await bob.bodies(toBob)).includes('Bed 9: chest pain settled'), 'the message at Bob');
    expect((await mallory.call('conversations.list', {})).find((c) => c.peer === ids.alice)).toBeUndefined();
  });

  it('a forward-to whose signature is gone is not handed out by the relay at all', async () => {
    onRelay('UPDATE presence SET forward_user = ?, set_by_device = 1, forward_signature = NULL WHERE user_id = ?', [ids.carol!, ids.bob!]);
    const [read] = (await alice.call('presence.get', { userIds: [ids.bob!] })).filter((p) => p.userId === ids.bob);
    expect(read).toMatchObject({ status: 'offShift', forwardTo: null });
    await bob.call('presence.set', { status: 'available' });
  });
});
