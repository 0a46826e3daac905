import { describeError } from '../../../shared/errors';
import { sameAddress, type ConversationId, type MessageId, type UserId } from '../../../shared/ids';
import type { Cancellable } from '../Clock';
import type { RoleConversations } from './RoleConversations';
import { roleRecipients, type RoleDirectory } from './RoleDirectory';
import type { AcknowledgementPayload, TextPayload } from '../../../shared/payload';
import type { MessageUrgency } from '../../../shared/urgency';
import type { RoleId } from '../../../shared/wire/roles';
import { RoundsError } from '../errors';
import type { StoredMessage } from '../storage/MessageStore';
import { UrgencyStore, type LadderRung } from '../storage/UrgencyStore';
import type { UrgentPlan } from '../storage/HeldSendStore';
import { Acknowledgements, newEscalationId } from './Acknowledgements';
import type { ClientContext } from './ClientContext';
import { EscalationLadders } from './EscalationLadders';
import type { OutboxSender } from './OutboxSender';
import type { SendOptions } from './OutgoingTexts';
import type { UrgencyReceiver } from './ReceivePipeline';
import type { UrgentReminders } from './UrgentReminders';

/** How long one of the sender's other workstations waits for the sending one to pass on an acknowledgement. */
export const PASS_ON_WAIT_MS = 10_000;

/** What the sender of an urgent message chooses (issue 19): the reason, and optionally who escalates when. */
export interface UrgentChoice {
  readonly reason: string;
  /** Each step: colleagues, and/or an on-call role (whoever the rota has on duty when the step is released, else the role's backup then, else as when the message is sent). */
  readonly ladder?: readonly { readonly afterMinutes: number; readonly to: readonly UserId[]; readonly role?: RoleId | undefined }[];
}

/** On-call roles for escalation (the roles' RoleDirectory and RoleConversations). */
export interface RoleResolver {
  /**
   * Whoever holds the role at `at` (by default now), and the role's name: the holders the rota has on duty then
   * (reachable ones), else the role's backup then; when neither (or `at` is now), whoever the role goes to now
   * (its holders, else its backup's).
   */
  holders(roleId: RoleId, at?: number): Promise<{ readonly users: readonly UserId[]; readonly name: string }>;
  /** The role's backup now (an account, or another role's holders). */
  backup(roleId: RoleId): Promise<readonly UserId[]>;
  /** The role of a conversation with a role, if it is one. */
  conversation(id: ConversationId): { readonly roleId: RoleId; readonly roleName: string } | undefined;
}

/** The resolver of a client's roles: its directory (holders now, from the relay) and its role conversations. */
export function roleResolverOf(directory: Pick<RoleDirectory, 'recipients' | 'backupHolders' | 'detail'>, conversations: Pick<RoleConversations, 'get'>): RoleResolver {
  return {
    holders: async (roleId, at) => {
      // On duty at `at` and reachable, else the role's backup at `at` (as a message for the role then would go).
      const scheduled = at === undefined ? undefined : roleRecipients(await directory.detail(roleId, at));
      if (scheduled && scheduled.via !== 'nobody') return { users: scheduled.users, name: scheduled.detail.role.name };
      const { users, detail } = await directory.recipients(roleId);
      return { users, name: detail.role.name };
    },
    backup: (roleId) => directory.backupHolders(roleId),
    conversation: (id) => conversations.get(id),
  };
}

/*
 * Urgent messages of one profile (issue 19), as one part of the messaging client: the reason required from the
 * policy's list, acknowledgements (Acknowledgements.ts), escalation ladders (EscalationLadders.ts), and what the
 * screens show of them. Reminders stop when the user acknowledges, on this device or another of theirs.
 */
export class UrgentMessages implements UrgencyReceiver {
  readonly store: UrgencyStore;
  readonly #acks: Acknowledgements;
  readonly #ladders: EscalationLadders;
  readonly #queue: (to: readonly UserId[], payload: AcknowledgementPayload) => void;

