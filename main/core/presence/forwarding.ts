import { randomUUID } from 'node:crypto';
import { MessageIdSchema, type MessageId, type UserId } from '../../../shared/ids';
import type { TextPayload } from '../../../shared/payload';
import { forwards, presenceAt, type ForwardTarget, type ForwardingStatus, type MessageCoverage, type Presence } from '../../../shared/wire/presence';
import type { RoleId } from '../../../shared/wire/roles';
import type { RoleDirectory } from '../messaging/RoleDirectory';
import { RelayRequestError } from '../messaging/RelayClient';
import type { Logger } from '../Logger';
import type { PresenceBook } from './PresenceBook';
import type { ClientContext } from '../messaging/ClientContext';
import { directConversationId } from '../messaging/directConversation';

/** A direct message's recipient is away and someone covers: who, why, and whom they named (a colleague or a role). */
export interface CoverageDecision {
  readonly absent: UserId;
  readonly status: ForwardingStatus;
  readonly target: ForwardTarget;
}

/** The same, with the people it goes to now (a role's holders at send time, or its backup's when no one holds it). */
export interface Coverage {
  readonly absent: UserId;
  readonly status: ForwardingStatus;
  readonly to: readonly UserId[];
  readonly role?: { readonly id: RoleId; readonly name: string };
}

/**
 * Whether a direct message from `sender` to the holder of `presence` must also go to someone else, as the
 * sending client decides it (the relay never sees the message): only Off shift and Do not disturb forward, only
 * while the status lasts, and never back to the sender or to the recipient themselves.
 */
export function coverageFor(presence: Presence, sender: UserId, now: number): CoverageDecision | null {
  const current = presenceAt(presence, now);
  const target = current.forwardTo;
  if (!forwards(current.status) || !target) return null;
  if (target.kind === 'user' && (target.userId === sender || target.userId === current.userId)) return null;
  return { absent: current.userId, status: current.status, target };
}

/**
 * Whom the copies go to: the colleague named, or whoever holds the role now (its backup's when no one does,
 * through the roles resolver), without the sender or the absent one; null when that leaves nobody.
 */
export async function resolveCoverage(decision: CoverageDecision, sender: UserId, roles: Pick<RoleDirectory, 'recipients'>): Promise<Coverage | null> {
  const { absent, status, target } = decision;
  if (target.kind === 'user') return { absent, status, to: [target.userId] };
  const { users, detail } = await roles.recipients(target.roleId);
  const to = users.filter((u) => u !== sender && u !== absent);
  return to.length === 0 ? null : { absent, status, to, role: { id: detail.role.id, name: detail.role.name } };
}

/**
 * Whom a 1:1 message to `peer` also goes to, decided by the sending client just before it is queued: on the
 * peer's status read now (offline: the last one read, without waiting for a relay that cannot answer; a role's
 * holders cannot be known then, so only a named colleague covers). A role the relay cannot resolve just now
 * forwards nothing: the message still reaches its recipient, and only the code is logged.
 */
export async function coverageOfSend(peer: UserId, from: { presence: PresenceBook; roles: Pick<RoleDirectory, 'recipients'>; self: UserId; online: boolean; now: number; logger: Logger }): Promise<Coverage | null> {
  const presence = from.online ? await from.presence.current(peer) : from.presence.known(peer);
  const decision = coverageFor(presence, from.self, from.now);
  if (!decision || (!from.online && decision.target.kind === 'role')) return null;
  try {
    return await resolveCoverage(decision, from.self, from.roles);
  } catch (error) {
    if (!(error instanceof RelayRequestError)) throw error;
    from.logger.error(`forwarding to a role skipped: ${error.code}`);
    return null;
  }
}

