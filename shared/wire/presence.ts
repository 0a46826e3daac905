import { z } from 'zod';
import { MessageIdSchema, UserIdSchema, type UserId } from '../ids';
import { RoleIdSchema } from './roles';

/*
 * Presence and coverage (issue 19): a clinician's status as their own devices set it on the relay, read for
 * many colleagues at once (lists, pickers, the conversation header) and by the sending client to decide
 * whether a message must also go to whoever covers. Organisational data only: the note is short and the app
 * says it must not name a patient; message content never passes here.
 */

export const PRESENCE_STATUSES = ['available', 'busy', 'inProcedure', 'offShift', 'doNotDisturb'] as const;
export const PresenceStatusSchema = z.enum(PRESENCE_STATUSES);
export type PresenceStatus = z.infer<typeof PresenceStatusSchema>;

/** The statuses whose holder may name someone to cover for them (messages to them also go there). */
export const FORWARDING_STATUSES = ['offShift', 'doNotDisturb'] as const satisfies readonly PresenceStatus[];
export type ForwardingStatus = (typeof FORWARDING_STATUSES)[number];
export const ForwardingStatusSchema = z.enum(FORWARDING_STATUSES);
export const forwards = (status: PresenceStatus): status is ForwardingStatus => (FORWARDING_STATUSES as readonly string[]).includes(status);

/** How each status reads in a sentence and to a screen reader. */
export const PRESENCE_LABELS: Readonly<Record<PresenceStatus, string>> = {
  available: 'Available',
  busy: 'Busy',
  inProcedure: 'In procedure',
  offShift: 'Off shift',
  doNotDisturb: 'Do not disturb',
};

export const MAX_PRESENCE_NOTE = 80;
/** Short, organisational ("Theatre 3 until 14:00"), one line: never a patient's details (the app says so). */
export const PresenceNoteSchema = z.string().trim().min(1).max(MAX_PRESENCE_NOTE).regex(/^[^\r\n\t]*$/, 'one line, no line breaks');

/** A role's id as the roles part of the relay hands it out (issue 19, roles: a lower-case UUID, as RoleIdSchema). */
export const RoleRefSchema = RoleIdSchema;

/** Whom messages go to as well while the holder is off shift or not to be disturbed: a named colleague, or a role. */
export const ForwardTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('user'), userId: UserIdSchema }),
  z.strictObject({ kind: z.literal('role'), roleId: RoleRefSchema }),
]);
export type ForwardTarget = z.infer<typeof ForwardTargetSchema>;

/** Longest a status may be set for ahead (a week: longer absences are a rota's business). */
export const MAX_PRESENCE_AHEAD_MS = 7 * 24 * 3600_000;

/**
 * PUT /v1/presence: the caller's own status. `until`: when it ends by itself (ms since the epoch, in the
 * future; then Available again); `forwardTo` only with Off shift or Do not disturb. Available clears all.
 */
export const PresenceUpdateSchema = z.strictObject({
  status: PresenceStatusSchema,
  note: PresenceNoteSchema.nullable().optional(),
  until: z.number().int().positive().nullable().optional(),
  forwardTo: ForwardTargetSchema.nullable().optional(),
}).superRefine((update, issues) => {
  if (update.forwardTo && !forwards(update.status)) issues.addIssue({ code: 'custom', path: ['forwardTo'], message: 'only Off shift and Do not disturb forward messages' });
  if (update.status === 'available' && (update.until ?? null) !== null) issues.addIssue({ code: 'custom', path: ['until'], message: 'Available has no end time' });
});
export type PresenceUpdate = z.infer<typeof PresenceUpdateSchema>;

/** One user's presence as the relay answers it; `since`: when it was set (null: never, Available). */
export const PresenceSchema = z.strictObject({
  userId: UserIdSchema,
  status: PresenceStatusSchema,
  note: z.string().max(MAX_PRESENCE_NOTE).nullable(),
  until: z.number().int().nullable(),
  forwardTo: ForwardTargetSchema.nullable(),
  since: z.number().int().nullable(),
});
export type Presence = z.infer<typeof PresenceSchema>;

/** At most this many users per GET /v1/presence (the app asks in batches). */
export const MAX_PRESENCE_QUERY = 100;
/** GET /v1/presence?users=<id>,<id>: comma-separated user ids. */
export const PresenceQuerySchema = z.strictObject({
  users: z.string().max(MAX_PRESENCE_QUERY * 37).transform((s) => s.split(',').filter((u) => u !== '')).pipe(z.array(UserIdSchema).min(1).max(MAX_PRESENCE_QUERY)),
});
export const PresenceResponseSchema = z.strictObject({ presence: z.array(PresenceSchema) });

/** Available, as read for someone who never set a status (or whose status has ended). */
export const availablePresence = (userId: UserId): Presence => ({ userId, status: 'available', note: null, until: null, forwardTo: null, since: null });

/** A stored status as it reads at `now`: past its end time it is Available again. */
export function presenceAt(presence: Presence, now: number): Presence {
  return presence.until !== null && presence.until <= now ? availablePresence(presence.userId) : presence;
}

/** "Off shift until 18:00 · Theatre 3": the status in words, for a label or a screen reader (time formatted by the caller). */
export function describePresence(presence: Pick<Presence, 'status' | 'note' | 'until'>, time: (at: number) => string): string {
  const until = presence.until === null ? '' : ` until ${time(presence.until)}`;
  return `${PRESENCE_LABELS[presence.status]}${until}${presence.note ? ` · ${presence.note}` : ''}`;
}

/**
 * How forwarding touched a message, as the app shows it. `alsoSent`: the sender's copy of a message to
 * someone away ("Dr. Lee is off shift: also sent to Dr. Patel"); `forwarded`: the copy that went to the one
 * covering, on both sides ("Forwarded: Dr. Lee is off shift").
 */
export const MessageCoverageSchema = z.discriminatedUnion('kind', [
  /** `to`: the colleague named, or the holders of the role named (`role`) when the message went. */
  z.strictObject({ kind: z.literal('alsoSent'), absent: UserIdSchema, status: ForwardingStatusSchema, to: z.array(UserIdSchema).min(1).max(50), role: z.strictObject({ id: RoleIdSchema, name: z.string().max(100) }).optional() }),
  /** `original`: the message to the absent one this copy stands for (an acknowledgement of the copy is of it). */
  z.strictObject({ kind: z.literal('forwarded'), absent: UserIdSchema, status: ForwardingStatusSchema, original: MessageIdSchema.optional() }),
]);
export type MessageCoverage = z.infer<typeof MessageCoverageSchema>;
