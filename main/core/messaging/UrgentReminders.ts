import type { ConversationId, MessageId } from '../../../shared/ids';
import type { Scheduler } from '../Clock';

/** Org policy for urgent messages: how often and how many times to raise the notification again. */
export interface UrgentPolicy {
  readonly intervalMs: number;
  readonly maxReminders: number;
}

export const DEFAULT_URGENT_POLICY: UrgentPolicy = { intervalMs: 2 * 60_000, maxReminders: 10 };

export interface UrgentReminder {
  readonly messageId: MessageId;
  readonly conversationId: ConversationId;
  /** 1 for the first reminder after the original notification. */
  readonly reminder: number;
}

/**
 * Re-raises the notification of each unacknowledged urgent message every `intervalMs`, at most
 * `maxReminders` times, until the user acknowledges it (issue 19: reading it is not enough, the sender
 * waits for the acknowledgement). The messages themselves stay in the encrypted store; this only keeps ids.
 */
export class UrgentReminders {
  readonly #pending = new Map<MessageId, { conversationId: ConversationId; since: number; sent: number }>();
  readonly #timer: { cancel(): void };

  constructor(
    private readonly policy: UrgentPolicy,
    private readonly scheduler: Scheduler,
    private readonly remind: (reminder: UrgentReminder) => void,
  ) {
    // Checked often enough that reminders are late by at most a tenth of the interval.
    this.#timer = scheduler.every(Math.max(1000, Math.floor(policy.intervalMs / 10)), () => this.tick());
  }

  /** An urgent message arrived (or was found unacknowledged at start-up, `since` its arrival). */
  track(messageId: MessageId, conversationId: ConversationId, since: number = this.scheduler.now()): void {
    if (!this.#pending.has(messageId)) this.#pending.set(messageId, { conversationId, since, sent: 0 });
  }

  /** The user acknowledged these (here or on another of their workstations): no more reminders for them. */
  acknowledged(messageIds: readonly MessageId[]): void {
    for (const id of messageIds) this.#pending.delete(id);
  }

  get pending(): number {
    return this.#pending.size;
  }

  tick(): void {
    const now = this.scheduler.now();
    for (const [messageId, entry] of this.#pending) {
      const due = Math.floor((now - entry.since) / this.policy.intervalMs);
      if (due > entry.sent && entry.sent < this.policy.maxReminders) {
        entry.sent = Math.min(due, this.policy.maxReminders);
        this.remind({ messageId, conversationId: entry.conversationId, reminder: entry.sent });
      }
      if (entry.sent >= this.policy.maxReminders) this.#pending.delete(messageId);
    }
  }

  stop(): void {
    this.#timer.cancel();
    this.#pending.clear();
  }
}
