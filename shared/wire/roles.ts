import { z } from 'zod';
import { UserIdSchema } from '../ids';
import { DepartmentSchema, hasControlCharacters } from './directory';
import { DisplayNameSchema } from './directory';

/*
 * On-call roles on the wire (issue 19): a role such as "Cardiology on call" is held by whoever its schedule
 * (the rota) names at the time. Role names and schedules are organisational data; nothing here names a
 * patient or carries message content. Times are milliseconds since the epoch (UTC); the rota's own time
 * zone travels with the role so that screens can say when a hand-over is in the hospital's time too.
 */

/** A role's id: a random (version 4) UUID the relay assigns when an admin creates it. */
export const RoleIdSchema = z.uuid().regex(/^[0-9a-f-]+$/, 'lower-case UUID').brand<'OnCallRoleId'>();
export type RoleId = z.infer<typeof RoleIdSchema>;

export const MAX_ROLE_NAME_LENGTH = 100;
/** "Cardiology on call", "Ward 4 charge nurse": one line, no control or bidirectional-override characters. */
export const RoleNameSchema = z.string().trim().min(1).max(MAX_ROLE_NAME_LENGTH).refine((s) => !hasControlCharacters(s), 'no control characters');

/** Whether `zone` is an IANA time zone this runtime knows (Europe/London, America/New_York, UTC). */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z0-9_+\-/]{1,64}$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
export const TimeZoneSchema = z.string().refine(isTimeZone, 'an IANA time zone such as Europe/London');

const Instant = z.number().int().nonnegative().max(8.64e15);

/**
 * Where a shift came from: entered in the app by a scheduler, imported from a CSV or iCalendar file, the
 * relay's command line, or the hospital's directory (a SCIM or LDAP group the relay maps to the role: its
 * members hold the role standing, see STANDING_SHIFT_END).
 */
export const ShiftSourceSchema = z.enum(['app', 'csv', 'ics', 'cli', 'scim', 'ldap']);
export type ShiftSource = z.infer<typeof ShiftSourceSchema>;

/**
 * The end of a standing shift: a member of a directory group mapped to the role holds it from when the
 * directory said so until they leave the group (then the shift ends at that time). The latest instant a
 * Date can hold, so it is never reached; show it as "standing", not as a date.
 */
export const STANDING_SHIFT_END = 8.64e15;

/** The longest single shift (a weekend on call is 72 hours; a fortnight is a mistake). */
export const MAX_SHIFT_MS = 7 * 24 * 3600_000;

export const ShiftSchema = z.strictObject({
  id: z.uuid(),
  userId: UserIdSchema,
  displayName: DisplayNameSchema,
  startsAt: Instant,
  endsAt: Instant,
  source: ShiftSourceSchema,
});
export type Shift = z.infer<typeof ShiftSchema>;

/** Someone holding a role now, and since when they have held it without a break. */
export const RoleHolderSchema = z.strictObject({ userId: UserIdSchema, displayName: DisplayNameSchema, since: Instant });
export type RoleHolder = z.infer<typeof RoleHolderSchema>;

/** The next change of who holds the role: when, and who holds it from then (empty: no one). */
export const HandOverSchema = z.strictObject({ at: Instant, holders: z.array(z.strictObject({ userId: UserIdSchema, displayName: DisplayNameSchema })) });
export type HandOver = z.infer<typeof HandOverSchema>;

export const RoleSummarySchema = z.strictObject({
  id: RoleIdSchema,
  name: RoleNameSchema,
  department: DepartmentSchema.nullable(),
  timeZone: TimeZoneSchema,
});
export type RoleSummary = z.infer<typeof RoleSummarySchema>;

/** Who covers when no one holds the role (or when an escalation goes past its holders): an account, or another role and its holders now. */
export const RoleBackupSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('user'), userId: UserIdSchema, displayName: DisplayNameSchema }),
  z.strictObject({ kind: z.literal('role'), role: RoleSummarySchema, holders: z.array(RoleHolderSchema) }),
]);
export type RoleBackup = z.infer<typeof RoleBackupSchema>;

/** GET /v1/roles?q=…&limit=…: roles whose name or department contains `q` (case and accents folded). */
export const MAX_ROLE_SEARCH_LIMIT = 50;
export const RoleSearchQuerySchema = z.strictObject({
  q: z.string().max(128).refine((s) => !hasControlCharacters(s), 'no control characters').optional(),
  limit: z.coerce.number().int().min(1).max(MAX_ROLE_SEARCH_LIMIT).optional(),
});
export const RoleSearchResponseSchema = z.strictObject({ roles: z.array(RoleSummarySchema) });

