import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../shared/wire/envelope';
import { NoSenderKeyError } from '../../main/core/errors';
import { TestDirectory, ensureSessions, newConversationId, newDevice, newUserId, seal, textPayload, type TestDevice } from '../fixtures/protocolHarness';
import type { ConversationId } from '../../shared/ids';

/** Sends a care-team text and returns the envelopes (sender-key shares first, then the team message). */
async function teamSend(sender: TestDevice, directory: TestDirectory, team: ConversationId, members: readonly TestDevice[], text: string): Promise<Envelope[]> {
  const addresses = members.map((m) => m.address);
  await ensureSessions(sender, directory, addresses);
  const sent = await sender.core.encryptCareTeam(team, addresses, textPayload(team, text));
  return [...seal(sender, sent.senderKeyShares), ...seal(sender, sent.messages)];
}

/** Delivers every envelope addressed to `device` and returns the care-team texts it read. */
async function receive(device: TestDevice, envelopes: readonly Envelope[]): Promise<string[]> {
  const texts: string[] = [];
  for (const envelope of envelopes.filter((e) => e.recipient.userId === device.address.userId && e.recipient.deviceId === device.address.deviceId)) {
    const { payload, via } = await device.core.decrypt(envelope);
    if (payload.type === 'text') {
      expect(via).toBe('careTeam');
      texts.push(payload.text);
    }
  }
  return texts;
}

describe('care teams with sender keys', () => {
  it('50 members all read; a removed member cannot read anything sent after removal', async () => {
    const directory = new TestDirectory();
    const team = newConversationId();
    const lead = await newDevice(directory, newUserId(), 1);
    const members: TestDevice[] = [];
    for (let i = 0; i < 50; i++) members.push(await newDevice(directory, newUserId(), 1, { batchSize: 2 }));

    const first = await teamSend(lead, directory, team, members, 'handover at 7');
    expect(first.filter((e) => e.type === 'prekey')).toHaveLength(50);
    expect(first.filter((e) => e.type === 'senderkey')).toHaveLength(50);
    expect(new Set(first.filter((e) => e.type === 'senderkey').map((e) => e.content)).size).toBe(1);
    for (const member of members) expect(await receive(member, first)).toEqual(['handover at 7']);

    // Later messages need no new key shares.
    const second = await teamSend(lead, directory, team, members, 'bed 4 stable');
    expect(second.every((e) => e.type === 'senderkey')).toBe(true);
    for (const member of members) expect(await receive(member, second)).toEqual(['bed 4 stable']);

    // Another member writes to the team too, before the removal.
    const writer = members[3]!;
    const others = [lead, ...members.filter((m) => m !== writer)];
    const fromWriter = await teamSend(writer, directory, team, others, 'labs are back');
    for (const member of others) expect(await receive(member, fromWriter)).toEqual(['labs are back']);

    // Member 7 is removed. Everyone who sends next rotates: the new key reaches the 49 remaining only.
    const removed = members[7]!;
    const remaining = members.filter((m) => m !== removed);
    const afterRemoval = await teamSend(lead, directory, team, remaining, 'after removal');
    expect(afterRemoval.filter((e) => e.type === 'prekey' || e.type === 'whisper')).toHaveLength(49);
    for (const member of remaining) expect(await receive(member, afterRemoval)).toEqual(['after removal']);
    const fromWriterAfter = await teamSend(writer, directory, team, [lead, ...remaining.filter((m) => m !== writer)], 'writer after removal');
    for (const member of remaining.filter((m) => m !== writer)) expect(await receive(member, fromWriterAfter)).toEqual(['writer after removal']);

    // The removed member obtains the team ciphertexts anyway (say, from a compromised relay): unreadable.
    for (const leaked of [afterRemoval, fromWriterAfter]) {
      const teamMessage = leaked.find((e) => e.type === 'senderkey')!;
      await expect(removed.core.decrypt({ ...teamMessage, recipient: removed.address })).rejects.toBeInstanceOf(NoSenderKeyError);
    }
    // ...while it could read the messages from before its removal.
    const old = second.find((e) => e.recipient.userId === removed.address.userId)!;
    await expect(removed.core.decrypt(old)).rejects.toMatchObject({ code: 'DUPLICATE_MESSAGE' });
  });

  it('rotates on request and refuses a care-team message that names another conversation', async () => {
    const directory = new TestDirectory();
    const team = newConversationId();
    const lead = await newDevice(directory, newUserId(), 1);
    const member = await newDevice(directory, newUserId(), 1);
    const first = await teamSend(lead, directory, team, [member], 'one');
    expect(await receive(member, first)).toEqual(['one']);

    await lead.core.rotateCareTeamKey(team);
    const second = await teamSend(lead, directory, team, [member], 'two');
    // A fresh key share travels 1:1 again (still a PreKey message: the member never wrote back).
    expect(second.map((e) => e.type)).toEqual(['prekey', 'senderkey']);
    expect(await receive(member, second)).toEqual(['two']);

    await expect(lead.core.encryptCareTeam(team, [member.address], textPayload(newConversationId(), 'wrong team'))).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
  });
});
