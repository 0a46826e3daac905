import { z } from 'zod';
import { MessageIdSchema, UserIdSchema } from '../ids';
import { SignedAcknowledgementSchema } from '../acknowledgement';
import { OutgoingEnvelopeSchema } from './relay';

/*
 * Issue 19 on the relay's wire: signed acknowledgements reported to the relay (POST /v1/acknowledgements), and
 * the escalation ladders of urgent messages (POST /v1/escalations, GET /v1/escalations/:id). The relay holds a
 * ladder's envelopes (ciphertext it cannot read) and releases each rung into its recipients' queues when its
 * time comes and nobody has acknowledged; it learns who, when and how many, never the text.
 */

/** The most rungs a ladder has after the first recipients. */
export const MAX_ESCALATION_RUNGS = 5;
/** The earliest (1 s, for trying it out) and latest (a day) a rung may fall due after the relay took the ladder. */
export const MIN_RUNG_DELAY_MS = 1000;
export const MAX_RUNG_DELAY_MS = 86_400_000;
/** How far before the relay's clock a ladder's `sentAt` is believed (a ladder normally follows its message within seconds). */
export const SENT_AT_WINDOW_MS = 10 * 60_000;

export const EscalationIdSchema = z.uuid();

export const EscalationRungRequestSchema = z.strictObject({
  /** When the rung falls due, in milliseconds after the message went (`sentAt`, clamped) or the relay took the ladder. */
  delayMs: z.number().int().min(MIN_RUNG_DELAY_MS).max(MAX_RUNG_DELAY_MS),
  /** Whom the rung goes to (every envelope's recipient is a device of one of them). */
  recipients: z.array(UserIdSchema).min(1).max(50),
  envelopes: z.array(OutgoingEnvelopeSchema).min(1).max(500),
});

export const EscalationRequestSchema = z.strictObject({
  escalationId: EscalationIdSchema,
  /** The urgent message's id (an acknowledgement of it, by someone it reached, cancels the ladder). */
  messageId: MessageIdSchema,
  /** Whom the message itself went to: their acknowledgement cancels the ladder from the start. */
  recipients: z.array(UserIdSchema).min(1).max(50),
  /**
   * When the message itself went (best the relay's serverTimestamp of that send): rungs fall due `delayMs` after
   * it, so a ladder handed over late does not wait longer. The relay takes it only within SENT_AT_WINDOW_MS
   * before its own clock (an older one counts as that far back, a later one as now); absent, rungs count from
   * when the relay took the ladder.
   */
  sentAt: z.number().int().nonnegative().max(8.64e15).optional(),
  rungs: z.array(EscalationRungRequestSchema).min(1).max(MAX_ESCALATION_RUNGS)
    .refine((rungs) => rungs.every((r, i) => i === 0 || r.delayMs > (rungs[i - 1]?.delayMs ?? 0)), 'each rung falls due after the one before'),
});
export type EscalationRequest = z.infer<typeof EscalationRequestSchema>;

/** One rung as the relay reports it: when it falls (fell) due, whom it goes to, and whether it was released or cancelled. */
export const EscalationRungStateSchema = z.strictObject({
  rung: z.number().int().min(1).max(MAX_ESCALATION_RUNGS),
  dueAt: z.number().int().nonnegative(),
  recipients: z.array(UserIdSchema),
  releasedAt: z.number().int().nonnegative().nullable(),
  cancelledAt: z.number().int().nonnegative().nullable(),
});
export type EscalationRungState = z.infer<typeof EscalationRungStateSchema>;

/** POST /v1/escalations answers, and GET /v1/escalations/:id (the sender's account only) reports, the ladder's state. */
export const EscalationStateSchema = z.strictObject({
  escalationId: EscalationIdSchema,
  messageId: MessageIdSchema,
  createdAt: z.number().int().nonnegative(),
  /** The acknowledgement that stopped the ladder (the relay verified its signature), or null. */
  acknowledged: z.strictObject({ by: UserIdSchema, at: z.number().int().nonnegative() }).nullable(),
  rungs: z.array(EscalationRungStateSchema),
});
export type EscalationState = z.infer<typeof EscalationStateSchema>;

/** POST /v1/acknowledgements: the acknowledging device reports its signed acknowledgement. */
export const AcknowledgementReportSchema = SignedAcknowledgementSchema;
export const AcknowledgementReportResponseSchema = z.strictObject({
  /** False when the relay had recorded this account's acknowledgement of the message already. */
  recorded: z.boolean(),
  /** Rungs of the message's escalation ladders that will now never be released. */
  cancelledRungs: z.number().int().nonnegative(),
});
export type AcknowledgementReportResponse = z.infer<typeof AcknowledgementReportResponseSchema>;
