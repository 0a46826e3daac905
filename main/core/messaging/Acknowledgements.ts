import { randomUUID } from 'node:crypto';
import type { SignedAcknowledgement } from '../../../shared/acknowledgement';
import { describeError } from '../../../shared/errors';
import { addressKey, sameAddress, type ConversationId, type DeviceAddress, type MessageId, type UserId } from '../../../shared/ids';
import { AcknowledgementPayloadSchema, PAYLOAD_VERSION, type AcknowledgementPayload, type Payload } from '../../../shared/payload';
import { RoundsError } from '../errors';
import type { StoredMessage } from '../storage/MessageStore';
import type { UrgencyStore } from '../storage/UrgencyStore';
import type { ClientContext } from './ClientContext';
import { RelayRequestError } from './RelayClient';
import { directConversationId } from './directConversation';

/** Why a received acknowledgement was refused (recorded in the local audit log, never shown as valid). */
export type AcknowledgementRefusal =
  | 'NOT_FROM_ACKNOWLEDGER' | 'SIGNATURE_INVALID' | 'UNKNOWN_MESSAGE' | 'WRONG_CONVERSATION' | 'WRONG_SENDER' | 'NOT_URGENT' | 'NOT_A_RECIPIENT' | 'DUPLICATE' | 'TIME_IMPLAUSIBLE';

/**
 * What an acknowledgement of a message this device holds is about: the message itself; for a copy an escalation
 * released, the original message in the conversation as the sender wrote it; for a copy presence forwarding brought the colleague
 * covering, the original message to the absent one (so its ladder stops), with whom they covered for.
 */