  constructor(
    private readonly ctx: ClientContext,
    sender: Pick<OutboxSender, 'queue' | 'encryptFor' | 'readDirectory'>,
    pending: (id: MessageId) => boolean,
    private readonly reminders: () => UrgentReminders | undefined,
    /** The organisation's reasons (policy `urgentReasons`). */
    private readonly reasons: readonly string[],
    /** The policy's default escalation times (minutes). */
    private readonly escalationMinutes: readonly number[] = [5, 10],
    /** Resolves a role step to its holders at sending (the roles' resolver, RoleDirectory). */
    private readonly roles?: RoleResolver,
  ) {
    this.store = new UrgencyStore(ctx.db);
    this.#queue = (to, payload) => sender.queue(to, payload);
    this.#acks = new Acknowledgements(ctx, this.store, (to, payload) => sender.queue(to, payload), (id) => this.reminders()?.acknowledged([id]));
    this.#ladders = new EscalationLadders(ctx, this.store, (users, payload) => sender.encryptFor(users, payload), pending, () => sender.readDirectory());
  }

  start(): void {
    this.#ladders.start();
  }

  stop(): void {
    this.#ladders.stop();
  }

  /** At each connect: acknowledgements not yet reported, ladders not yet handed over or due. */
  async connected(): Promise<void> {
    await this.#acks.reportPending();
    await this.#ladders.tick();
  }

  /**
   * The send options of an urgent message: its reason (which must be one of the policy's), and its ladder (1:1
   * only: a rung's copy travels 1:1 to people outside the conversation), stored with it in its transaction.
   */
  async sendOptions(conversationId: ConversationId, choice: UrgentChoice): Promise<SendOptions> {
    return this.optionsOf(await this.plan(conversationId, choice));
  }

  /**
   * What the clinician chose, checked and resolved now: the reason, and the ladder's rungs with their recipients (a
   * role step's holders as the rota has them on duty when the step is released: a hand-over in between sends it to
   * the next holder, not the one going off). A message with attachments keeps this until its uploads are done (HeldSendStore).
   */
  async plan(conversationId: ConversationId, choice: UrgentChoice): Promise<UrgentPlan> {
    if (!this.reasons.includes(choice.reason)) throw new RoundsError('URGENT_REASON_REQUIRED', 'an urgent message needs one of the organisation\'s reasons');
    const peer = this.ctx.conversations.peer(conversationId);
    const withRole = this.roles?.conversation(conversationId);
    const now = this.ctx.scheduler.now();
    const resolved = await Promise.all((choice.ladder ?? []).map(async (r) => {
      const role = r.role && this.roles ? await this.roles.holders(r.role, now + Math.round(r.afterMinutes * 60_000)) : undefined;
      return { afterMs: Math.round(r.afterMinutes * 60_000), users: [...r.to, ...(role?.users ?? [])], ...(role ? { role: role.name } : {}) };
    }));
    // To a role, without a ladder chosen: the policy's default, the role's backup after the first escalation time.
    const first = this.escalationMinutes[0];
    if (withRole && resolved.length === 0 && first !== undefined && this.roles) {
      resolved.push({ afterMs: Math.round(first * 60_000), users: [...(await this.roles.backup(withRole.roleId))], role: `${withRole.roleName}'s backup` });
    }
    // Each person once: someone an earlier rung (or the message itself) reaches is not sent a second copy later.
    const reached = new Set<string>([this.ctx.self.userId, ...(peer ? [peer] : [])]);
    const rungs: LadderRung[] = resolved.map((r) => {
      const recipients = [...new Set(r.users)].filter((u) => !reached.has(u));
      for (const u of recipients) reached.add(u);
      return { afterMs: r.afterMs, recipients, ...(r.role ? { role: r.role } : {}) };
    }).filter((r) => r.recipients.length > 0);
    if (rungs.length > 0 && !peer && !withRole) throw new RoundsError('INVALID_INPUT', 'an escalation ladder is for urgent messages to one person or an on-call role');
    return { reason: choice.reason, escalationId: newEscalationId(), rungs };
  }

  /** The send options of a planned urgent message: its payload's fields, and what is stored with it when it is queued. */
  optionsOf(plan: UrgentPlan): Pick<SendOptions, 'urgent' | 'urgency'> {
    const { reason, escalationId, rungs } = plan;
    const escalatesTo = [...new Set(rungs.flatMap((r) => r.recipients))];
    return {
      urgent: true,
      urgency: {
        fields: { urgentReason: reason, ...(escalatesTo.length > 0 ? { escalatesTo } : {}) },
        inTransaction: (payload) => {
          this.store.annotate(payload.messageId, reason, escalatesTo.length > 0 ? { escalatesTo } : null);
          // The ladder keeps the payload as it went (with a photo's pointers): each rung's copy carries them too.
          if (rungs.length > 0) this.store.addLadder(payload.messageId, escalationId, rungs, payload);
        },
      },
    };
  }

