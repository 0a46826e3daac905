import { z } from 'zod';
import { UserIdSchema } from './ids';
import { RoleIdSchema } from './wire/roles';

/*
 * How the app shows and sends urgent messages (issue 19): the reason, acknowledgements, an escalation that
 * reached this user, and the progress of this user's own escalation ladder. Views for the renderer only; the
 * wire and the relay never carry these (the reason and the text travel end-to-end encrypted).
 */

const Timestamp = z.number().int().nonnegative();
const Person = z.strictObject({ userId: UserIdSchema, name: z.string() });
/**
 * Who acknowledged and when; `coveringFor`: they had the message as the colleague covering for this person;
 * `reportedBy`: passed on by the message's sender and not verifiable on this workstation, so this is their word.
 */
const Acknowledger = Person.extend({ at: Timestamp, coveringFor: Person.optional(), reportedBy: Person.optional() });

export const UrgentReasonSchema = z.string().trim().min(1).max(120);

/**
 * A ladder the sender chooses: after how many minutes (ascending) which colleagues, or whoever holds an on-call
 * role at the time of sending (its holders, else its backup's), receive the message.
 */
export const LadderChoiceSchema = z.array(z.strictObject({ afterMinutes: z.number().min(0.02).max(1440), to: z.array(UserIdSchema).max(20), role: RoleIdSchema.optional() })
  .refine((r) => r.to.length > 0 || r.role !== undefined, 'a step names a colleague or a role')).min(1).max(5)
  .refine((rungs) => rungs.every((r, i) => i === 0 || r.afterMinutes > (rungs[i - 1]?.afterMinutes ?? 0)), 'each step comes after the one before');
export type LadderChoice = z.infer<typeof LadderChoiceSchema>;

export const MessageUrgencySchema = z.strictObject({
  /** The sender's reason, from the organisation's list. */
  reason: z.string().nullable(),
  /** Verified acknowledgements, oldest first (signed by each acknowledger's workstation). */
  acknowledgements: z.array(Acknowledger),
  /** Incoming and not yet acknowledged by this user: the Acknowledge action is offered. */
  canAcknowledge: z.boolean(),
  /** A copy an escalation released to this user: whose acknowledgement it waited for, and how long. */
  escalatedToMe: z.strictObject({ step: z.number().int(), waitedFor: z.array(Person), afterMs: z.number().int() }).nullable(),
  /** This user's own ladder: each step's time and people, and what became of it; null without one. */
  ladder: z.strictObject({
    submitted: z.boolean(),
    steps: z.array(z.strictObject({
      to: z.array(Person), role: z.string().nullable().optional(), afterMs: z.number().int(), dueAt: Timestamp.nullable(), releasedAt: Timestamp.nullable(), cancelledAt: Timestamp.nullable(),
      /** Not handed to the relay: its people had the message already (a role's holders, whoever covered), or had no workstation. */
      skipped: z.enum(['reached', 'unreachable']).optional(),
    })),
    acknowledged: Acknowledger.nullable(),
  }).nullable(),
});
export type MessageUrgency = z.infer<typeof MessageUrgencySchema>;

/** What the composer offers: the policy's reasons and default ladder times. */
export const UrgentOptionsSchema = z.strictObject({ reasons: z.array(z.string()), escalationMinutes: z.array(z.number()) });
export type UrgentOptions = z.infer<typeof UrgentOptionsSchema>;
