import { z } from 'zod';
import { MessageIdSchema, type MessageId } from '../../../shared/ids';
import type { SqlRunner } from './ProfileDatabase';
import { LadderRungSchema } from './UrgencyStore';

/*
 * How the clinician asked a message with attachments to go, kept (migration 0012, in the encrypted profile) from
 * the moment it is written until its uploads are done and it goes: what was chosen then. Who receives a role's
 * message, and whether someone covers for an absent colleague, are not kept: they are decided when it goes
 * (AttachedSends.ts).
 */

/** Urgent: the reason chosen, and the escalation ladder with each rung's recipients resolved at writing. */
export const UrgentPlanSchema = z.strictObject({
  reason: z.string().min(1).max(200),
  escalationId: z.string().min(1).max(64),
  rungs: z.array(LadderRungSchema).max(10),
});
export type UrgentPlan = z.infer<typeof UrgentPlanSchema>;

export const SendPlanSchema = z.strictObject({
  /** The conversation as it was when the message was written (a care team stays one; a role is asked when it goes). */
  kind: z.enum(['direct', 'careTeam', 'role']),
  replyTo: MessageIdSchema.optional(),
  urgent: UrgentPlanSchema.optional(),
});
export type SendPlan = z.infer<typeof SendPlanSchema>;

export class HeldSendStore {
  constructor(private readonly db: SqlRunner) {}

  hold(messageId: MessageId, plan: SendPlan, at: number): void {
    this.db.run('INSERT INTO held_sends (message_id, plan, held_at) VALUES ($m, $p, $at)', { m: messageId, p: JSON.stringify(SendPlanSchema.parse(plan)), at });
  }

  /** The plan of a message still held; undefined when it went, was cancelled, or its plan cannot be read. */
  get(messageId: MessageId): SendPlan | undefined {
    const row = this.db.get<{ plan: string }>('SELECT plan FROM held_sends WHERE message_id = $m', { m: messageId });
    if (!row) return undefined;
    try {
      const parsed = SendPlanSchema.safeParse(JSON.parse(row.plan));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  /** Which of these messages are held (their files going up, or up and waiting for their release). */
  holding(messageIds: readonly MessageId[]): Set<MessageId> {
    if (messageIds.length === 0) return new Set();
    return new Set(this.db.all<{ message_id: string }>('SELECT message_id FROM held_sends WHERE message_id IN (SELECT value FROM json_each($ids))', { ids: JSON.stringify(messageIds) })
      .map((r) => r.message_id as MessageId));
  }

  /** Lets the message go (or drops it): true when it was held. */
  release(messageId: MessageId): boolean {
    return this.db.run('DELETE FROM held_sends WHERE message_id = $m', { m: messageId }) === 1;
  }

  /** Messages held whose every attachment is on the relay: they wait only for their release (after a restart). */
  ready(): MessageId[] {
    return this.db.all<{ message_id: string }>(
      `SELECT h.message_id FROM held_sends h WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.message_id = h.message_id AND a.state != 'uploaded')
       ORDER BY h.held_at`,
    ).map((r) => r.message_id as MessageId);
  }
}