/**
 * Inside the send's transaction: queues a copy of `original` for whoever covers (a new message id, in the
 * sender's direct conversation with them, marked as forwarded for the absent one with the original's id, so an
 * acknowledgement of the copy stops the original's ladder; its text, urgency and attachments only), stores it as ours, and marks both messages with how forwarding
 * touched them. `queue` puts a payload in the outbox for its recipients and our own other devices.
 */
export function queueCoverageCopy(ctx: Pick<ClientContext, 'self' | 'messages' | 'conversations'>, queue: (recipients: readonly UserId[], payload: TextPayload) => void, original: TextPayload, coverage: Coverage): void {
  const self = ctx.self.userId;
  // What the message says, and nothing of how it was sent to the absent one (its reply-to, escalation ladder or
  // role delivery belong to the original and would mislead here).
  const { v, type, sentAt, text, urgent, urgentReason, attachments } = original;
  const content = { v, type, sentAt, text, ...(urgent ? { urgent, ...(urgentReason ? { urgentReason } : {}) } : {}), ...(attachments ? { attachments } : {}) };
  for (const to of coverage.to) {
    const conversationId = directConversationId(self, to);
    const forwardedFor = { userId: coverage.absent, status: coverage.status, original: original.messageId };
    const copy: TextPayload = { ...content, messageId: MessageIdSchema.parse(randomUUID()), conversationId, to, forwardedFor };
    ctx.conversations.ensureDirect(conversationId, to, copy.sentAt);
    queue([to], copy);
    ctx.messages.insert({ id: copy.messageId, conversationId, sender: ctx.self, sentAt: copy.sentAt, receivedAt: copy.sentAt, body: copy.text, replyTo: null, urgent: copy.urgent ?? false, recipients: [to] });
    ctx.messages.setCoverage(copy.messageId, { kind: 'forwarded', absent: coverage.absent, status: coverage.status, original: original.messageId });
  }
  ctx.messages.setCoverage(original.messageId, { kind: 'alsoSent', absent: coverage.absent, status: coverage.status, to: [...coverage.to], ...(coverage.role ? { role: coverage.role } : {}) });
}

/** How a received text was touched by forwarding: a copy sent to us (or, from our other device, by us) for someone away. */
export function receivedCoverage(payload: TextPayload): MessageCoverage | null {
  const f = payload.forwardedFor;
  return f ? { kind: 'forwarded', absent: f.userId, status: f.status, ...(f.original ? { original: f.original } : {}) } : null;
}

/**
 * On the sender's other workstations, inside the decrypt transaction: the original and the copies for whoever
 * covered arrive there as our own messages, in either order. Once both are held, the original is marked as also
 * sent to them, as on the workstation that sent it, so that an acknowledgement from a colleague covering is known
 * there as from someone the message reached (and is shown, and passed on, from whichever workstation gets it).
 * Returns the original's id (ours for it) when whoever covered is known for it now.
 */
export function recordSyncedCoverage(ctx: Pick<ClientContext, 'self' | 'messages' | 'conversations'>, payload: TextPayload): MessageId | undefined {
  const self = ctx.self.userId;
  const originalId = payload.forwardedFor?.original ?? payload.messageId;
  // Ours by our id for it (kept here under another when another sender's message had that id first).
  const original = ctx.messages.bySender(originalId, self);
  if (!original || original.coverage?.kind === 'forwarded') return undefined;
  const copies = ctx.messages.coveringCopies(originalId, self);
  const first = copies[0]?.coverage;
  if (first?.kind !== 'forwarded') return undefined;
  const known = original.coverage?.kind === 'alsoSent' ? original.coverage : undefined;
  const to = [...new Set([...(known?.to ?? []), ...copies.flatMap((c) => ctx.conversations.peer(c.conversationId) ?? [])])];
  if (to.length === 0) return undefined;
  ctx.messages.setCoverage(original.id, { kind: 'alsoSent', absent: known?.absent ?? first.absent, status: known?.status ?? first.status, to, ...(known?.role ? { role: known.role } : {}) });
  return originalId;
}
