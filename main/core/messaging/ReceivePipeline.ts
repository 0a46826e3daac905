import { describeError } from '../../../shared/errors';
import { addressKey, type ConversationId, type DeviceAddress, type MessageId } from '../../../shared/ids';
import type { DeliveredEnvelope } from '../../../shared/wire/relay';
import type { AcknowledgementPayload, TextPayload } from '../../../shared/payload';
import type { Cancellable } from '../Clock';
import type { DecryptedMessage } from '../crypto/ProtocolCore';
import { RoundsError } from '../errors';
import type { ClientContext } from './ClientContext';
import { directConversationId } from './directConversation';
import { digestOf, type OutboxSender } from './OutboxSender';
import type { UnreadableEnvelopes } from './UnreadableEnvelopes';
import type { UrgentReminders } from './UrgentReminders';
import type { Attachments } from '../attachments/Attachments';
import { isRoleText, type RoleConversations } from './RoleConversations';
import { receivedCoverage, recordSyncedCoverage } from '../presence/forwarding';
import type { Backoff } from './RelayLink';

/**
 * Receiving, one envelope at a time: decrypt, store in the same transaction as the ratchet step, and only
 * then acknowledge (a crash in between means the relay delivers it again, and it is stored once). An
 * envelope this workstation could not store (its database busy, its disk full) is tried again after a wait,
 * and nothing after it is taken meanwhile: a team message is never read before the sender key that came
 * ahead of it, nor acknowledged in its place. Texts from others get a delivered receipt; urgent ones are
 * reminded of until read. Message text never leaves the core except encrypted, and never reaches a log.
 */
export class ReceivePipeline {
  #receiving: Promise<unknown> = Promise.resolve();
  /** The wait before an envelope that could not be stored is tried again; stop() ends it. */
  #paused: { readonly timer: Cancellable; readonly resume: () => void } | undefined;
  /** The ids of the envelopes queued and not yet done with (stored, refused, or left at the relay). */
  readonly #queued = new Set<string>();
  /** The profile's database is damaged or read-only: nothing more is taken (it waits at the relay) until it is opened again. */
  #damaged = false;

  constructor(
    private readonly ctx: ClientContext,
    private readonly hooks: {
      /** Acknowledges envelopes on the open connection. */
      readonly ack: (envelope: DeliveredEnvelope) => void;
      readonly queueReceipt: OutboxSender['queueReceipt'];
      readonly unreadable: UnreadableEnvelopes;
      readonly urgent: () => UrgentReminders | undefined;
      readonly attachments: () => Attachments;
      /** Urgent messages' reasons, escalations and acknowledgements (issue 19). */
      readonly urgency: UrgencyReceiver;
      /** Role conversations (issue 19): where a text for a role is filed. */
      readonly roles: Pick<RoleConversations, 'file'>;
      /** The first and longest wait before an envelope that could not be stored is tried again (doubling). */
      readonly retry: Backoff;
    },
  ) {}

  /**
   * The user opened the conversation: its messages are read, senders are told. Urgent reminders go on until
   * the user acknowledges (issue 19): reading is not closing the loop.
   */
  markRead(conversationId: ConversationId): MessageId[] {
    const { ctx } = this;
    const ids = ctx.messages.markRead(conversationId, ctx.self.userId, ctx.scheduler.now());
    if (ids.length > 0) ctx.audit('message.read', { conversation: conversationId, messages: ids.join(' ') });
    for (const [sender, { ids: theirs }] of ctx.messages.senders(ids)) this.hooks.queueReceipt(sender, conversationId, 'read', theirs);
    if (ids.length > 0) ctx.kick();
    return ids;
  }

  /**
   * Queues an envelope behind the ones before it, unless it is queued already: on each reconnect (while one waits to be
   * tried again, say) the relay delivers everything not yet acknowledged again, and one copy of each is enough.
   */
  enqueue(envelope: DeliveredEnvelope): void {
    if (this.#queued.has(envelope.id)) return;
    this.#queued.add(envelope.id);
    this.#receiving = this.#receiving.then(() => this.#receiveInOrder(envelope)).catch((error: unknown) => {
      // Not expected (#afterStored guards each step), but nothing may stop the envelopes behind this one.
      this.ctx.logger.error(`receiving an envelope failed: ${describeError(error)}`);
    }).finally(() => this.#queued.delete(envelope.id));
  }

