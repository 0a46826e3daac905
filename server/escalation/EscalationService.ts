import { acknowledgementSigningBytes, type SignedAcknowledgement } from '../../shared/acknowledgement';
import { addressKey, sameAddress, type DeviceAddress, type DeviceId, type MessageId, type UserId } from '../../shared/ids';
import { SENT_AT_WINDOW_MS, type AcknowledgementReportResponse, type EscalationRequest, type EscalationState } from '../../shared/wire/escalation';
import type { AuditEvent } from '../audit/AuditRecord';
import { identitySignatureHolds } from './identitySignature';
import type { Clock } from '../Clock';
import type { DeliveryNotifier, RequestKind } from '../MessageService';
import { queueLimitsOf } from '../queueLimits';
import { DEFAULT_CONFIG, type DeliveryLimits } from '../RelayConfig';
import { ciphertextBytes } from '../storage/queueBatches';
import { describeError } from '../../shared/errors';
import { RelayFailure, storageFull, STORAGE_RETRY_SECONDS } from '../RelayFailure';
import { belowFreeDiskReserve, type RelayStore } from '../storage/RelayStore';
import type { CancelledEscalation, NewEscalation, ReleasedRung } from '../storage/EscalationStore';

/** The most rungs one release takes in one transaction (the timer comes back for the rest at once). */
const RELEASE_BATCH = 50;
/** And the content (base64 characters) after which it stops: a few large rungs must not stall the loop. */
const RELEASE_MAX_CHARS = 8 * 1024 * 1024;
/** An acknowledgement may be reported late (made offline), never from further in the future than this. */
const MAX_CLOCK_AHEAD_MS = 5 * 60_000;
/** Nor claiming a time further back than this (a workstation offline for longer, or a clock far behind). */
export const MAX_ACKNOWLEDGEMENT_AGE_MS = 24 * 3600_000;

/** Ladders one sending account may have running at once, and the bytes of ciphertext they may hold together. */
export const HELD_PER_ACCOUNT = { ladders: 50, bytes: 32 * 1024 * 1024 } as const;

export interface EscalationLimits {
  readonly maxEnvelopeBytes: number;
  readonly minFreeDiskBytes: number;
  /** The recipients' queue limits (a ladder's envelopes count against them when held); DEFAULT_CONFIG's without. */
  readonly delivery?: Pick<DeliveryLimits, 'maxQueuedEnvelopes' | 'maxQueuedBytes' | 'senderSharePercent'>;
  /** What one account's ladders may hold at once; HELD_PER_ACCOUNT without. */
  readonly heldPerAccount?: { readonly ladders: number; readonly bytes: number };
}

/**
 * Told when a ladder stops (acknowledged, or held after its message was acknowledged already) with the recipients of
 * the rungs that went: the attachment blobs free the readers named for its other rungs (BlobService.ladderEnded).
 */
export interface LadderEndListener {
  ladderEnded(sender: UserId, messageId: MessageId, released: readonly UserId[]): Promise<unknown>;
}

/** Where requests are charged to the relay's rate limiter (MessageService.chargeRequest); none: not limited. */
export interface RequestGate {
  chargeRequest(caller: DeviceAddress, kind: RequestKind, envelopes?: { envelopes: number; bytes: number }): Promise<void>;
}

/*
 * Issue 19 on the relay: signed acknowledgements, verified against the identity key the acknowledging device
 * uploaded, and the escalation ladders of urgent messages, held and released by time. The relay sees who,
 * when, how many and how large; the envelopes are ciphertext it cannot read, and the reason for urgency stays
 * inside them. Every change is audited in its own transaction (EscalationStore).
 */