  /** What the composer offers: the policy's reasons and default escalation times. */
  options(): { reasons: string[]; escalationMinutes: number[] } {
    return { reasons: [...this.reasons], escalationMinutes: [...this.escalationMinutes] };
  }

  acknowledge(messageId: MessageId): void {
    this.#acks.acknowledge(messageId);
  }

  storedIn(payload: TextPayload): void {
    const released = payload.escalation ? { ...payload.escalation, conversationId: payload.conversationId } : undefined;
    const escalation = payload.escalatesTo || released ? { ...(payload.escalatesTo ? { escalatesTo: payload.escalatesTo } : {}), ...(released ? { released } : {}) } : null;
    this.store.annotate(payload.messageId, payload.urgentReason ?? null, escalation);
  }

  acknowledgementIn(payload: AcknowledgementPayload, from: Parameters<UrgencyReceiver['acknowledgementIn']>[1]): boolean {
    const { statement } = payload;
    const self = this.ctx.self;
    // Passed on by another of our workstations: this one need not pass it on too.
    if (from.userId === self.userId && !sameAddress(from, self) && !sameAddress(statement.acknowledger, from) && statement.sender === self.userId) this.#passedOnElsewhere(payload.signature);
    if (!this.#acks.receiveIn(payload, from)) return false;
    this.#passOn(payload, from);
    return true;
  }

  /** Pass-ons this workstation holds back for a moment, by the acknowledgement's signature (see #passOn). */
  readonly #heldPassOns = new Map<string, Cancellable>();

  #passedOnElsewhere(signature: string): void {
    this.#heldPassOns.get(signature)?.cancel();
    this.#heldPassOns.delete(signature);
  }

  /**
   * Inside the decrypt transaction, on the sender's other workstations: whoever covered for our message `original`
   * (our id for it) is known here now; covering acknowledgements refused before that are checked again.
   */
  coverageKnown(original: MessageId): void {
    for (const { payload, from } of this.store.takeSetAside(original, this.ctx.self.userId)) this.acknowledgementIn(payload, from);
  }