  /** Waits for the envelopes queued so far, and any queued while waiting. */
  async settled(): Promise<void> {
    for (let receiving; receiving !== this.#receiving; ) await (receiving = this.#receiving);
  }

  /** The client stops: a wait to try an envelope again ends now, and it is not tried (the relay delivers it again next time). */
  stop(): void {
    const paused = this.#paused;
    this.#paused = undefined;
    paused?.timer.cancel();
    paused?.resume();
  }

  /**
   * One envelope, tried again (the same one, after a wait that doubles) for as long as this workstation cannot store it;
   * from the STALLED_AFTER-th failed attempt on the UI is told receiving is held up, and told again once it goes on.
   */
  async #receiveInOrder(envelope: DeliveredEnvelope): Promise<void> {
    const { retry } = this.hooks;
    let attempts = 0;
    for (let waitMs = retry.firstMs; await this.#receive(envelope, waitMs); waitMs = Math.min(retry.maxMs, waitMs * 2)) {
      if (++attempts === STALLED_AFTER) this.ctx.emit({ type: 'receiving', state: 'stalled' });
      await this.#pause(waitMs);
    }
    if (attempts >= STALLED_AFTER && !this.#damaged && this.ctx.running()) this.ctx.emit({ type: 'receiving', state: 'ok' });
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.ctx.running()) return resolve();
      const timer = this.ctx.scheduler.after(ms, () => {
        this.#paused = undefined;
        resolve();
      });
      this.#paused = { timer, resume: resolve };
    });
  }

  /** Receives one envelope; true when this workstation could not store it, to be tried again in `retryMs`. */
  async #receive(envelope: DeliveredEnvelope, retryMs: number): Promise<boolean> {
    const { ctx } = this;
    // After stop() nothing more is stored or acknowledged: the relay delivers it again next time. Nor once the
    // database is found damaged: it keeps them until the profile is opened again (or restored).
    if (!ctx.running() || this.#damaged) return false;
    let stored: DecryptedMessage | undefined;
    // A text's id here: the one its sender gave it, unless another sender's message holds that id (MessageStore.receive).
    let keptAs: MessageId | undefined;
    try {
      await ctx.core.decrypt(envelope, {
        inTransaction: (m) => {
          const kept = this.#store(m, envelope.serverTimestamp, envelope.content);
          if (kept === false) return;
          stored = m;
          if (kept !== true) keptAs = kept;
        },
      });
    } catch (error) {
      // This workstation could not store it (the profile locked meanwhile, its database busy, its disk
      // full): not acknowledged, and tried again before anything after it; it is not the envelope's fault.
      const failure = localFailure(error);
      if (!ctx.running() || failure !== undefined) {
        if (!ctx.running()) return false;
        if (failure === 'damaged') {
          // Trying again cannot help, and nothing after it can be stored either: said once, and left at the relay.
          this.#damaged = true;
          ctx.logger.error(`the profile database is damaged or read-only; nothing more is received until it is opened again: ${describeError(error)}`);
          ctx.emit({ type: 'receiving', state: 'failed' });
          return false;
        }
        ctx.logger.error(`a message could not be stored; tried again in ${retryMs} ms, nothing after it before: ${describeError(error)}`);
        return true;
      }
      // A duplicate (already stored) or an envelope that can never be read: acknowledge it so it does
      // not block the queue; the reason (a code, never content) goes to the local audit log, counted
      // per sender: a flood of garbage is one record per episode, not one per envelope.
      const code = error instanceof RoundsError ? error.code : 'INTERNAL';
      if (code !== 'DUPLICATE_MESSAGE') this.hooks.unreadable.note(envelope, code, describeError(error));
    }
    this.hooks.ack(envelope);
    const message: DecryptedMessage | undefined = stored;
    if (message) this.#afterStored(message, keptAs);
    return false;
  }

  /**
   * What follows a stored message: the screen and the OS are told first, then the rest, each step on its own, so that
   * one failing (logged by its name and code, never content) neither skips the others nor holds up the envelopes behind.
   */
  #afterStored(message: DecryptedMessage, keptAs: MessageId | undefined): void {
    const { ctx } = this;
    const step = (what: string, fn: () => void) => {
      try {
        fn();
      } catch (error) {
        ctx.logger.error(`after a message was stored, ${what} failed: ${describeError(error)}`);
      }
    };
    const { payload, sender } = message;
    if (payload.type === 'text') {
      const id = keptAs ?? payload.messageId;
      const conversationId = conversationOf(message, ctx.self.userId);
      const fromOthers = sender.userId !== ctx.self.userId;
      const urgent = payload.urgent === true && fromOthers;
      step('the message event', () => ctx.emit({ type: 'message', conversationId, messageId: id, from: sender.userId, urgent }));
      if (payload.attachments) step('the attachment fetch', () => this.hooks.attachments().arrived(id));
      if (urgent) step('the urgent reminder', () => this.hooks.urgent()?.track(id, conversationId));
      // Its delivered receipt was queued with it (#store): sent now.
      if (fromOthers) step('the outbox flush', () => ctx.kick());
    } else if (payload.type === 'receipt') {
      step('the receipt event', () => ctx.emit({ type: 'receipt', kind: payload.receipt, messageIds: payload.messageIds, from: sender.userId }));
    } else if (payload.type === 'careTeam') {
      step('the conversation event', () => ctx.emit({ type: 'conversation', conversationId: payload.conversationId }));
    } else if (payload.type === 'acknowledgement') {
      step('the acknowledgement', () => this.hooks.urgency.acknowledged(payload));
    }
  }

  /** Stores a decrypted payload; inside the decrypt transaction. Returns whether it was new (a text: the id it is kept under). */
  #store(message: DecryptedMessage, receivedAt: number, ciphertext?: string): boolean | MessageId {
    const { ctx } = this;
    const { payload, sender } = message;
    const self = ctx.self.userId;
    if (payload.type === 'acknowledgement') return this.hooks.urgency.acknowledgementIn(payload, sender);
    if (payload.type === 'receipt') {
      // Only receipts from others, about messages we hold, count.
      if (sender.userId === self) return false;
      // They name our messages by our ids for them: one kept here under an id of its own (it came from another of our
      // workstations after another sender's message of that id) is found by its wire id.
      ctx.messages.recordReceipt(payload.messageIds.map((id) => ctx.messages.bySender(id, self)?.id ?? id), sender.userId, payload.receipt, receivedAt);
      return true;
    }
    if (payload.type === 'careTeam') return ctx.conversations.applyCareTeam(payload, sender.userId, self, receivedAt);
    if (payload.type !== 'text') return false;
    const conversationId = conversationOf(message, self);
    // A message for an on-call role (issue 19) is filed in the role conversation, or dropped if it does not hold together.
    if (isRoleText(payload) && !this.hooks.roles.file(payload, sender.userId, self, receivedAt)) return false;
    if (message.via === 'direct' && !payload.role) {
      const peer = sender.userId !== self ? sender.userId : payload.to;
      // A copy of our own 1:1 message names the other user; it must match the conversation id.
      if (peer && directConversationId(self, peer) === conversationId) ctx.conversations.ensureDirect(conversationId, peer, receivedAt);
    }
    // What it replies to, as this profile keeps it (the sender named it by its wire id).
    const replyTo = payload.replyTo ? ctx.messages.heldIdIn(conversationId, payload.replyTo) : null;
    // A duplicate only if the same sender sent it: an id another sender used first is kept under one of its own here.
    const id = ctx.messages.receive({ id: payload.messageId, conversationId, sender, sentAt: payload.sentAt, receivedAt, body: payload.text, replyTo, urgent: payload.urgent ?? false });
    if (id === undefined) return false;
    if (id !== payload.messageId) ctx.logger.error('MESSAGE_ID_TAKEN: a message arrived under an id another sender used; kept under an id of its own');
    const kept: TextPayload = id === payload.messageId ? payload : { ...payload, messageId: id };
    if (payload.attachments) this.hooks.attachments().recordIncoming(id, payload.attachments, sender.userId === self);
    const coverage = receivedCoverage(payload);
    if (coverage) ctx.messages.setCoverage(id, coverage);
    // Our own message from another of our workstations: what it forwarded for someone away is known here too.
    if (sender.userId === self) {
      const covered = recordSyncedCoverage(ctx, kept);
      if (covered) this.hooks.urgency.coverageKnown(covered);
    }
    if (payload.role) ctx.messages.setRoleDelivery(id, payload.role);
    if (payload.urgent) this.hooks.urgency.storedIn(kept);
    // Its delivered receipt, to its sender by the id they gave it, in the same transaction: stored means receipted,
    // and an outbox that cannot take the receipt (SQLITE_BUSY) has the message tried again, never left unreceipted.
    if (sender.userId !== self) this.hooks.queueReceipt(sender.userId, payload.conversationId, 'delivered', [payload.messageId]);
    ctx.audit('message.received', { conversation: conversationId, message: id, sender: addressKey(sender), recipients: self, ciphertextSha256: ciphertext ? digestOf([ciphertext]) : null });
    return id;
  }
}