export class EscalationService {
  constructor(
    private readonly store: RelayStore,
    private readonly clock: Clock,
    private readonly limits: EscalationLimits,
    private readonly notifier: Pick<DeliveryNotifier, 'envelopesQueued'>,
    private readonly gate?: RequestGate,
    private readonly ended?: LadderEndListener,
    /** The relay's log: a listener's failure is said there (housekeeping then finishes what it left). */
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /**
   * Holds a ladder for the sender's urgent message: each rung falls due `delayMs` after the message went (the
   * `sentAt` it gives, within SENT_AT_WINDOW_MS before now) or else after now, and goes to every
   * active device of its recipients (the relay checks the envelopes address exactly those, as a send does).
   * A resend of the same ladder (a lost answer) gets its state again. A ladder whose message one of its
   * recipients has acknowledged already is held stopped (nothing will be released).
   */
  async hold(sender: DeviceAddress, request: EscalationRequest): Promise<EscalationState> {
    const now = await this.#now();
    const maxChars = Math.ceil(this.limits.maxEnvelopeBytes / 3) * 4;
    const all = request.rungs.flatMap((r) => r.envelopes);
    if (all.some((e) => e.content.length > maxChars)) throw new RelayFailure('PAYLOAD_TOO_LARGE', `an envelope of the ladder exceeds ${this.limits.maxEnvelopeBytes} bytes`);
    if (new Set(all.map((e) => e.id)).size !== all.length) throw new RelayFailure('BAD_REQUEST', 'every envelope of a ladder needs its own id');
    if (all.some((e) => sameAddress(e.recipient, sender))) throw new RelayFailure('BAD_REQUEST', 'a device cannot escalate to itself');
    await this.gate?.chargeRequest(sender, 'escalation', { envelopes: all.length, bytes: all.reduce((sum, e) => sum + ciphertextBytes(e.content), 0) });
    for (const rung of request.rungs) await this.#assertComplete(sender, rung.recipients, rung.envelopes.map((e) => e.recipient), now);
    await this.#assertStorageRoom();
    const from = ladderStart(request.sentAt, now);
    const escalation: NewEscalation = {
      id: request.escalationId, messageId: request.messageId, sender, recipients: request.recipients, createdAt: now,
      rungs: request.rungs.map((r) => ({ dueAt: from + r.delayMs, recipients: r.recipients, envelopes: r.envelopes.map((e) => ({ id: e.id, type: e.type, recipient: e.recipient, content: e.content })) })),
    };
    const held = this.limits.heldPerAccount ?? HELD_PER_ACCOUNT;
    const limits = { queue: queueLimitsOf(this.limits.delivery ?? DEFAULT_CONFIG.delivery), maxLaddersPerAccount: held.ladders, maxHeldBytesPerAccount: held.bytes };
    const outcome = await this.store.escalations.hold(escalation, limits, [heldAudit(escalation)], (c) => cancelledAudit(c, request.messageId, sender.userId));
    if (outcome === 'idTaken') throw new RelayFailure('BAD_REQUEST', 'this escalation id is taken by another ladder');
    if (outcome === 'tooMuchHeld') {
      throw new RelayFailure('SEND_RATE_LIMITED', `this account has as many escalations running as the relay holds at once (${held.ladders}, ${Math.floor(held.bytes / 1048576)} MiB); try again when one has ended`, { retryAfterSeconds: 60, retryAfterMs: 60_000 });
    }
    if (outcome === 'queueFull' || outcome === 'senderShareFull') {
      const devices = all.map((e) => e.recipient);
      throw new RelayFailure('RECIPIENT_QUEUE_FULL', `the relay holds as much as it may${outcome === 'senderShareFull' ? ' from this account' : ''} for a recipient of the escalation until they connect`, { devices, ...(outcome === 'senderShareFull' ? { share: 'sender' as const } : {}) });
    }
    const state = await this.state(sender, request.escalationId);
    if (state.acknowledged) await this.#ended(sender.userId, [state]);
    return state;
  }

  /** The ladder's state, for its sender's account (any of its workstations). */
  async state(caller: DeviceAddress, escalationId: string): Promise<EscalationState> {
    const state = await this.store.escalations.state(escalationId, caller.userId);
    if (!state) throw new RelayFailure('NOT_FOUND', 'no such escalation of this account');
    return state;
  }

  /**
   * Records an acknowledgement the calling device signed (verified with the identity key it uploaded: one
   * signed by another key, or for another device, is refused; one claiming a time more than 5 minutes ahead of
   * the relay's clock or a day behind it too), and stops the message's ladders it may stop. Audited at the
   * relay's time, with the claimed time beside it.
   */
  async acknowledge(caller: DeviceAddress, report: SignedAcknowledgement): Promise<AcknowledgementReportResponse> {
    const { statement, signature } = report;
    if (!sameAddress(statement.acknowledger, caller)) throw new RelayFailure('FORBIDDEN', 'a device reports only its own acknowledgements');
    if (statement.sender === caller.userId) throw new RelayFailure('BAD_REQUEST', 'a sender does not acknowledge their own message');
    await this.gate?.chargeRequest(caller, 'acknowledgement');
    const now = await this.#now();
    if (statement.acknowledgedAt > now + MAX_CLOCK_AHEAD_MS) throw new RelayFailure('BAD_REQUEST', "the acknowledgement's time is ahead of the relay's clock");
    if (statement.acknowledgedAt < now - MAX_ACKNOWLEDGEMENT_AGE_MS) throw new RelayFailure('BAD_REQUEST', "the acknowledgement's time is more than a day before the relay's clock");
    const identityKey = await this.store.escalations.identityKey(caller);
    if (!identityKey) throw new RelayFailure('UNKNOWN_DEVICE', 'this device has no identity key on the relay');
    if (!await identitySignatureHolds(identityKey, acknowledgementSigningBytes(statement), signature)) {
      throw new RelayFailure('SIGNATURE_INVALID', "the acknowledgement's signature does not verify with this device's identity key");
    }
    await this.#assertStorageRoom();
    const outcome = await this.store.escalations.acknowledge(
      { messageId: statement.messageId, sender: statement.sender, acknowledger: caller, acknowledgedAt: statement.acknowledgedAt, signature, recordedAt: now },
      // The time is the relay's, when it received it (the workstation's claim beside it); an acknowledgement by
      // someone no ladder of the message shows it reached is their own word (selfReported).
      (eligible) => [{
        type: 'message.acknowledged', actor: addressKey(caller), subject: statement.messageId,
        details: { sender: statement.sender, conversation: statement.conversationId, acknowledgedAt: now, claimedAt: statement.acknowledgedAt, signature, identityKey, ...(statement.coveringFor ? { coveringFor: statement.coveringFor } : {}), ...(eligible ? {} : { selfReported: true }) },
      }],
      (c) => cancelledAudit(c, statement.messageId, statement.sender),
    );
    if (outcome.cancelled.length > 0) {
      const states = await Promise.all(outcome.cancelled.map((c) => this.store.escalations.state(c.escalationId, statement.sender)));
      await this.#ended(statement.sender, states.filter((x) => x !== undefined));
    }
    return { recorded: outcome.recorded, cancelledRungs: outcome.cancelled.reduce((sum, c) => sum + c.rungs, 0) };
  }

  /**
   * Releases every rung due now, in batches, and tells the connected recipients (other relay instances hear
   * it from the store). Returns how many rungs were released. Safe to run on every instance at once.
   */
  async releaseDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const now = await this.#now();
      const released = await this.store.escalations.releaseDue(now, RELEASE_BATCH, (rung) => releasedAudit(rung, now), RELEASE_MAX_CHARS);
      const devices = released.flatMap((r) => r.delivered);
      if (devices.length > 0) this.notifier.envelopesQueued(devices);
      total += released.length;
      if (released.length === 0) return total;
    }
  }

  /**
   * Stopped ladders, to the listener, with whom their released rungs reached. Its failure does not undo the stop (the
   * acknowledgement is recorded): it is logged, and the hourly housekeeping removes those readers (BlobService.expire).
   */
  async #ended(sender: UserId, stopped: readonly EscalationState[]): Promise<void> {
    for (const ladder of stopped) {
      const released = ladder.rungs.filter((r) => r.releasedAt !== null).flatMap((r) => r.recipients);
      await this.ended?.ladderEnded(sender, ladder.messageId, released).catch((error: unknown) => {
        this.log(`escalation ${ladder.escalationId}: its blobs' ladder readers not removed now (housekeeping will): ${describeError(error)}`);
      });
    }
  }

  /** The relay's time: this process's clock, set by the shared database's when there is one (several instances, one clock). */
  async #now(): Promise<number> {
    return this.clock.now() + (await this.store.escalations.clockSkewMs?.() ?? 0);
  }

  /** Below the free-disk reserve the relay takes no new ladders or acknowledgements (rows and audit records it keeps). */
  async #assertStorageRoom(): Promise<void> {
    const { low } = await belowFreeDiskReserve(this.store, this.limits.minFreeDiskBytes);
    if (low) throw storageFull(`the relay is keeping its last free storage for deliveries; try again in ${STORAGE_RETRY_SECONDS} s`);
  }

  /** A rung goes to every active device of its recipients, and to nothing else (as MessageService's sends). */
  async #assertComplete(sender: DeviceAddress, recipients: readonly UserId[], addressed: readonly DeviceAddress[], now: number): Promise<void> {
    if (addressed.some((a) => !recipients.includes(a.userId))) throw new RelayFailure('BAD_REQUEST', 'an envelope of a rung is for someone the rung does not name');
    const mismatched: DeviceAddress[] = [];
    for (const userId of new Set(recipients)) {
      const user = await this.store.userById(userId);
      const active = user?.status === 'active'
        ? (await this.store.devices(userId)).filter((d) => d.revokedAt === null && (d.expiresAt === null || d.expiresAt > now) && !(userId === sender.userId && d.deviceId === sender.deviceId)).map((d) => d.deviceId as number)
        : [];
      const mine = new Set(addressed.filter((a) => a.userId === userId).map((a) => a.deviceId as number));
      for (const d of active) if (!mine.has(d)) mismatched.push({ userId, deviceId: d as DeviceId });
      for (const d of mine) if (!active.includes(d)) mismatched.push({ userId, deviceId: d as DeviceId });
    }
    if (mismatched.length > 0) throw new RelayFailure('UNKNOWN_DEVICE', 'the devices of a rung\'s recipient changed; refresh the directory and send again', { devices: mismatched });
  }
}

