import { groupEncrypt } from '@signalapp/libsignal-client';
import { describe, expect, it } from 'vitest';
import type { ConversationId } from '../../shared/ids';
import type { Envelope } from '../../shared/wire/envelope';
import { InvalidMessageError, NoSenderKeyError } from '../../main/core/errors';
import { toBase64 } from '../../main/core/crypto/encoding';
import { encodePayload } from '../../main/core/crypto/payloadCodec';
import { toProtocolAddress } from '../../main/core/crypto/ProtocolContext';
import { SenderKeyStoreAdapter } from '../../main/core/crypto/signalStores';
import { StagedWrites } from '../../main/core/crypto/StagedWrites';
import {
  TestCareTeams,
  TestDirectory,
  acknowledgeAll,
  ensureSessions,
  newConversationId,
  newDevice,
  newUserId,
  seal,
  textPayload,
  type TestDevice,
} from '../fixtures/protocolHarness';

/** Sends a care-team text and returns the envelopes (sender-key shares first, then the team message). */
async function teamSend(sender: TestDevice, directory: TestDirectory, team: ConversationId, members: readonly TestDevice[], text: string): Promise<Envelope[]> {
  const addresses = members.map((m) => m.address);
  await ensureSessions(sender, directory, addresses);
  const sent = await sender.core.encryptCareTeam(team, addresses, textPayload(team, text));
  return [...seal(sender, sent.senderKeyShares), ...seal(sender, sent.messages)];
}

const forDevice = (envelopes: readonly Envelope[], device: TestDevice) =>
  envelopes.filter((e) => e.recipient.userId === device.address.userId && e.recipient.deviceId === device.address.deviceId);

/** Delivers every envelope addressed to `device` and returns the care-team texts it read. */
async function receive(device: TestDevice, envelopes: readonly Envelope[]): Promise<string[]> {
  const texts: string[] = [];
  for (const envelope of forDevice(envelopes, device)) {
    const { payload, via } = await device.core.decrypt(envelope);
    if (payload.type === 'text') {
      expect(via).toBe('careTeam');
      texts.push(payload.text);
    }
  }
  return texts;
}

async function team(size: number) {
  const directory = new TestDirectory();
  const teams = new TestCareTeams();
  const id = newConversationId();
  const lead = await newDevice(directory, newUserId(), 1, { careTeams: teams });
  const members: TestDevice[] = [];
  for (let i = 0; i < size; i++) members.push(await newDevice(directory, newUserId(), 1, { batchSize: 2, careTeams: teams }));
  teams.set(id, [lead, ...members].map((m) => m.address.userId));
  return { directory, teams, id, lead, members };
}

