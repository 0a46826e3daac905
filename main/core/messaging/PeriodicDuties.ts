import { describeError } from '../../../shared/errors';
import type { Cancellable } from '../Clock';
import { applyRetention } from '../storage/Retention';
import { UrgencyStore } from '../storage/UrgencyStore';
import type { ClientContext } from './ClientContext';
import { UnreadableEnvelopes } from './UnreadableEnvelopes';
import { DEFAULT_URGENT_POLICY, UrgentReminders, type UrgentPolicy } from './UrgentReminders';

/**
 * What a running client does on its own timers: reminds of unacknowledged urgent messages (the policy's
 * interval), deletes messages past the retention period (at start and daily), and audits the episodes of
 * unreadable envelopes once they go quiet (and every open one when the client stops, while the database
 * is still open).
 */
export class PeriodicDuties {
  /** Envelopes that could not be read, audited once per sender's episode. */
  readonly unreadable: UnreadableEnvelopes;
  #urgent: UrgentReminders | undefined;
  #timers: Cancellable[] = [];

  constructor(
    private readonly ctx: ClientContext,
    private readonly policy: { readonly urgent?: UrgentPolicy | undefined; readonly retentionDays?: number | null | undefined },
  ) {
    this.unreadable = new UnreadableEnvelopes(ctx.scheduler, (details) => ctx.audit('message.rejected', details));
  }

  /** Urgent reminders while running (none before start). */
  get urgent(): UrgentReminders | undefined {
    return this.#urgent;
  }

  start(): void {
    const { ctx } = this;
    this.#urgent = new UrgentReminders(this.policy.urgent ?? DEFAULT_URGENT_POLICY, ctx.scheduler, (r) => ctx.emit({ type: 'urgentReminder', ...r }));
    for (const m of new UrgencyStore(ctx.db).unacknowledged(ctx.self.userId)) this.#urgent.track(m.id, m.conversationId, m.receivedAt);
    this.applyRetention();
    const guarded = (what: string, work: () => unknown) => () => {
      try {
        work();
      } catch (error) {
        ctx.logger.error(`${what} failed: ${describeError(error)}`);
      }
    };
    this.#timers = [
      ctx.scheduler.every(24 * 3600_000, guarded('retention', () => this.applyRetention())),
      ctx.scheduler.every(60_000, guarded('auditing unreadable envelopes', () => this.auditUnreadable(false))),
    ];
  }

  stop(): void {
    this.#urgent?.stop();
    for (const timer of this.#timers.splice(0)) timer.cancel();
  }

  /** Deletes messages past the org retention period (audited). */
  applyRetention(): number {
    const days = this.policy.retentionDays;
    return days ? applyRetention(this.ctx.db, this.ctx.messages, days, this.ctx.scheduler.now()) : 0;
  }

  /** Audits the episodes of unreadable envelopes that went quiet (all of them when `all`). */
  auditUnreadable(all: boolean): void {
    try {
      this.unreadable.flush(all);
    } catch (error) {
      this.ctx.logger.error(`auditing unreadable envelopes failed: ${describeError(error)}`);
    }
  }
}
