import { randomUUID } from 'node:crypto';
import { describeError } from '../../../shared/errors';
import type { ConversationId, MessageId, UserId } from '../../../shared/ids';
import { TextPayloadSchema, type Payload, type TextPayload } from '../../../shared/payload';
import type { EscalationRequest } from '../../../shared/wire/escalation';
import type { OutgoingEnvelope } from '../../../shared/wire/relay';
import type { LadderRung, RungPlacement, StoredLadder, UrgencyStore } from '../storage/UrgencyStore';
import type { ClientContext } from './ClientContext';
import { RelayRequestError } from './RelayClient';

/** How often this device looks at its running ladders (a local check; the relay is asked only when something is due). */
const CHECK_MS = 1000;
/** A running ladder's progress is read from the relay at least this often (an acknowledgement may have stopped it). */
const REFRESH_MS = 30_000;
/** After the relay refused or could not take a ladder, the next attempt waits this long. */
const RETRY_MS = 15_000;

/*
 * The sender's side of escalation (issue 19). An urgent 1:1 message with a ladder is, once the message itself
 * has gone, encrypted again for every later rung's recipients (a copy that says which rung it is and whose
 * acknowledgement it waited for) and handed to the relay, which holds those envelopes and releases each rung
 * only if nobody acknowledged by its time. The relay learns the timing and the people, never the text.
 *
 * Progress is polled, not pushed: the relay cannot write an end-to-end message to the sender's devices, and a
 * push over the socket would reach only a device connected to that relay instance at that moment. This device
 * asks the relay when a rung falls due (to the second: it knows the due times) and every REFRESH_MS while a
 * ladder runs, which survives restarts, reconnects and several relay instances at the cost of a request or two
 * per rung. The acknowledgement itself reaches the sender end to end, and stops the ladder at once on screen.
 */
export class EscalationLadders {
  #timer: { cancel(): void } | undefined;
  #polling = false;
  #retryAt = 0;
  readonly #polledAt = new Map<MessageId, number>();

  constructor(
    private readonly ctx: ClientContext,
    private readonly store: UrgencyStore,
    private readonly encryptFor: (users: readonly UserId[], payload: Payload) => Promise<OutgoingEnvelope[]>,
    /** Whether the message still waits in the outbox (its ladder goes once it has gone). */
    private readonly pending: (id: MessageId) => boolean,
    /** Reads the directory again (the relay said a recipient's workstations changed). */
    private readonly refreshDirectory: () => Promise<unknown> = async () => undefined,
  ) {}