describe('care teams with sender keys', () => {
  it('50 members all read; a removed member cannot read anything sent after removal', async () => {
    const { directory, teams, id, lead, members } = await team(50);

    const first = await teamSend(lead, directory, id, members, 'handover at 7');
    expect(first.filter((e) => e.type === 'prekey')).toHaveLength(50);
    expect(first.filter((e) => e.type === 'senderkey')).toHaveLength(50);
    expect(new Set(first.filter((e) => e.type === 'senderkey').map((e) => e.content)).size).toBe(1);
    for (const member of members) expect(await receive(member, first)).toEqual(['handover at 7']);

    // Later messages need no new key shares.
    const second = await teamSend(lead, directory, id, members, 'bed 4 stable');
    expect(second.every((e) => e.type === 'senderkey')).toBe(true);
    for (const member of members) expect(await receive(member, second)).toEqual(['bed 4 stable']);

    // Another member writes to the team too, before the removal.
    const writer = members[3]!;
    const others = [lead, ...members.filter((m) => m !== writer)];
    const fromWriter = await teamSend(writer, directory, id, others, 'labs are back');
    for (const member of others) expect(await receive(member, fromWriter)).toEqual(['labs are back']);

    // Member 7 posts once, then is removed. Everyone who sends next rotates: the new key reaches the 49
    // remaining only.
    const removed = members[7]!;
    const fromRemoved = forDevice(await teamSend(removed, directory, id, [lead], 'before my removal'), lead);
    expect(await receive(lead, fromRemoved)).toEqual(['before my removal']);
    teams.remove(id, removed.address.userId);
    const remaining = members.filter((m) => m !== removed);
    const afterRemoval = await teamSend(lead, directory, id, remaining, 'after removal');
    expect(afterRemoval.filter((e) => e.type === 'prekey' || e.type === 'whisper')).toHaveLength(49);
    for (const member of remaining) expect(await receive(member, afterRemoval)).toEqual(['after removal']);
    const fromWriterAfter = await teamSend(writer, directory, id, [lead, ...remaining.filter((m) => m !== writer)], 'writer after removal');
    for (const member of remaining.filter((m) => m !== writer)) expect(await receive(member, fromWriterAfter)).toEqual(['writer after removal']);

    // The removed member obtains the team ciphertexts anyway (say, from a compromised relay): unreadable.
    for (const leaked of [afterRemoval, fromWriterAfter]) {
      const teamMessage = leaked.find((e) => e.type === 'senderkey')!;
      await expect(removed.core.decrypt({ ...teamMessage, recipient: removed.address })).rejects.toBeInstanceOf(NoSenderKeyError);
    }
    // And whatever it still sends with its old key is refused by the members.
    const [stillPosting] = forDevice(await teamSend(removed, directory, id, [lead], 'I am still here'), lead).filter((e) => e.type === 'senderkey');
    await expect(lead.core.decrypt(stillPosting!)).rejects.toBeInstanceOf(InvalidMessageError);
  });

  it('a member whose identity changed gets a new key; the holder of the old identity reads nothing more', async () => {
    const { directory, teams, id, lead, members } = await team(2);
    const [bob, carol] = members as [TestDevice, TestDevice];
    const before = await teamSend(lead, directory, id, members, 'before');
    for (const m of members) expect(await receive(m, before)).toEqual(['before']);

    // Bob's workstation is reimaged: same device slot, new identity. The lead learns of it and acknowledges.
    const bobNew = await newDevice(directory, bob.address.userId, 1, { careTeams: teams });
    await expect(lead.core.startSession(directory.bundle(bob.address))).rejects.toMatchObject({ code: 'IDENTITY_CHANGED' });
    await expect(lead.core.encryptCareTeam(id, members.map((m) => m.address), textPayload(id, 'blocked'))).rejects.toMatchObject({ code: 'IDENTITY_CHANGED' });
    expect(await acknowledgeAll(lead.core, bob.address.userId)).toBe(1);

    const after = await teamSend(lead, directory, id, [bobNew, carol], 'after reinstall');
    expect(await receive(bobNew, after)).toEqual(['after reinstall']);
    expect(await receive(carol, after)).toEqual(['after reinstall']);
    const teamMessage = after.find((e) => e.type === 'senderkey')!;
    await expect(bob.core.decrypt({ ...teamMessage, recipient: bob.address })).rejects.toBeInstanceOf(NoSenderKeyError);
  });

  it('refuses sender keys and messages from non-members, and team texts sent outside the team channel', async () => {
    const { directory, teams, id, lead, members } = await team(1);
    const [member] = members as [TestDevice];
    const outsider = await newDevice(directory, newUserId(), 1, { careTeams: teams });

    // The outsider builds its own "sender key for this team" and posts: the member refuses both.
    teams.set(id, [lead.address.userId, member.address.userId, outsider.address.userId]);
    const injected = await teamSend(outsider, directory, id, [member], 'INJECTED');
    teams.set(id, [lead.address.userId, member.address.userId]);
    const [share, post] = forDevice(injected, member);
    await expect(member.core.decrypt(share!)).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    await expect(member.core.decrypt(post!)).rejects.toBeInstanceOf(NoSenderKeyError);

    // A 1:1 text naming the team is not a team message.
    await ensureSessions(outsider, directory, [member.address]);
    const [direct] = seal(outsider, await outsider.core.encryptDirect([member.address], textPayload(id, 'posing as the team')));
    await expect(member.core.decrypt(direct!)).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
  });

  it('encrypts nothing, and fails nothing, for a team its sender alone is left in; the next member gets a working key', async () => {
    const { directory, id, lead, members } = await team(1);
    const [member] = members as [TestDevice];
    expect(await receive(member, await teamSend(lead, directory, id, [member], 'one'))).toEqual(['one']);
    // The member left: the key is rotated, and the next message is for nobody (only the sender's own device).
    await lead.core.rotateCareTeamKey(id);
    await expect(lead.core.encryptCareTeam(id, [lead.address], textPayload(id, 'alone now'))).resolves.toEqual({ senderKeyShares: [], messages: [] });
    // Someone is there again: the key goes to them first, and they read what follows.
    const again = await teamSend(lead, directory, id, [member], 'back again');
    expect(again.map((e) => e.type)).toEqual(['prekey', 'senderkey']);
    expect(await receive(member, again)).toEqual(['back again']);
  });

  it('keeps the key for a send to some of its readers; a holder who is not one of them makes a new key', async () => {
    const { directory, id, lead, members } = await team(2);
    const [bob, carol] = members as [TestDevice, TestDevice];
    await ensureSessions(lead, directory, [bob.address, carol.address]);
    const first = await lead.core.encryptCareTeam(id, [bob.address, carol.address], textPayload(id, 'one'));
    // Carol's queue was full: the message goes to her later, Bob (a reader who has it) keeps the key.
    const later = await lead.core.encryptCareTeam(id, [carol.address], textPayload(id, 'two'), [bob.address, carol.address]);
    expect(later).toMatchObject({ distributionId: first.distributionId, senderKeyShares: [] });
    expect(await receive(carol, [...seal(lead, first.senderKeyShares), ...seal(lead, first.messages), ...seal(lead, later.messages)])).toEqual(['one', 'two']);
    // A message Bob may not read (he is no reader of it): he holds the key, so it is a new one, given to Carol alone.
    const without = await lead.core.encryptCareTeam(id, [carol.address], textPayload(id, 'three'));
    expect(without.distributionId).not.toBe(first.distributionId);
    expect(without.senderKeyShares.map((s) => s.recipient)).toEqual([carol.address]);
    expect(await receive(carol, [...seal(lead, without.senderKeyShares), ...seal(lead, without.messages)])).toEqual(['three']);
    // The same bytes handed to Bob (as a relay could): he has no key for them.
    const [forCarol] = seal(lead, without.messages);
    await expect(bob.core.decrypt({ ...forCarol!, recipient: bob.address })).rejects.toBeInstanceOf(NoSenderKeyError);
  });

  it('rotates on request, and a member cannot post into another team with its key for this one', async () => {
    const { directory, teams, id, lead, members } = await team(1);
    const [member] = members as [TestDevice];
    const first = await teamSend(lead, directory, id, [member], 'one');
    expect(await receive(member, first)).toEqual(['one']);

    await lead.core.rotateCareTeamKey(id);
    const second = await teamSend(lead, directory, id, [member], 'two');
    // A fresh key share travels 1:1 again (still a PreKey message: the member never wrote back).
    expect(second.map((e) => e.type)).toEqual(['prekey', 'senderkey']);
    expect(await receive(member, second)).toEqual(['two']);

    // The lead is in a second team with the member. It crafts a message with its key for team one
    // that claims to belong to team two: refused.
    const other = newConversationId();
    teams.set(other, [lead.address.userId, member.address.userId]);
    await expect(lead.core.encryptCareTeam(id, [member.address], textPayload(other, 'wrong team'))).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    const distributionId = second.find((e) => e.type === 'senderkey') && (JSON.parse(new TextDecoder().decode(lead.storage.get('careTeam', `own/${id}`))) as { distributionId: string }).distributionId;
    const staged = new StagedWrites(lead.storage);
    const forged = await groupEncrypt(toProtocolAddress(lead.address), distributionId!, new SenderKeyStoreAdapter(staged), encodePayload(textPayload(other, 'forged into team two')));
    staged.commit();
    const envelope = { id: crypto.randomUUID(), type: 'senderkey' as const, sender: lead.address, recipient: member.address, content: toBase64(forged.serialize()) };
    await expect(member.core.decrypt(envelope)).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
  });
});
