import { randomUUID } from 'node:crypto';
import type { SignedAcknowledgement } from '../../../shared/acknowledgement';
import { describeError } from '../../../shared/errors';
import { addressKey, sameAddress, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { AcknowledgementPayloadSchema, PAYLOAD_VERSION, type AcknowledgementPayload, type Payload } from '../../../shared/payload';
import { RoundsError } from '../errors';
import type { StoredMessage } from '../storage/MessageStore';
import type { UrgencyStore } from '../storage/UrgencyStore';
import type { ClientContext } from './ClientContext';
import { RelayRequestError } from './RelayClient';

/** Why a received acknowledgement was refused (recorded in the local audit log, never shown as valid). */
export type AcknowledgementRefusal =
  | 'NOT_FROM_ACKNOWLEDGER' | 'SIGNATURE_INVALID' | 'UNKNOWN_MESSAGE' | 'WRONG_CONVERSATION' | 'WRONG_SENDER' | 'NOT_URGENT' | 'NOT_A_RECIPIENT' | 'DUPLICATE' | 'TIME_IMPLAUSIBLE';

/** How far two workstations' clocks may disagree before an acknowledgement's time is not believed. */
const CLOCK_SLACK_MS = 5 * 60_000;

/** Refusals that may not last: the report is tried again at the next connect. Anything else is final. */
const REPORT_LATER: ReadonlySet<string> = new Set(['UNREACHABLE', 'RELAY_UNAVAILABLE', 'RELAY_BUSY', 'THROTTLED', 'SEND_RATE_LIMITED', 'RELAY_STORAGE_FULL', 'UNAUTHENTICATED', 'INTERNAL']);

/*
 * Acknowledging urgent messages (issue 19), distinct from reading them. The user's acknowledgement is a
 * statement signed with this device's identity key, sent end to end to the message's sender, the other
 * members of the conversation (and whoever an escalation reached it through) and this user's other devices,
 * and reported to the relay, which verifies it again and audits it. A received one is kept only if its
 * signature is the acknowledging device's (the identity key this device trusts for it) and it is about an
 * urgent message this device holds, by someone it went to: forged and replayed ones are refused, with why,
 * in the local audit log. Re-notification stops when the user acknowledges, not when they read.
 */
export class Acknowledgements {
  constructor(
    private readonly ctx: ClientContext,
    private readonly store: UrgencyStore,
    private readonly queue: (recipients: readonly UserId[], payload: Payload) => void,
    /** Told when an urgent message is acknowledged by this user (reminders stop). */
    private readonly onAcknowledged: (messageId: MessageId) => void,
  ) {}

  /** The user acknowledges an urgent message from someone else; returns the signed statement. */
  acknowledge(messageId: MessageId): SignedAcknowledgement {
    const { ctx } = this;
    const message = ctx.messages.byId(messageId);
    if (!message) throw new RoundsError('NOT_FOUND', 'no such message');
    if (!message.urgent) throw new RoundsError('INVALID_INPUT', 'only urgent messages are acknowledged');
    if (message.sender.userId === ctx.self.userId) throw new RoundsError('INVALID_INPUT', 'a sender does not acknowledge their own message');
    const escalation = this.store.annotations([messageId]).get(messageId)?.escalation ?? null;
    const conversationId = escalation?.released?.conversationId ?? message.conversationId;
    const now = ctx.scheduler.now();
    const signed = ctx.core.signAcknowledgement({ messageId, conversationId, sender: message.sender.userId, acknowledger: ctx.self, acknowledgedAt: now });
    const payload = AcknowledgementPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'acknowledgement', conversationId, ...signed, sentAt: now });
    const recipients = this.#team(message, escalation?.released?.waitedFor ?? []).filter((u) => u !== ctx.self.userId);
    const fresh = ctx.db.transaction(() => {
      if (!this.store.addAcknowledgement(signed, now)) return false;
      this.queue(recipients, payload);
      ctx.audit('urgent.acknowledged', { conversation: conversationId, message: messageId, sender: message.sender.userId, acknowledger: addressKey(ctx.self), signature: signed.signature });
      return true;
    });
    if (!fresh) return this.store.acknowledgements(messageId).find((a) => a.statement.acknowledger.userId === ctx.self.userId) ?? signed;
    this.onAcknowledged(messageId);
    ctx.kick();
    ctx.emit({ type: 'urgency', conversationId: message.conversationId, messageId });
    void this.reportPending();
    return signed;
  }

  /** Reports this user's acknowledgements the relay has not confirmed (after acknowledging, and at each connect). */
  async reportPending(): Promise<void> {
    const { ctx } = this;
    for (const ack of this.store.unreported(ctx.self.userId)) {
      // Only this device's own: another device of the account reports what it signed.
      if (!sameAddress(ack.statement.acknowledger, ctx.self)) continue;
      try {
        await ctx.relay.reportAcknowledgement({ statement: ack.statement, signature: ack.signature });
        this.store.markReported(ack.statement.messageId, ctx.self.userId, ctx.scheduler.now());
      } catch (error) {
        // Offline, busy or limited for now: this one and those after it are reported again at the next connect.
        if (!(error instanceof RelayRequestError) || REPORT_LATER.has(error.code)) return;
        // Refused for good (its signature, a time the relay will not believe, another device's statement): logged
        // by code and set aside, so it does not hold back the acknowledgements after it. The end-to-end
        // acknowledgement stands, and the sender's workstation has audited it.
        ctx.logger.error(`the relay refused an acknowledgement for good: ${describeError(error)}`);
        this.store.markReported(ack.statement.messageId, ctx.self.userId, ctx.scheduler.now());
      }
    }
  }

  /**
   * A received acknowledgement, inside the decrypt transaction: stored (true) if genuine and about an urgent
   * message this device holds, by one of its recipients; otherwise refused, with the reason audited.
   */
  receiveIn(payload: AcknowledgementPayload, from: DeviceAddress): boolean {
    const refusal = this.#check(payload, from);
    const { statement } = payload;
    if (refusal) {
      this.ctx.audit('acknowledgement.refused', { message: statement.messageId, acknowledger: addressKey(statement.acknowledger), from: addressKey(from), reason: refusal });
      return false;
    }
    this.store.addAcknowledgement(payload, this.ctx.scheduler.now(), statement.acknowledger.userId === this.ctx.self.userId ? this.ctx.scheduler.now() : null);
    this.ctx.audit('acknowledgement.received', { conversation: statement.conversationId, message: statement.messageId, sender: statement.sender, acknowledger: addressKey(statement.acknowledger), signature: payload.signature });
    return true;
  }

  #check(payload: AcknowledgementPayload, from: DeviceAddress): AcknowledgementRefusal | undefined {
    const { statement } = payload;
    // It travels from the device that signed it, over that device's own session.
    if (!sameAddress(statement.acknowledger, from)) return 'NOT_FROM_ACKNOWLEDGER';
    if (!this.ctx.core.acknowledgementTrusted(payload)) return 'SIGNATURE_INVALID';
    const message = this.ctx.messages.byId(statement.messageId);
    if (!message) return 'UNKNOWN_MESSAGE';
    const escalation = this.store.annotations([message.id]).get(message.id)?.escalation ?? null;
    if (statement.conversationId !== (escalation?.released?.conversationId ?? message.conversationId)) return 'WRONG_CONVERSATION';
    if (statement.sender !== message.sender.userId) return 'WRONG_SENDER';
    if (!message.urgent) return 'NOT_URGENT';
    // Its time is the acknowledger's claim: not before the message was sent, nor after it arrived here (give or take
    // the clocks' disagreement), so nobody can backdate an acknowledgement past an escalation step in a dispute.
    if (statement.acknowledgedAt < message.sentAt - CLOCK_SLACK_MS || statement.acknowledgedAt > this.ctx.scheduler.now() + CLOCK_SLACK_MS) return 'TIME_IMPLAUSIBLE';
    const self = this.ctx.self.userId;
    const recipients = new Set([...this.#team(message, escalation?.released?.waitedFor ?? []), ...(escalation?.escalatesTo ?? []), ...(this.store.ladder(message.id)?.rungs.flatMap((r) => r.recipients) ?? []), ...(message.sender.userId !== self ? [self] : [])]);
    recipients.delete(message.sender.userId);
    if (!recipients.has(statement.acknowledger.userId)) return 'NOT_A_RECIPIENT';
    if (this.store.acknowledgements(message.id).some((a) => a.statement.acknowledger.userId === statement.acknowledger.userId)) return 'DUPLICATE';
    return undefined;
  }

  /** Whom a message concerns: its sender, the conversation's members (a 1:1's peer, or what it was sent to), and those an escalation waited for. */
  #team(message: StoredMessage, waitedFor: readonly UserId[]): UserId[] {
    const { ctx } = this;
    const team = ctx.conversations.careTeam(message.conversationId);
    const peer = ctx.conversations.peer(message.conversationId);
    // A role message: its initiator and whoever held the role for it (the sender's other workstations have no recipients list).
    const role = message.roleDelivery ? [message.roleDelivery.initiator, ...message.roleDelivery.holders.map((h) => h.userId)] : [];
    const members: readonly string[] = team ? team.members : [ctx.self.userId, ...(peer ? [peer] : []), ...(message.recipients ?? []), ...role];
    return [...new Set([message.sender.userId, ...members, ...waitedFor])] as UserId[];
  }
}

/** A random id for an escalation ladder. */
export const newEscalationId = (): string => randomUUID();
