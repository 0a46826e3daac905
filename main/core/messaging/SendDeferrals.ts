import type { UiEvent } from '../../../shared/contract';
import type { MessageId, UserId } from '../../../shared/ids';
import type { Scheduler } from '../Clock';

type SendDelayed = Extract<UiEvent, { type: 'sendDelayed' }>;

/** First and longest wait before a recipient whose relay queue was full is tried again. */
export interface DeferralPolicy {
  readonly firstMs: number;
  readonly maxMs: number;
}

export const DEFAULT_DEFERRAL: DeferralPolicy = { firstMs: 30_000, maxMs: 15 * 60_000 };

/**
 * What the outbox waits for when the relay refused something for now: recipients whose queue on the
 * relay is full (each tried again after a wait that doubles, up to the policy's longest; a new message to
 * them waits too, without asking the relay again), and a pause of everything when this workstation went
 * over the relay's rate (as long as its Retry-After said). When the earliest wait is over, `due` runs
 * (the outbox flushes again). It also tells the UI, once per change, which message waits and why.
 * Kept in memory: after a restart the first flush simply asks the relay again.
 */
/**
 * Why a recipient waits: their queue is full, or it holds this account's whole share of it, or they have
 * no workstation yet (an account still to enroll).
 */
export type QueueRefusal = 'RECIPIENT_QUEUE_FULL' | 'SENDER_SHARE_FULL' | 'RECIPIENT_NOT_ENROLLED';
/** Why everything waits: this workstation's rate, the relay's disk, or the relay's database out of reach. */
export type PauseReason = 'RATE_LIMITED' | 'RELAY_STORAGE_FULL' | 'RELAY_UNAVAILABLE';

export class SendDeferrals {
  readonly #deferred = new Map<UserId, { until: number; delayMs: number; reason: QueueRefusal }>();
  /** Messages the UI was told wait, and the last thing it was told about each. */
  readonly #announced = new Map<MessageId, string>();
  #pausedUntil = 0;
  #pauseReason: PauseReason = 'RATE_LIMITED';
  #timer: { cancel(): void } | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly policy: DeferralPolicy,
    private readonly due: () => void,
    private readonly emit: (event: SendDelayed) => void,
  ) {}

  /** Whether this workstation is over the relay's rate: nothing is sent now. */
  paused(now: number): boolean {
    return now < this.#pausedUntil;
  }

  /** The relay said to come back in `retryAfterMs` (or, not saying, after the first deferral). */
  pause(now: number, retryAfterMs: number | undefined, reason: PauseReason = 'RATE_LIMITED'): void {
    this.#pausedUntil = now + (retryAfterMs ?? this.policy.firstMs);
    this.#pauseReason = reason;
    this.#schedule();
  }

  /** Whether `userId`'s queue on the relay was full recently enough that sending to them waits. */
  holds(userId: UserId, now: number): boolean {
    const deferral = this.#deferred.get(userId);
    return deferral !== undefined && deferral.until > now;
  }

  /** `userId`'s queue on the relay is full (or full for us): try them again later, waiting twice as long each time. */
  defer(userId: UserId, now: number, reason: QueueRefusal = 'RECIPIENT_QUEUE_FULL'): void {
    const previous = this.#deferred.get(userId);
    const delayMs = previous ? Math.min(this.policy.maxMs, previous.delayMs * 2) : this.policy.firstMs;
    this.#deferred.set(userId, { until: now + delayMs, delayMs, reason });
    this.#schedule();
  }

  /** The relay took something for `userId`: their next refusal starts from the first wait again. */
  clear(userId: UserId): void {
    this.#deferred.delete(userId);
  }

  /** Tells the UI that a message waits: for `userId`'s queue, or (undefined) for the pause of everything. */
  announce(messageId: MessageId, userId: UserId | undefined, now: number): void {
    const deferral = userId === undefined ? undefined : this.#deferred.get(userId);
    const event: SendDelayed = userId === undefined
      ? { type: 'sendDelayed', messageId, reason: this.#pauseReason, retryAt: Math.max(now, this.#pausedUntil) }
      : { type: 'sendDelayed', messageId, reason: deferral?.reason ?? 'RECIPIENT_QUEUE_FULL', userId, retryAt: Math.max(now, deferral?.until ?? now) };
    const said = JSON.stringify(event);
    if (this.#announced.get(messageId) === said) return;
    if (this.#announced.size > 10_000) this.#announced.clear();
    this.#announced.set(messageId, said);
    this.emit(event);
  }

  /** The message went (or can never go): nothing more to tell about it. */
  settled(messageId: MessageId): void {
    this.#announced.delete(messageId);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Runs `due` when the earliest wait is over. */
  #schedule(): void {
    this.#timer?.cancel();
    const now = this.scheduler.now();
    const times = [this.#pausedUntil, ...[...this.#deferred.values()].map((d) => d.until)].filter((t) => t > now);
    if (times.length === 0) return;
    const timer = this.scheduler.after(Math.max(1, Math.min(...times) - now), () => {
      if (this.#timer === timer) this.#timer = undefined;
      this.due();
    });
    this.#timer = timer;
  }
}
