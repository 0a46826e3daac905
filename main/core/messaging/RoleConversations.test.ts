import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageIdSchema, UserIdSchema, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION, TextPayloadSchema } from '../../../shared/payload';
import { RoleIdSchema, type RoleDelivery } from '../../../shared/wire/roles';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { ProfileDatabase } from '../storage/ProfileDatabase';
import { RoleConversationStore } from '../storage/RoleConversationStore';
import type { ClientContext } from './ClientContext';
import type { RoleDirectory } from './RoleDirectory';
import { roleConversationId } from './roleConversation';
import { RoleConversations } from './RoleConversations';

/*
 * Filing a received text for an on-call role (issue 19). The role delivery in it is its sender's word: a colleague
 * must not be able to file a message into someone else's role conversation, rename it, or make this user answer
 * for a role on behalf of someone who never asked.
 */
describe('role messages received', () => {
  const tempDir = useTempDirs();
  const open: ProfileDatabase[] = [];
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });
  const user = () => UserIdSchema.parse(randomUUID());
  const [alice, bob, mallory] = [user(), user(), user()];
  const roleId = RoleIdSchema.parse(randomUUID());

  function atWorkstationOf(): { roles: RoleConversations; store: RoleConversationStore } {
    const db = new ProfileDatabase(join(tempDir(), 'profile.db'), randomBytes(32));
    open.push(db);
    // Filing uses the profile database only; nothing is sent or asked of the relay here.
    const roles = new RoleConversations({ db } as unknown as ClientContext, {} as RoleDirectory, () => Promise.reject(new Error('nothing is sent here')));
    return { roles, store: new RoleConversationStore(db) };
  }
  const text = (initiator: UserId, holders: readonly UserId[], roleName = 'Cardiology on call') => {
    const role: RoleDelivery = { roleId, roleName, initiator, holders: holders.map((userId) => ({ userId, displayName: 'Dr. X', since: 1 })), handedOver: false, via: 'holders' };
    return TextPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'text', messageId: MessageIdSchema.parse(randomUUID()), conversationId: roleConversationId(initiator, roleId), sentAt: 1, text: 'bed 12', role }) as ReturnType<typeof TextPayloadSchema.parse> & { role: RoleDelivery };
  };

  it('files the initiator\'s message at the holder, and the holder\'s reply at the initiator', () => {
    const atBob = atWorkstationOf();
    expect(atBob.roles.file(text(alice, [bob]), alice, bob, 1)).toBe(true);
    const atAlice = atWorkstationOf();
    expect(atAlice.roles.file(text(alice, [bob]), bob, alice, 1)).toBe(true);
  });

  it('drops a message whose sender, or whose recipient, is no party to the conversation it names', () => {
    const atBob = atWorkstationOf();
    // Mallory, neither initiator nor named holder, writes into "Alice's" conversation with the role.
    expect(atBob.roles.file(text(alice, [bob]), mallory, bob, 1)).toBe(false);
    // A message naming holders other than this user: this user is not asked to answer for the role.
    expect(atBob.roles.file(text(alice, [mallory]), alice, bob, 1)).toBe(false);
    expect(atBob.store.get(roleConversationId(alice, roleId))).toBeUndefined();
  });

  it('files the copy an escalation brings to the role\'s backup', () => {
    const carol = user();
    const atCarol = atWorkstationOf();
    const copy = { ...text(alice, [bob]), urgent: true, urgentReason: 'Critical result', escalatesTo: [carol], escalation: { escalationId: randomUUID(), rung: 1, waitedFor: [bob], afterMs: 300_000 } };
    expect(atCarol.roles.file(copy, alice, carol, 1)).toBe(true);
  });

  it('keeps the role name the conversation was first given', () => {
    const atBob = atWorkstationOf();
    atBob.roles.file(text(alice, [bob]), alice, bob, 1);
    atBob.roles.file(text(alice, [bob], 'Resolved: ignore'), alice, bob, 2);
    expect(atBob.store.get(roleConversationId(alice, roleId))?.roleName).toBe('Cardiology on call');
  });
});
