import { z } from 'zod';
import { canonicalJson } from '../audit/canonicalJson';
import { DeviceAddressSchema, MessageIdSchema, UserIdSchema, type DeviceAddress, type UserId } from '../ids';
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

/*
 * Forwarding is the absent clinician's own statement (issue 19): a compromised relay must not be able to add
 * a reader to a 1:1 message by saying "she forwards to Mallory". The device that sets a forwarding status signs
 * "this user, this status, forward to this colleague or role, until this time, signed at" with its identity key
 * (XEdDSA, as acknowledgements are signed); the relay checks it against the identity key that device uploaded,
 * keeps it beside the status and hands it out with it; a sending client copies a message to whoever covers only
 * when the signature holds for the identity it trusts for that device. A statement without an end time holds
 * for MAX_PRESENCE_AHEAD_MS after it was signed: the relay cannot replay an old one for ever.
 */

/** An XEdDSA signature: 64 bytes, base64. */
const SignatureSchema = z.base64().length(88);
const Timestamp = z.number().int().nonnegative().max(8.64e15);

/** The signature a PUT /v1/presence with a forward-to carries: over forwardingSigningBytes(the caller, the update, signedAt). */
export const ForwardingSignatureSchema = z.strictObject({ signedAt: Timestamp, signature: SignatureSchema });
export type ForwardingSignature = z.infer<typeof ForwardingSignatureSchema>;

/** PUT /v1/presence's body: the status, and with a forward-to the signature over it (required then, refused otherwise). */
export const PresenceSetRequestSchema = z.strictObject({
  update: PresenceUpdateSchema,
  forwarding: ForwardingSignatureSchema.nullable(),
}).superRefine((request, issues) => {
  if (request.update.forwardTo && !request.forwarding) issues.addIssue({ code: 'custom', path: ['forwarding'], message: 'a forward-to must be signed by the device that sets it' });
  if (!request.update.forwardTo && request.forwarding) issues.addIssue({ code: 'custom', path: ['forwarding'], message: 'only a forward-to is signed' });
});
export type PresenceSetRequest = z.infer<typeof PresenceSetRequestSchema>;

/**
 * A forwarding's proof as the relay hands it out: the signing device, when it signed, and the signature. A reader
 * verifies it only with an identity key it holds itself (ProtocolCore.forwardingRefusal), never one the relay hands
 * out: `identityKey` (the key that device uploaded) is optional and ignored; relays still send it for workstations
 * from before, which require it, and will stop once none is in service.
 */
export const ForwardingProofSchema = z.strictObject({
  signer: DeviceAddressSchema,
  signedAt: Timestamp,
  signature: SignatureSchema,
  /** @deprecated Ignored by readers; sent for workstations that still require it. */
  identityKey: z.base64().max(100).optional(),
});
export type ForwardingProof = z.infer<typeof ForwardingProofSchema>;

/** What a forwarding statement says: who, which status, whom to, until when. */
export interface ForwardingTerms {
  readonly status: PresenceStatus;
  readonly forwardTo: ForwardTarget;
  readonly until: number | null;
}

/** The domain-separation prefix: never mistaken for a prekey's signature, an acknowledgement's or a later kind's. */
export const FORWARDING_DOMAIN = 'Rounds forwarding v1\n';

/** The exact bytes signed and verified: the domain prefix, then the statement's canonical JSON. */
export function forwardingSigningBytes(signer: DeviceAddress, terms: ForwardingTerms, signedAt: number): Uint8Array<ArrayBuffer> {
  const forwardTo = terms.forwardTo.kind === 'user' ? { kind: 'user', userId: terms.forwardTo.userId } : { kind: 'role', roleId: terms.forwardTo.roleId };
  const canonical = canonicalJson({ signer: { userId: signer.userId, deviceId: signer.deviceId }, status: terms.status, forwardTo, until: terms.until, signedAt });
  return new TextEncoder().encode(FORWARDING_DOMAIN + canonical);
}

/** When a signed forwarding stops holding: its end time, or MAX_PRESENCE_AHEAD_MS after it was signed when it has none. */
export function forwardingEndsAt(until: number | null, signedAt: number): number {
  return until ?? signedAt + MAX_PRESENCE_AHEAD_MS;
}

/** One user's presence as the relay answers it; `since`: when it was set (null: never, Available). */
export const PresenceSchema = z.strictObject({
  userId: UserIdSchema,
  status: PresenceStatusSchema,
  note: z.string().max(MAX_PRESENCE_NOTE).nullable(),
  until: z.number().int().nullable(),
  forwardTo: ForwardTargetSchema.nullable(),
  since: z.number().int().nullable(),
  /** With a forward-to: the absent clinician's signed statement of it (a forward-to without one is not acted on). */
  forwarding: ForwardingProofSchema.nullable().optional(),
  /** Set by the reading workstation (never by the relay): the relay reported a forward-to it could not verify, and it is not acted on. */
  forwardingUnverified: z.literal(true).optional(),
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
  if (presence.until !== null && presence.until <= now) return availablePresence(presence.userId);
  // A forwarding signed without an end time lapses a week after it was signed; the status stays.
  const proof = presence.forwarding;
  if (presence.forwardTo && proof && forwardingEndsAt(presence.until, proof.signedAt) <= now) {
    const { forwarding: _lapsed, ...status } = presence;
    return { ...status, forwardTo: null };
  }
  return presence;
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