/** What receiving needs of urgent messages (issue 19; Acknowledgements.ts, UrgentMessages.ts). */
export interface UrgencyReceiver {
  /** Inside the decrypt transaction: an urgent text just stored (its reason and escalation are kept with it). */
  storedIn(payload: TextPayload): void;
  /** Inside the decrypt transaction: an acknowledgement, kept if genuine (true) or refused with why in the audit log. */
  acknowledgementIn(payload: AcknowledgementPayload, from: DeviceAddress): boolean;
  /** After it was stored: reminders stop if it was this user's, the ladder is read again, the screen is told. */
  acknowledged(payload: AcknowledgementPayload): void;
  /** Inside the decrypt transaction: whoever covered for our message `original` (our id for it) is known here now. */
  coverageKnown(original: MessageId): void;
}

/**
 * A 1:1 text from someone else is filed under the conversation of that sender and us, whatever id it
 * claims; a copy of our own message from another of our devices names its conversation itself.
 */
function conversationOf(message: DecryptedMessage, self: DecryptedMessage['sender']['userId']): ConversationId {
  return message.via === 'direct' && message.sender.userId !== self && !(message.payload.type === 'text' && message.payload.role) ? directConversationId(message.sender.userId, self) : message.payload.conversationId;
}

/**
 * SQLite's answers about what an envelope holds (a value too big or of the wrong kind, an id it chose already taken, as
 * a primary key or unique): the same every time, so such an envelope is refused like an unreadable one rather than
 * tried again for ever. Any other constraint (a foreign key, NOT NULL, CHECK, a trigger) is this workstation's fault,
 * not the envelope's: it is not acknowledged, and is tried again like a busy database.
 */
const ENVELOPE_FAULT = /^SQLITE_(CONSTRAINT_PRIMARYKEY|CONSTRAINT_UNIQUE|TOOBIG|MISMATCH|RANGE)(_|$)/;

/** SQLite's answers for a database that trying again cannot mend: damaged, not a database (or the wrong key), read-only. */
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB|READONLY)(_|$)/;

/** Failed attempts at one envelope before the UI is told receiving is held up (about 1.5 s with the tests' back-off, 15 s by default). */
const STALLED_AFTER = 5;

/**
 * A failure of this workstation's storage, anywhere in the error's causes: `damaged` (STORAGE_CORRUPT, a corrupt,
 * not-a-database or read-only file), or `temporary` (the profile locked meanwhile, the database busy, the disk full or
 * failing, any other SQLite error not of the envelope's making); undefined: not a local failure.
 */
function localFailure(error: unknown): 'damaged' | 'temporary' | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'STORAGE_CORRUPT') return 'damaged';
    if (code === 'PROFILE_LOCKED' || code === 'STORAGE_FULL') return 'temporary';
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return DAMAGED.test(code) ? 'damaged' : ENVELOPE_FAULT.test(code) ? undefined : 'temporary';
  }
  return undefined;
}
