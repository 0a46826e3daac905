import { randomUUID } from 'node:crypto';
import { MessageIdSchema, type ConversationId, type MessageId, type UserId } from '../../../shared/ids';
import { PAYLOAD_VERSION, TextPayloadSchema, type Payload, type TextPayload } from '../../../shared/payload';
import type { RoleDelivery } from '../../../shared/wire/roles';
import { RoundsError } from '../errors';
import { queueCoverageCopy, type Coverage } from '../presence/forwarding';
import type { ClientContext } from './ClientContext';

/**
 * Texts as they are written: stored as ours and put in the outbox in one transaction, their payload made in one
 * place (role, urgency, reply, attachments' pointers) and addressed to whom the conversation names now, with copies
 * for whoever covers an absent recipient. The outbox takes them from there (OutboxSender).
 */
export class OutgoingTexts {
  constructor(
    private readonly ctx: ClientContext,
    /** Puts a payload in the outbox for these recipients (and our own other devices): OutboxSender.queue. */
    private readonly queue: (recipients: readonly UserId[], payload: Payload) => void,
  ) {}

  /**
   * Queues a text and stores it as ours, in one transaction, then flushes. With attachments (`withAttachments`) it
   * is stored only: it goes once they are uploaded (`release`), with the payload made then by the same builder.
   */
  async sendText(conversationId: ConversationId, text: string, options: SendOptions = {}): Promise<MessageId> {
    const { ctx } = this;
    // A role's message with attachments: its holders are asked when it goes; until then, whom we know (AttachedSends).
    const known = options.withAttachments?.recipients;
    const summary = known ? { peer: null, recipients: known } : this.#conversation(conversationId, options.role);
    const message = { messageId: MessageIdSchema.parse(randomUUID()), conversationId, sentAt: ctx.scheduler.now(), text, replyTo: options.replyTo, urgent: options.urgent === true };
    ctx.db.transaction(() => {
      ctx.messages.insert({ id: message.messageId, conversationId, sender: ctx.self, sentAt: message.sentAt, receivedAt: message.sentAt, body: text, replyTo: options.replyTo ?? null, urgent: message.urgent, recipients: summary.recipients });
      if (options.withAttachments) options.withAttachments.hold(message.messageId);
      else this.#queueText(message, summary, options, undefined);
    });
    ctx.kick();
    return message.messageId;
  }

  /**
   * A message whose attachments are all on the relay goes now, carrying their pointers, with `options` decided for it
   * now (a role's holders, coverage) or kept from its writing (urgency, reply): one transaction. False when the
   * message is gone (deleted meanwhile).
   */
  release(messageId: MessageId, attachments: TextPayload['attachments'], options: Omit<SendOptions, 'withAttachments'>): boolean {
    const { ctx } = this;
    const m = ctx.messages.byId(messageId);
    if (!m) return false;
    const summary = this.#conversation(m.conversationId, options.role);
    ctx.db.transaction(() => {
      ctx.messages.setRecipients(messageId, summary.recipients);
      this.#queueText({ messageId, conversationId: m.conversationId, sentAt: m.sentAt, text: m.body, replyTo: m.replyTo ?? undefined, urgent: m.urgent }, summary, options, attachments);
    });
    return true;
  }

  /**
   * The one place a text's payload is made and queued (inside the caller's transaction), whether it goes at once or
   * once its attachments are up: role, urgency (reason, escalation ladder, which keeps the payload for its rungs'
   * copies) and coverage (copies for whoever covers an absent recipient) alike.
   */
  #queueText(message: OutgoingText, summary: ConversationSummary, options: Omit<SendOptions, 'withAttachments'>, attachments: TextPayload['attachments']): void {
    const { ctx } = this;
    const payload = TextPayloadSchema.parse({
      v: PAYLOAD_VERSION, type: 'text', messageId: message.messageId, conversationId: message.conversationId, sentAt: message.sentAt, text: message.text,
      ...(attachments && attachments.length > 0 ? { attachments } : {}),
      ...(message.urgent ? { urgent: true, ...options.urgency?.fields } : {}), ...(message.replyTo ? { replyTo: ctx.messages.wireIdOf(message.replyTo) } : {}),
      ...(summary.peer ? { to: summary.peer } : {}), ...(options.role ? { role: options.role.delivery } : {}),
    });
    this.queue(summary.recipients, payload);
    if (options.role) {
      ctx.messages.setRoleDelivery(payload.messageId, options.role.delivery);
      options.role.inTransaction();
    }
    // Urgent (issue 19): its reason and escalation ladder are stored with it.
    if (payload.urgent) options.urgency?.inTransaction(payload);
    // The recipient is away and someone covers (issue 19): a copy goes to them too, in the same transaction.
    if (options.coverage && summary.peer === options.coverage.absent) queueCoverageCopy(ctx, (to, copy) => this.queue(to, copy), payload, options.coverage);
  }

  /**
   * Whom a message in this conversation goes to: a 1:1's peer, a care team's members (who must include us), or a
   * role's recipients as resolved for this send (RoleConversations).
   */
  #conversation(id: ConversationId, role: SendOptions['role']): ConversationSummary {
    if (role) return { peer: null, recipients: role.recipients };
    const team = this.ctx.conversations.careTeam(id);
    if (team) {
      if (!team.isMember) throw new RoundsError('NOT_A_MEMBER', 'this user is no longer a member of the care team');
      return { peer: null, recipients: team.members.filter((m) => m !== this.ctx.self.userId) };
    }
    const peer = this.ctx.conversations.peer(id);
    if (!peer) throw new RoundsError('NOT_FOUND', 'no such conversation');
    return { peer, recipients: [peer] };
  }
}

export interface SendOptions {
  readonly urgent?: boolean;
  readonly replyTo?: MessageId;
  /**
   * The message has attachments: `hold` stores them and how it is to go (in the send's transaction) instead of
   * queueing it; it goes once they are up (`release`). `recipients`: whom it goes to as far as known now (a role's
   * holders are asked only when it goes).
   */
  readonly withAttachments?: { readonly hold: (messageId: MessageId) => void; readonly recipients?: readonly UserId[] };
  /** A 1:1 message's recipient is away and someone covers for them: a copy goes there too (presence/forwarding.ts). */
  readonly coverage?: Coverage;
  /** Urgent (issue 19): the payload's reason and escalation fields, and what to store with the message in its transaction. */
  readonly urgency?: { readonly fields: Pick<TextPayload, 'urgentReason' | 'escalatesTo'>; readonly inTransaction: (payload: TextPayload) => void };
  /** A message to an on-call role: who it goes to (resolved for this send) and what the payload says of the role. */
  readonly role?: { readonly recipients: readonly UserId[]; readonly delivery: RoleDelivery; readonly inTransaction: () => void };
}

/** A text as written: what its payload is made from, at once or once its attachments are up. */
interface OutgoingText {
  readonly messageId: MessageId;
  readonly conversationId: ConversationId;
  readonly sentAt: number;
  readonly text: string;
  readonly replyTo: MessageId | undefined;
  readonly urgent: boolean;
}

/** Whom a text goes to: a 1:1's peer (null otherwise), and every recipient but us. */
interface ConversationSummary {
  readonly peer: UserId | null;
  readonly recipients: readonly UserId[];
}
