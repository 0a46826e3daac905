import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageView } from '../../shared/contract';
import { DEFAULT_POLICY } from '../../shared/policy';
import type { RoleId } from '../../shared/wire/roles';
import { Ward } from '../fixtures/ward';
import { systemClock } from '../../server/Clock';
import { openStore } from '../../server/openStore';
import { RoleService } from '../../server/roles/RoleService';
import { until } from '../fixtures/workstation';

const HOUR = 3600_000;

/*
 * An escalation step to an on-call role (issue 19) goes to whoever the rota has on duty when the step is released,
 * not when the message was written: Bob hands "Medical registrar" over to Dave a few seconds after Alice writes,
 * before her step is due, and Dave gets it, Bob does not. With no one on the rota at the step's time, the step
 * goes to the role's backup then, and without a backup to whoever holds the role when the message is sent. A real relay on loopback, real time.
 */
describe('an escalation step to a role across a hand-over', () => {
  let ward: Ward;
  const ROLE_FIELDS = { name: 'Medical registrar', department: null, timeZone: 'Europe/London', backup: null };
  /** A role with its rota, written straight into the relay's store (the admin CLI takes seconds to start). */
  const roleWith = async (name: string, shifts: readonly { username: string; from: number; to: number }[], backup: { username: string } | null = null): Promise<RoleId> => {
    const store = openStore(ward.relayDir, systemClock, { create: false });
    try {
      const roles = new RoleService(store, () => Date.now());
      const role = await roles.createRole('admin:test', { ...ROLE_FIELDS, name, backup });
      for (const s of shifts) await roles.addShift('admin:test', role, { userId: ward.id(s.username), startsAt: s.from, endsAt: s.to }, 'cli');
      return role.id;
    } finally {
      await store.close();
    }
  };

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel', dave: 'Dr. Dave Obi' });
  }, 120_000);

  afterAll(async () => {
    await ward?.close();
  });

  const sent = async (text: string): Promise<MessageView | undefined> => {
    const { conversationId } = await ward.station('alice').call('conversations.openDirect', { userId: ward.id('carol') });
    return (await ward.station('alice').call('messages.page', { conversationId, limit: 10 })).find((m) => m.body === text);
  };
  const arrived = async (username: string, text: string): Promise<MessageView | undefined> => {
    const w = ward.station(username);
    const conversation = (await w.call('conversations.list', {})).find((c) => c.peer === ward.id('alice'));
    return conversation && (await w.call('messages.page', { conversationId: conversation.id, limit: 10 })).find((m) => m.body === text);
  };

  it('sends the step to the holder on duty when it is released', async () => {
    const handOver = Date.now() + 3000;
    const roleId = await roleWith('Medical registrar', [{ username: 'bob', from: Date.now() - HOUR, to: handOver }, { username: 'dave', from: handOver, to: handOver + 8 * HOUR }]);
    const alice = ward.station('alice');
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ward.id('carol') });
    const text = 'Bed 2: new AF, rate 160';
    // Written while Bob holds the role; its step is due six seconds later, after Dave took over.
    await alice.call('messages.send', { conversationId, text, urgent: true, urgentReason: DEFAULT_POLICY.urgentReasons[0]!, escalation: [{ afterMinutes: 0.1, to: [], role: roleId }] });
    expect(Date.now()).toBeLessThan(handOver);
    expect((await sent(text))?.urgency?.ladder?.steps.map((s) => [s.role, s.to.map((p) => p.userId)])).toEqual([['Medical registrar', [ward.id('dave')]]]);
    await until(async () => (await arrived('dave', text))?.urgency?.escalatedToMe != null, 'the step at Dave, on duty when it was released', 30_000);
    expect(await arrived('bob', text)).toBeUndefined();
  }, 60_000);

  it('sends the step to whoever holds the role now when the rota has no one at its time', async () => {
    const roleId = await roleWith('Night pharmacist', [{ username: 'bob', from: Date.now() - HOUR, to: Date.now() + HOUR }]);
    const alice = ward.station('alice');
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ward.id('carol') });
    const text = 'Bed 5: is IV vancomycin compatible with the TPN line?';
    await alice.call('messages.send', { conversationId, text, urgent: true, urgentReason: DEFAULT_POLICY.urgentReasons[0]!, escalation: [{ afterMinutes: 180, to: [], role: roleId }] });
    expect((await sent(text))?.urgency?.ladder?.steps.map((s) => [s.role, s.to.map((p) => p.userId)])).toEqual([['Night pharmacist', [ward.id('bob')]]]);
  });

  it("sends the step to the role's backup when the rota has no one at its time, not to whoever holds it now", async () => {
    const roleId = await roleWith('Stroke registrar', [{ username: 'bob', from: Date.now() - HOUR, to: Date.now() + HOUR }], { username: 'dave' });
    const alice = ward.station('alice');
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ward.id('carol') });
    const text = 'Bed 7: new left arm weakness, onset 20 minutes ago';
    await alice.call('messages.send', { conversationId, text, urgent: true, urgentReason: DEFAULT_POLICY.urgentReasons[0]!, escalation: [{ afterMinutes: 180, to: [], role: roleId }] });
    expect((await sent(text))?.urgency?.ladder?.steps.map((s) => [s.role, s.to.map((p) => p.userId)])).toEqual([['Stroke registrar', [ward.id('dave')]]]);
  });
});
