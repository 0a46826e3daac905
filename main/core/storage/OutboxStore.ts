import { UserIdSchema, type MessageId, type UserId } from '../../../shared/ids';
import { PayloadSchema, type Payload } from '../../../shared/payload';
import type { SqlRunner } from './ProfileDatabase';

/** One payload waiting to go: whom it still has to reach, and how often sending it failed. */
export interface OutboxEntry {
  readonly seq: number;
  readonly recipients: readonly UserId[];
  readonly payload: Payload;
  readonly attempts: number;
}

/**
 * The outbox, in the encrypted profile database: texts, receipts and care-team updates wait here, in the
 * order they were written, until the relay accepted them for everyone they are for. It survives restarts
 * and locks; what it holds is read back through the shared schemas like anything from outside.
 */
export class OutboxStore {
  constructor(private readonly db: SqlRunner) {}

  /** Queues `payload` for `recipients` (and our own other devices); `id` is the message id for a text. */
  add(id: string, recipients: readonly UserId[], payload: Payload, at: number): void {
    this.db.run('INSERT INTO outbox (message_id, recipients, payload, created_at) VALUES ($id, $r, $p, $at)', { id, r: JSON.stringify(recipients), p: JSON.stringify(payload), at });
  }

  /** The oldest entry after `after` (a seq), or none. */
  next(after: number): OutboxEntry | undefined {
    const row = this.db.get<{ seq: number; recipients: string; payload: string; attempts: number }>('SELECT seq, recipients, payload, attempts FROM outbox WHERE seq > $after ORDER BY seq LIMIT 1', { after });
    if (!row) return undefined;
    const payload = PayloadSchema.parse(JSON.parse(row.payload));
    const recipients = (JSON.parse(row.recipients) as string[]).map((u) => UserIdSchema.parse(u));
    return { seq: row.seq, recipients, payload, attempts: row.attempts };
  }

  /** Sent to everyone (or never can be): gone from the outbox. */
  remove(seq: number): void {
    this.db.run('DELETE FROM outbox WHERE seq = $seq', { seq });
  }

  /** Sent to some: it now waits only for `recipients`. */
  waitFor(seq: number, recipients: readonly UserId[]): void {
    this.db.run('UPDATE outbox SET recipients = $r WHERE seq = $seq', { seq, r: JSON.stringify(recipients) });
  }

  countAttempt(seq: number): void {
    this.db.run('UPDATE outbox SET attempts = attempts + 1 WHERE seq = $seq', { seq });
  }

  /** Nothing the attempts so far did is in doubt (what they left was set right): the next is a first one again. */
  resetAttempts(seq: number): void {
    this.db.run('UPDATE outbox SET attempts = 0 WHERE seq = $seq', { seq });
  }

  /** Which of these messages still wait. */
  holding(messageIds: readonly MessageId[]): Set<MessageId> {
    const out = new Set<MessageId>();
    for (const id of messageIds) if (this.db.get('SELECT 1 AS yes FROM outbox WHERE message_id = $id', { id })) out.add(id);
    return out;
  }

  count(): number {
    return this.db.get<{ n: number }>('SELECT count(*) AS n FROM outbox')?.n ?? 0;
  }
}
