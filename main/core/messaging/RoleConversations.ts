import type { ConversationId, MessageId, UserId } from '../../../shared/ids';
import type { TextPayload } from '../../../shared/payload';
import { MAX_ROLE_HOLDERS, type RoleDelivery, type RoleHolder, type RoleId } from '../../../shared/wire/roles';
import { RoundsError } from '../errors';
import { RelayRequestError } from './RelayClient';
import { RoleConversationStore, type RoleConversation } from '../storage/RoleConversationStore';
import type { ClientContext } from './ClientContext';
import type { SendOptions } from './OutgoingTexts';
import { roleConversationId } from './roleConversation';
import { backupUsers, type RoleDirectory } from './RoleDirectory';

/*
 * Conversations with on-call roles (issue 19). Each send asks the relay who holds the role now and encrypts to
 * their devices (through the outbox, as any text: OutgoingTexts), so at a hand-over the next message goes to the
 * new holder; when no one holds it, to its backup. The payload names the role, the initiator and the holders
 * (end-to-end encrypted), so each holder files it in the role conversation and shows who it reached; a message
 * whose holders differ from the previous one's is marked as a hand-over ("Handed over to Dr. Patel at 20:00").
 * Replies from a holder go to the initiator and the other current holders. Offline, nothing is sent: an old
 * answer about who is on call could reach the wrong person (ROLE lookups reject with RelayRequestError).
 */
export class RoleConversations {
  readonly store: RoleConversationStore;

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: RoleDirectory,
    private readonly sendText: (conversationId: ConversationId, text: string, options: SendOptions) => Promise<MessageId>,
  ) {
    this.store = new RoleConversationStore(ctx.db);
  }

  /** This user's conversation with the role (created locally if new), with the role's holders now. */
  async open(roleId: RoleId): Promise<ConversationId> {
    const detail = await this.roles.detail(roleId);
    const self = this.ctx.self.userId;
    const id = roleConversationId(self, roleId);
    this.store.ensure(id, roleId, detail.role.name, self, this.ctx.scheduler.now());
    if (this.store.get(id)?.holders.length === 0) this.store.setHolders(id, detail.holders);
    this.ctx.emit({ type: 'conversation', conversationId: id });
    return id;
  }

  get(id: ConversationId): RoleConversation | undefined {
    return this.store.get(id);
  }

  /** Sends to whoever holds the role now (or its backup), and the initiator when a holder writes. */
  async send(conversation: RoleConversation, text: string, options: SendOptions): Promise<MessageId> {
    return this.sendText(conversation.id, text, { ...options, role: await this.resolve(conversation) });
  }

  /**
   * Whom a message in this conversation goes to now: the role's holders (or its backup) asked of the relay at this
   * moment, the initiator when a holder writes, and what the payload says of the role. Throws ROLE_LOOKUP_FAILED
   * when the relay cannot be asked (nothing may go to an old answer), ROLE_UNCOVERED when nobody can receive it.
   */
  async resolve(conversation: RoleConversation): Promise<NonNullable<SendOptions['role']>> {
    const self = this.ctx.self.userId;
    const detail = await this.roles.detail(conversation.roleId).catch((error: unknown) => {
      // Never an old answer: the outbox would keep it for a later send, to whoever was on call before.
      if (error instanceof RelayRequestError && (error.code === 'UNREACHABLE' || error.code === 'RELAY_UNAVAILABLE' || error.code === 'BAD_RESPONSE')) {
        throw new RoundsError('ROLE_LOOKUP_FAILED', `Rounds could not ask the server who holds ${conversation.roleName} now, so nothing was sent. Try again in a moment; if the server stays out of reach, phone the switchboard.`, { cause: error });
      }
      throw error;
    });
    const backup = detail.holders.length === 0 ? detail.backup : null;
    const holders: RoleHolder[] = detail.holders.length > 0 ? detail.holders
      : backup?.kind === 'user' ? [{ userId: backup.userId, displayName: backup.displayName, since: detail.at }]
        : backup?.kind === 'role' ? backup.holders : [];
    if (holders.length === 0 && backupUsers(detail.backup).length === 0) {
      // A backup named but out of reach (deactivated since, or no workstation) is said so: IT has a role to fix.
      const gone = detail.unreachable.find((u) => u.as === 'backup');
      const why = gone ? `its backup, ${gone.displayName}, cannot be reached (${gone.reason === 'accountNotActive' ? 'account not active' : 'no workstation signed in'})` : 'it has no backup';
      throw new RoundsError('ROLE_UNCOVERED', `No one holds ${detail.role.name} now and ${why}: nothing was sent. Call the switchboard.`);
    }
    // The rota and the directory's groups together may name more people than a message to a role carries.
    if (holders.length > MAX_ROLE_HOLDERS) {
      throw new RoundsError('ROLE_TOO_MANY_HOLDERS', `${holders.length} people hold ${detail.role.name} now, more than a message to a role reaches (${MAX_ROLE_HOLDERS}): nothing was sent. Message the person you need directly, or call the switchboard; IT can make the role's groups smaller.`);
    }
    const delivery: RoleDelivery = {
      roleId: conversation.roleId, roleName: detail.role.name, initiator: conversation.initiator, holders,
      handedOver: conversation.holders.length > 0 && !sameUsers(conversation.holders.map((h) => h.userId), holders.map((h) => h.userId)),
      via: detail.holders.length > 0 ? 'holders' : 'backup',
    };
    const recipients = [...new Set([conversation.initiator, ...holders.map((h) => h.userId)])].filter((u) => u !== self);
    return { delivery, recipients, inTransaction: () => this.store.setHolders(conversation.id, holders) };
  }

  /**
   * A received (or our own other device's) text for a role conversation, inside the receive transaction: false
   * when it does not hold together, so it is dropped: its conversation id is not the one of its initiator and
   * role, or its sender or this user is none of the initiator, the holders it names and those this conversation
   * last knew (a colleague cannot file a message into someone else's role conversation, nor make this user
   * answer for a role for someone who never asked). Otherwise the conversation exists and knows who held the
   * role for this message (an escalation's targets count as parties). The holders a payload names are the sender's word; its role name is taken only when
   * the conversation is new (the header shows the relay's).
   */
  file(payload: TextPayload & { role: RoleDelivery }, sender: UserId, self: UserId, receivedAt: number): boolean {
    const { role } = payload;
    if (roleConversationId(role.initiator, role.roleId) !== payload.conversationId) return false;
    // Those an urgent message's escalation may reach (the role's backup) are parties too: a rung's copy comes to them.
    const party = new Set<UserId>([
      role.initiator, ...role.holders.map((h) => h.userId), ...(payload.escalatesTo ?? []), ...(payload.escalation?.waitedFor ?? []),
      ...(this.store.get(payload.conversationId)?.holders ?? []).map((h) => h.userId),
    ]);
    if (!party.has(sender) || !party.has(self)) return false;
    this.store.ensure(payload.conversationId, role.roleId, role.roleName, role.initiator, receivedAt);
    this.store.setHolders(payload.conversationId, role.holders);
    return true;
  }
}

function sameUsers(a: readonly UserId[], b: readonly UserId[]): boolean {
  return a.length === b.length && a.every((u) => b.includes(u));
}

/** The role conversation's payload test: a text for a role. */
export const isRoleText = (payload: TextPayload): payload is TextPayload & { role: RoleDelivery } => payload.role !== undefined;