/** How far from now GET /v1/roles/:id?at= looks (an escalation step is released at most a day after its message). */
export const MAX_ROLE_AT_DISTANCE_MS = 2 * 24 * 3600_000;
/** GET /v1/roles/:id?at=: the role as it stands at `at` (by default now), e.g. who holds it when an escalation step is released. */
export const RoleDetailQuerySchema = z.strictObject({ at: z.coerce.number().int().nonnegative().optional() });

/**
 * Someone the rota names now whom a message cannot reach: their account is not active (deactivated by an admin,
 * the directory or inactivity, or not yet activated), or it has no workstation signed in. They do not count as
 * holders (nor as the backup): a message for the role goes past them to whoever can be reached.
 */
export const UnreachableHolderSchema = z.strictObject({
  userId: UserIdSchema,
  displayName: DisplayNameSchema,
  reason: z.enum(['accountNotActive', 'noWorkstation']),
  /** A holder's: since when the rota has named them without a break. */
  since: Instant.optional(),
  /** Whether the rota names them as the role's holder, or they are (or hold) its backup. */
  as: z.enum(['holder', 'backup']),
});
export type UnreachableHolder = z.infer<typeof UnreachableHolderSchema>;

/**
 * GET /v1/roles/:id: the role, its holders at the relay's `at` who can be reached (a send encrypts to their
 * devices), its backup (reachable too), those the rota names but a message cannot reach, and the next
 * hand-over; `canSchedule`: the caller may add and remove shifts (the scheduler permission).
 */
export const RoleDetailSchema = z.strictObject({
  role: RoleSummarySchema,
  at: Instant,
  holders: z.array(RoleHolderSchema),
  backup: RoleBackupSchema.nullable(),
  unreachable: z.array(UnreachableHolderSchema).default([]),
  nextHandOver: HandOverSchema.nullable(),
  canSchedule: z.boolean(),
});
export type RoleDetail = z.infer<typeof RoleDetailSchema>;

/** GET /v1/roles/:id/shifts?from=…&to=…: the shifts that overlap [from, to) (at most 31 days), for the schedule dialog. */
export const MAX_SHIFT_WINDOW_MS = 31 * 24 * 3600_000;
export const ShiftWindowQuerySchema = z.strictObject({ from: z.coerce.number().int().nonnegative(), to: z.coerce.number().int().positive() })
  .refine((w) => w.to > w.from && w.to - w.from <= MAX_SHIFT_WINDOW_MS, `to after from, at most ${MAX_SHIFT_WINDOW_MS / 86_400_000} days`);
export const ShiftListResponseSchema = z.strictObject({ shifts: z.array(ShiftSchema) });

/** POST /v1/roles/:id/shifts (scheduler permission): one shift, entered in the app. */
export const AddShiftRequestSchema = z.strictObject({ userId: UserIdSchema, startsAt: Instant, endsAt: Instant })
  .refine((s) => s.endsAt > s.startsAt, 'a shift ends after it starts')
  .refine((s) => s.endsAt - s.startsAt <= MAX_SHIFT_MS, 'a shift is at most 7 days long');
export type AddShiftRequest = z.infer<typeof AddShiftRequestSchema>;
export const AddShiftResponseSchema = z.strictObject({ shift: ShiftSchema });
/** DELETE /v1/roles/:id/shifts/:shiftId (scheduler permission). */
export const RemoveShiftResponseSchema = z.strictObject({ removed: z.boolean() });

/**
 * In a message to a role (issue 19), inside the end-to-end encrypted payload: which role, who started the
 * conversation (the conversation id is derived from the two), who held the role when it was sent (the
 * recipients), whether they differ from those the previous message went to (a hand-over), and whether it went
 * to the role's backup because no one held it. The relay never sees it.
 */
/** The most people a message to a role goes to at once (RoleDeliverySchema); a directory group mapped to a role may not have more. */
export const MAX_ROLE_HOLDERS = 50;

export const RoleDeliverySchema = z.strictObject({
  roleId: RoleIdSchema,
  roleName: RoleNameSchema,
  initiator: UserIdSchema,
  holders: z.array(RoleHolderSchema).max(MAX_ROLE_HOLDERS),
  handedOver: z.boolean(),
  via: z.enum(['holders', 'backup']),
});
export type RoleDelivery = z.infer<typeof RoleDeliverySchema>;