export interface AcknowledgementSubject {
  readonly messageId: MessageId;
  readonly conversationId: ConversationId;
  readonly coveringFor?: UserId;
}

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
    const subject = this.subjectOf(message);
    const now = ctx.scheduler.now();
    const signed = ctx.core.signAcknowledgement({ ...subject, sender: message.sender.userId, acknowledger: ctx.self, acknowledgedAt: now });
    const payload = AcknowledgementPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'acknowledgement', conversationId: subject.conversationId, ...signed, sentAt: now });
    // Covering for someone: to the sender, whose workstation passes it on to everyone else the message reached.
    const recipients = (subject.coveringFor ? [message.sender.userId] : this.#team(message, escalation?.released?.waitedFor ?? [])).filter((u) => u !== ctx.self.userId);
    const fresh = ctx.db.transaction(() => {
      if (!this.store.addAcknowledgement(signed, now)) return false;
      this.queue(recipients, payload);
      ctx.audit('urgent.acknowledged', {
        conversation: subject.conversationId, message: subject.messageId, sender: message.sender.userId, acknowledger: addressKey(ctx.self), signature: signed.signature,
        ...(subject.coveringFor ? { coveringFor: subject.coveringFor, copy: message.id } : {}),
      });
      return true;
    });
    if (!fresh) return this.store.acknowledgements(subject.messageId, message.sender.userId).find((a) => a.statement.acknowledger.userId === ctx.self.userId) ?? signed;
    this.onAcknowledged(messageId);
    ctx.kick();
    ctx.emit({ type: 'urgency', conversationId: message.conversationId, messageId });
    void this.reportPending();
    return signed;
  }

  /** What acknowledging this message (as this device holds it) states: see AcknowledgementSubject. */
  subjectOf(message: StoredMessage): AcknowledgementSubject {
    const coverage = message.coverage;
    // A copy names its original by its sender's id for it: another sender's message under that id is not its original.
    const isOwnOriginal = (id: MessageId) => this.ctx.messages.byId(id) === undefined || this.ctx.messages.bySender(id, message.sender.userId) !== undefined;
    if (coverage?.kind === 'forwarded' && coverage.original && isOwnOriginal(coverage.original)) {
      return { messageId: coverage.original, conversationId: directConversationId(message.sender.userId, coverage.absent), coveringFor: coverage.absent };
    }
    const released = this.store.annotations([message.id]).get(message.id)?.escalation?.released;
    const original = released?.original !== undefined && isOwnOriginal(released.original) ? released.original : undefined;
    // Named as its sender named it (kept here under another id when another sender's message had that one first).
    return { messageId: original ?? message.wireId ?? message.id, conversationId: released?.conversationId ?? message.conversationId };
  }

  /** The message an acknowledgement of `messageId` from `sender` is about, as this device holds it: itself, or the covering copy of it. */
  heldFor(messageId: MessageId, sender: UserId): StoredMessage | undefined {
    const { messages } = this.ctx;
    const held = messages.bySender(messageId, sender) ?? messages.copyOf(messageId, sender);
    if (held) return held;
    // Another sender's message under that id (refused as WRONG_SENDER); never one kept here under an id of its own,
    // which no sender named it by.
    const other = messages.byId(messageId);
    return other?.wireId === undefined ? other : undefined;
  }

  /** Reports this user's acknowledgements the relay has not confirmed (after acknowledging, and at each connect). */
  async reportPending(): Promise<void> {
    const { ctx } = this;
    for (const ack of this.store.unreported(ctx.self.userId)) {
      // Only this device's own: another device of the account reports what it signed.
      if (!sameAddress(ack.statement.acknowledger, ctx.self)) continue;
      try {
        await ctx.relay.reportAcknowledgement({ statement: ack.statement, signature: ack.signature });
        this.store.markReported(ack.statement.messageId, ack.statement.sender, ctx.self.userId, ctx.scheduler.now());
      } catch (error) {
        // Offline, busy or limited for now: this one and those after it are reported again at the next connect.
        if (!(error instanceof RelayRequestError) || REPORT_LATER.has(error.code)) return;
        // Refused for good (its signature, a time the relay will not believe, another device's statement): logged
        // by code and set aside, so it does not hold back the acknowledgements after it. The end-to-end
        // acknowledgement stands, and the sender's workstation has audited it.
        ctx.logger.error(`the relay refused an acknowledgement for good: ${describeError(error)}`);
        this.store.markReported(ack.statement.messageId, ack.statement.sender, ctx.self.userId, ctx.scheduler.now());
      }
    }
  }

  /**
   * A received acknowledgement, inside the decrypt transaction: stored (true) if genuine and about an urgent
   * message this device holds, by one of its recipients; otherwise refused, with the reason audited. It comes
   * from the device that signed it, or passed on by the message's sender (whose workstation knows everyone the
   * message reached: the colleague covering, the rungs released). The signature is checked whenever this
   * workstation holds the signer's identity key; passed on by the sender from a workstation it never met, it is
   * kept as the sender's word (vouchedBy, shown so). The same acknowledgement arriving both ways is kept once,
   * verified when it comes first hand, and its second arrival is no refusal.
   */
  receiveIn(payload: AcknowledgementPayload, from: DeviceAddress): boolean {
    const { statement } = payload;
    const message = this.heldFor(statement.messageId, statement.sender);
    const firstHand = sameAddress(statement.acknowledger, from);
    // Passed on by the sender, signed by a workstation this one never met: checked by the sender's, taken on its word.
    const vouchedBy = !firstHand && !this.ctx.core.knowsIdentity(statement.acknowledger) ? from.userId : null;
    const refusal = this.#check(payload, from, message, vouchedBy !== null);
    if (refusal === 'DUPLICATE' && this.store.acknowledgements(statement.messageId, statement.sender).some((a) => a.signature === payload.signature)) {
      if (firstHand) this.store.markVerified(statement.messageId, payload.signature);
      return false;
    }
    if (refusal) {
      this.ctx.audit('acknowledgement.refused', { message: statement.messageId, acknowledger: addressKey(statement.acknowledger), from: addressKey(from), reason: refusal });
      // A colleague covering, first hand, about our own message: the copy another of our workstations forwarded them
      // may not be here yet. Kept aside, and checked again when it comes (recheckCovering).
      if (refusal === 'NOT_A_RECIPIENT' && firstHand && statement.coveringFor !== undefined && statement.sender === this.ctx.self.userId && message?.sender.userId === statement.sender) {
        this.store.setAside(payload, from, this.ctx.scheduler.now());
      }
      return false;
    }
    const now = this.ctx.scheduler.now();
    this.store.addAcknowledgement(payload, now, statement.acknowledger.userId === this.ctx.self.userId ? now : null, vouchedBy);
    this.ctx.audit('acknowledgement.received', {
      conversation: statement.conversationId, message: statement.messageId, sender: statement.sender, acknowledger: addressKey(statement.acknowledger), signature: payload.signature,
      ...(statement.coveringFor ? { coveringFor: statement.coveringFor } : {}), ...(firstHand ? {} : { passedOnBy: addressKey(from) }), ...(vouchedBy ? { unverified: true } : {}),
    });
    return true;
  }

  #check(payload: AcknowledgementPayload, from: DeviceAddress, message: StoredMessage | undefined, unverifiable: boolean): AcknowledgementRefusal | undefined {
    const { statement } = payload;
    // It travels from the device that signed it, over that device's own session, or passed on by the message's sender.
    const passedOn = !sameAddress(statement.acknowledger, from) && message !== undefined && from.userId === message.sender.userId;
    if (!sameAddress(statement.acknowledger, from) && !passedOn) return 'NOT_FROM_ACKNOWLEDGER';
    // This user's own acknowledgements come first hand from their own workstations, never passed on by a sender.
    if (passedOn && statement.acknowledger.userId === this.ctx.self.userId) return 'NOT_FROM_ACKNOWLEDGER';
    if (!unverifiable && !this.ctx.core.acknowledgementTrusted(payload)) return 'SIGNATURE_INVALID';
    if (!message) return 'UNKNOWN_MESSAGE';
    const subject = this.subjectOf(message);
    // About the message as its sender named it (a copy: the original it names), not an id this profile chose.
    if (statement.messageId !== subject.messageId) return 'UNKNOWN_MESSAGE';
    if (statement.conversationId !== subject.conversationId) return 'WRONG_CONVERSATION';
    if (statement.sender !== message.sender.userId) return 'WRONG_SENDER';
    if (!message.urgent) return 'NOT_URGENT';
    // Its time is the acknowledger's claim: not before the message was sent, nor after it arrived here (give or take
    // the clocks' disagreement), so nobody can backdate an acknowledgement past an escalation step in a dispute.
    if (statement.acknowledgedAt < message.sentAt - CLOCK_SLACK_MS || statement.acknowledgedAt > this.ctx.scheduler.now() + CLOCK_SLACK_MS) return 'TIME_IMPLAUSIBLE';
    if (statement.acknowledger.userId === message.sender.userId) return 'NOT_A_RECIPIENT';
    // Passed on by the sender, who knows whom the message reached; first hand, the acknowledger must be one of them.
    if (!passedOn && !this.#reached(message, subject).has(statement.acknowledger.userId)) return 'NOT_A_RECIPIENT';
    if (!passedOn && statement.coveringFor !== undefined && !this.#covered(message, statement.coveringFor, statement.acknowledger.userId)) return 'NOT_A_RECIPIENT';
    if (this.store.acknowledgements(statement.messageId, statement.sender).some((a) => a.statement.acknowledger.userId === statement.acknowledger.userId)) return 'DUPLICATE';
    return undefined;
  }

  /** Everyone this device knows the message reached, or may reach (not its sender). */
  #reached(message: StoredMessage, subject: AcknowledgementSubject): Set<string> {
    const self = this.ctx.self.userId;
    const escalation = this.store.annotations([message.id]).get(message.id)?.escalation ?? null;
    const coverage = message.coverage?.kind === 'alsoSent' ? message.coverage.to : [];
    const reached = new Set<string>([
      ...this.#team(message, escalation?.released?.waitedFor ?? []), ...(escalation?.escalatesTo ?? []), ...coverage,
      ...(this.store.ladder(message.id)?.rungs.flatMap((r) => r.recipients) ?? []), ...(message.sender.userId !== self ? [self] : []), ...(subject.coveringFor ? [subject.coveringFor] : []),
    ]);
    reached.delete(message.sender.userId);
    return reached;
  }

  /** Whether the message went to `colleague` as the one covering for `absent` (the sender's record, or this user's own copy). */
  #covered(message: StoredMessage, absent: UserId, colleague: UserId): boolean {
    const c = message.coverage;
    if (c?.kind === 'forwarded') return c.absent === absent && colleague === this.ctx.self.userId;
    return c?.kind === 'alsoSent' && c.absent === absent && c.to.includes(colleague);
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