  /**
   * On the sender's workstations, inside the decrypt transaction: an acknowledgement of a message with a ladder or
   * a covering copy, received from the one who acknowledged, goes on to everyone else the message reached (the
   * addressee or the role's holders, whoever covered, the rungs released by then): only the sender knows them all.
   */
  #passOn(payload: AcknowledgementPayload, from: Parameters<UrgencyReceiver['acknowledgementIn']>[1]): void {
    const { statement } = payload;
    const self = this.ctx.self.userId;
    if (statement.sender !== self || !sameAddress(statement.acknowledger, from)) return;
    const message = this.ctx.messages.bySender(statement.messageId, self);
    const ladder = message && this.store.ladder(message.id);
    const covering = message?.coverage?.kind === 'alsoSent' ? message.coverage.to : [];
    if (!message || (!ladder && covering.length === 0)) return;
    const peer = this.ctx.conversations.peer(message.conversationId);
    // A rung due before the acknowledgement went, unless stopped by an earlier one (the progress may be a poll behind).
    const released = ladder?.progress?.rungs.filter((r) => r.releasedAt !== null || (r.cancelledAt === null && r.dueAt <= statement.acknowledgedAt)).flatMap((r) => r.recipients) ?? [];
    const holders = message.roleDelivery?.holders.map((h) => h.userId) ?? [];
    const to = [...new Set([...(peer ? [peer] : []), ...holders, ...covering, ...released])].filter((u) => u !== self && u !== statement.acknowledger.userId);
    if (to.length === 0) return;
    // Every one of the sender's workstations gets it; one passes it on. The one that sent the message does so at
    // once (its pass-on reaches our other workstations too); another waits a moment, and passes it on only if that
    // one's pass-on has not arrived by then (it is switched off). Held in memory: after a restart meanwhile, the
    // sending workstation passes it on when it is back.
    if (sameAddress(message.sender, this.ctx.self)) {
      this.#queue(to, payload);
      return;
    }
    const { ctx } = this;
    this.#heldPassOns.get(payload.signature)?.cancel();
    this.#heldPassOns.set(payload.signature, ctx.scheduler.after(PASS_ON_WAIT_MS, () => {
      this.#heldPassOns.delete(payload.signature);
      if (!ctx.running()) return;
      try {
        ctx.db.transaction(() => this.#queue(to, payload));
        ctx.kick();
      } catch (error) {
        ctx.logger.error(`passing on an acknowledgement: ${describeError(error)}`);
      }
    }));
  }

  acknowledged(payload: AcknowledgementPayload): void {
    const { messageId, sender } = payload.statement;
    const message = this.#acks.heldFor(messageId, sender);
    // Acknowledged on another of this user's workstations, or by whoever covered for them: the reminders stop here too.
    const self = this.ctx.self.userId;
    if (payload.statement.acknowledger.userId === self || payload.statement.coveringFor === self) this.reminders()?.acknowledged([message?.id ?? messageId]);
    this.#ladders.refresh(messageId);
    if (sender === this.ctx.self.userId) this.ctx.kick(); // passed on to the others it reached (#passOn)
    if (message) this.ctx.emit({ type: 'urgency', conversationId: message.conversationId, messageId: message.id });
  }

  /** What the screens show of urgent messages (names from `nameOf`). */
  views(messages: readonly StoredMessage[], nameOf: (userId: UserId) => string): Map<MessageId, MessageUrgency> {
    const self = this.ctx.self.userId;
    const urgent = messages.filter((m) => m.urgent);
    const notes = this.store.annotations(urgent.map((m) => m.id));
    const person = (userId: UserId) => ({ userId, name: userId === self ? 'you' : nameOf(userId) });
    return new Map(urgent.map((m) => {
      const note = notes.get(m.id);
      const acks = this.store.acknowledgements(this.#acks.subjectOf(m).messageId, m.sender.userId);
      // Whom an acknowledger covered for: as they signed it, or as this sender's record of the forwarding says.
      const coveringFor = (by: UserId) => {
        const claimed = acks.find((a) => a.statement.acknowledger.userId === by)?.statement.coveringFor;
        const absent = claimed ?? (m.coverage?.kind === 'alsoSent' && m.coverage.to.includes(by) ? m.coverage.absent : undefined);
        return absent ? { coveringFor: person(absent) } : {};
      };
      const acknowledger = (by: UserId, at: number) => {
        const vouchedBy = acks.find((a) => a.statement.acknowledger.userId === by)?.vouchedBy;
        return { ...person(by), at, ...coveringFor(by), ...(vouchedBy ? { reportedBy: person(vouchedBy) } : {}) };
      };
      const released = note?.escalation?.released;
      const ladder = m.sender.userId === self ? this.store.ladder(m.id) : undefined;
      const progress = ladder?.progress ?? null;
      const acknowledged = acks[0] ?? null;
      const view: MessageUrgency = {
        reason: note?.reason ?? null,
        acknowledgements: acks.map((a) => acknowledger(a.statement.acknowledger.userId, a.statement.acknowledgedAt)),
        // Acknowledged by this user, or for them by whoever covered while they were away: nothing left to acknowledge.
        canAcknowledge: m.sender.userId !== self && !acks.some((a) => a.statement.acknowledger.userId === self || a.statement.coveringFor === self),
        escalatedToMe: released && m.sender.userId !== self ? { step: released.rung, waitedFor: released.waitedFor.map(person), afterMs: released.afterMs } : null,
        ladder: ladder ? {
          submitted: ladder.submittedAt !== null,
          steps: ladder.rungs.map((r, i) => {
            // The relay numbers only the rungs it holds (ladder.placement); without placements, rung i is i + 1.
            const placed = ladder.placement?.[i] ?? i + 1;
            const state = typeof placed === 'number' ? progress?.rungs.find((p) => p.rung === placed) : undefined;
            return {
              to: r.recipients.map(person), role: r.role ?? null, afterMs: r.afterMs, dueAt: state?.dueAt ?? null, releasedAt: state?.releasedAt ?? null, cancelledAt: state?.cancelledAt ?? null,
              ...(typeof placed === 'string' ? { skipped: placed } : {}),
            };
          }),
          acknowledged: acknowledged ? acknowledger(acknowledged.statement.acknowledger.userId, acknowledged.statement.acknowledgedAt) : progress?.acknowledged ? acknowledger(progress.acknowledged.by, progress.acknowledged.at) : null,
        } : null,
      };
      return [m.id, view];
    }));
  }
}
