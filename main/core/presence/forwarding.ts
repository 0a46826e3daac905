import { randomUUID } from 'node:crypto';
import { MessageIdSchema, type UserId } from '../../../shared/ids';
import type { TextPayload } from '../../../shared/payload';
import { forwards, presenceAt, type ForwardingStatus, type MessageCoverage, type Presence } from '../../../shared/wire/presence';
import type { ClientContext } from '../messaging/ClientContext';
import { directConversationId } from '../messaging/directConversation';

/** A direct message's recipient is away and someone covers: who, why, and to whom it also goes. */
export interface Coverage {
  readonly absent: UserId;
  readonly status: ForwardingStatus;
  readonly to: UserId;
}

/**
 * Whether a direct message from `sender` to the holder of `presence` must also go to someone else, as the
 * sending client decides it (the relay never sees the message): only Off shift and Do not disturb forward,
 * only to a named colleague (a role is left to the roles resolver: see the report), never back to the sender
 * or to the recipient, and not once the status has ended.
 */
export function coverageFor(presence: Presence, sender: UserId, now: number): Coverage | null {
  const current = presenceAt(presence, now);
  const target = current.forwardTo;
  if (!forwards(current.status) || target?.kind !== 'user') return null;
  if (target.userId === sender || target.userId === current.userId) return null;
  return { absent: current.userId, status: current.status, to: target.userId };
}

/**
 * Inside the send's transaction: queues a copy of `original` for whoever covers (a new message id, in the
 * sender's direct conversation with them, marked as forwarded for the absent one; no reply-to, which would
 * point at a message they do not have), stores it as ours, and marks both messages with how forwarding
 * touched them. `queue` puts a payload in the outbox for its recipients and our own other devices.
 */
export function queueCoverageCopy(ctx: Pick<ClientContext, 'self' | 'messages' | 'conversations'>, queue: (recipients: readonly UserId[], payload: TextPayload) => void, original: TextPayload, coverage: Coverage): void {
  const self = ctx.self.userId;
  const conversationId = directConversationId(self, coverage.to);
  const { replyTo: _replyTo, ...rest } = original;
  const copy: TextPayload = { ...rest, messageId: MessageIdSchema.parse(randomUUID()), conversationId, to: coverage.to, forwardedFor: { userId: coverage.absent, status: coverage.status } };
  ctx.conversations.ensureDirect(conversationId, coverage.to, copy.sentAt);
  queue([coverage.to], copy);
  ctx.messages.insert({ id: copy.messageId, conversationId, sender: ctx.self, sentAt: copy.sentAt, receivedAt: copy.sentAt, body: copy.text, replyTo: null, urgent: copy.urgent ?? false, recipients: [coverage.to] });
  ctx.messages.setCoverage(copy.messageId, { kind: 'forwarded', absent: coverage.absent, status: coverage.status });
  ctx.messages.setCoverage(original.messageId, { kind: 'alsoSent', absent: coverage.absent, status: coverage.status, to: coverage.to });
}

/** How a received text was touched by forwarding: a copy sent to us (or, from our other device, by us) for someone away. */
export function receivedCoverage(payload: TextPayload): MessageCoverage | null {
  return payload.forwardedFor ? { kind: 'forwarded', absent: payload.forwardedFor.userId, status: payload.forwardedFor.status } : null;
}