/** escalation.held: the message, whom it went to, and each rung's time and recipients (ids: the export names them). */
function heldAudit(e: NewEscalation): AuditEvent {
  const rungs: Record<string, string | number> = {};
  e.rungs.forEach((r, i) => {
    rungs[`rung${i + 1}DueAt`] = r.dueAt;
    rungs[`rung${i + 1}To`] = r.recipients.join(' ');
  });
  return { type: 'escalation.held', actor: addressKey(e.sender), subject: e.id, details: { message: e.messageId, recipients: e.recipients.join(' '), rungs: e.rungs.length, ...rungs } };
}

/** escalation.cancelled: whose acknowledgement stopped which ladder of which message, and how many rungs will not go. */
function cancelledAudit(c: CancelledEscalation, messageId: MessageId, sender: UserId): AuditEvent {
  return { type: 'escalation.cancelled', actor: addressKey(c.acknowledger), subject: c.escalationId, details: { message: messageId, sender, rungs: c.rungs } };
}

/** Whence a ladder's rungs count: when its message went, as the sender says, believed within SENT_AT_WINDOW_MS before now. */
function ladderStart(sentAt: number | undefined, now: number): number {
  return sentAt === undefined ? now : Math.min(now, Math.max(now - SENT_AT_WINDOW_MS, sentAt));
}

function releasedAudit(r: ReleasedRung, now: number): AuditEvent {
  return {
    type: 'escalation.released', actor: 'system', subject: r.escalationId,
    details: { message: r.messageId, sender: r.sender.userId, rung: r.rung, dueAt: r.dueAt, lateMs: Math.max(0, now - r.dueAt), recipients: r.recipients.join(' '), devices: r.delivered.length },
  };
}