  start(): void {
    this.#timer ??= this.ctx.scheduler.every(CHECK_MS, () => void this.tick());
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Submits the ladders whose message has gone, then reads the progress of those with something due. */
  async tick(): Promise<void> {
    if (this.#polling || !this.ctx.running() || this.ctx.scheduler.now() < this.#retryAt) return;
    this.#polling = true;
    try {
      await this.submitPending();
      await this.#poll();
    } catch (error) {
      // Offline, refused or out of date: tried again a little later (never every second), with the directory
      // read again when a recipient's workstations changed. Logged by code, never with content.
      this.#retryAt = this.ctx.scheduler.now() + RETRY_MS;
      if (error instanceof RelayRequestError && error.code === 'UNKNOWN_DEVICE') await this.refreshDirectory().catch(() => undefined);
      else if (!(error instanceof RelayRequestError) || !['UNREACHABLE', 'RELAY_UNAVAILABLE', 'RELAY_BUSY'].includes(error.code)) this.ctx.logger.error(`escalation ladders: ${describeError(error)}`);
    } finally {
      this.#polling = false;
    }
  }

  async submitPending(): Promise<void> {
    for (const ladder of this.store.unsubmittedLadders()) {
      if (this.pending(ladder.messageId)) continue;
      // Those the message reached already (a role's holders, or its backup when nobody held it, and whoever covered
      // for an absent addressee: their acknowledgement of their copy stops the ladder too) get no copy.
      const coverage = this.ctx.messages.byId(ladder.messageId)?.coverage;
      const reached = [...new Set([...recipientsOf(ladder.payload), ...(coverage?.kind === 'alsoSent' ? coverage.to : [])])];
      if (reached.length === 0) continue;
      const prepared = await Promise.all(ladder.rungs.map(async (rung, i) => {
        const recipients = rung.recipients.filter((u) => !reached.includes(u));
        return { delayMs: Math.max(1000, rung.afterMs), recipients, envelopes: recipients.length > 0 ? await this.encryptFor(recipients, rungCopy(ladder, rung, i)) : [] };
      }));
      // Rungs that reach no one new are not handed over: the relay numbers the others 1, 2, …, and each rung of
      // this ladder keeps which of them it is (or why it has none), so its progress is shown against the right step.
      const rungs = prepared.filter((r) => r.envelopes.length > 0);
      let held = 0;
      const placement: RungPlacement[] = prepared.map((r) => (r.envelopes.length > 0 ? ++held : r.recipients.length === 0 ? 'reached' : 'unreachable'));
      if (rungs.length === 0) {
        this.store.setNothingHeld(ladder.messageId, this.ctx.scheduler.now(), placement);
      } else {
        const request: EscalationRequest = { escalationId: ladder.escalationId, messageId: ladder.messageId, recipients: reached, sentAt: ladder.payload.sentAt, rungs };
        const state = await this.ctx.relay.holdEscalation(request);
        this.store.setProgress(ladder.messageId, state, { at: this.ctx.scheduler.now(), placement });
      }
      this.#changed(ladder.payload.conversationId, ladder.messageId);
    }
  }

  /** Reads the progress of the running ladders that have a rung due, or have not been read for a while. */
  async #poll(): Promise<void> {
    const now = this.ctx.scheduler.now();
    for (const ladder of this.store.runningLadders()) {
      const last = this.#polledAt.get(ladder.messageId) ?? 0;
      const due = ladder.progress?.rungs.some((r) => r.releasedAt === null && r.cancelledAt === null && r.dueAt <= now && r.dueAt > last - CHECK_MS) ?? false;
      if (!due && now - last < REFRESH_MS) continue;
      this.#polledAt.set(ladder.messageId, now);
      const state = await this.ctx.relay.escalationState(ladder.escalationId);
      if (JSON.stringify(state) === JSON.stringify(ladder.progress)) continue;
      this.store.setProgress(ladder.messageId, state);
      this.#changed(ladder.payload.conversationId, ladder.messageId);
    }
  }

  /** Read the ladder again now (an acknowledgement of its message arrived). */
  refresh(messageId: MessageId): void {
    this.#polledAt.set(messageId, 0);
  }

  #changed(conversationId: ConversationId, messageId: MessageId): void {
    this.ctx.emit({ type: 'urgency', conversationId, messageId });
  }
}

/** Whom the message itself went to: a 1:1's peer, or whoever held the role (or its backup) when it was sent. */
function recipientsOf(payload: TextPayload): UserId[] {
  return payload.to ? [payload.to] : payload.role ? payload.role.holders.map((h) => h.userId) : [];
}

/**
 * The copy a rung releases: the message under an id of its own (random, so nobody who saw the original can send
 * something under the copy's id first), naming the original, which rung it is and whose acknowledgement it waited for.
 */
function rungCopy(ladder: StoredLadder, rung: LadderRung, index: number): TextPayload {
  const waitedFor = [...recipientsOf(ladder.payload), ...ladder.rungs.slice(0, index).flatMap((r) => r.recipients)];
  const escalation = { escalationId: ladder.escalationId, rung: index + 1, waitedFor, afterMs: rung.afterMs, original: ladder.messageId };
  return TextPayloadSchema.parse({ ...ladder.payload, messageId: randomUUID(), escalation });
}
