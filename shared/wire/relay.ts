import { z } from 'zod';
import { DeviceAddressSchema, DeviceIdSchema, EnvelopeIdSchema, UserIdSchema } from '../ids';
import { EnvelopeSchema, EnvelopeTypeSchema } from './envelope';
import { KeyUploadSchema, PreKeyBundleSchema, PreKeyCountSchema } from './keys';
import { UsernameSchema } from './username';
import { ContactSchema, DepartmentSchema, DirectoryStatusSchema, DisplayNameSchema, JobTitleSchema } from './directory';

export { DisplayNameSchema } from './directory';
import { OIDC_ERROR_CODES } from './ssoErrors';

export { UsernameSchema };

/*
 * The relay's HTTP and WebSocket protocol. Every request and frame is parsed with these schemas on
 * arrival, by the relay and by the client alike.
 */

export const RoleSchema = z.enum(['clinician', 'admin', 'compliance']);
export type Role = z.infer<typeof RoleSchema>;

/** Where a relay is: http(s) or ws(s), as configured by policy or typed at first run. */
export const RelayUrlSchema = z.url({ protocol: /^(https?|wss?)$/ }).max(2048);
/** Passwords are checked against the policy by the relay; the schema only bounds the size. */
export const PasswordSchema = z.string().min(1).max(1024);
export const TotpCodeSchema = z.string().regex(/^\d{6}$/, 'six digits');
export const DeviceNameSchema = z.string().trim().min(1).max(64);
/** Enrollment and emergency codes: groups of letters and digits, dashes ignored. */
export const OneTimeCodeSchema = z.string().min(8).max(64);

/** `Authorization: Bearer <credential>`; the credential names its device and carries a secret. */
export const DeviceCredentialSchema = z.string().regex(/^rd1\.[0-9a-f-]{36}\.\d{1,3}\.[A-Za-z0-9_-]{43}$/);
export type DeviceCredential = z.infer<typeof DeviceCredentialSchema>;

// --- Enrollment (first device, with the admin's one-time code) and login -------------------------

export const EnrollBeginRequestSchema = z.strictObject({ username: UsernameSchema, enrollmentCode: OneTimeCodeSchema });
export const EnrollBeginResponseSchema = z.strictObject({
  enrollmentId: z.uuid(),
  displayName: DisplayNameSchema,
  /** RFC 6238 secret (base32) and its otpauth:// URI, for the authenticator app. */
  totpSecret: z.string(),
  totpUri: z.string(),
  expiresAt: z.number().int(),
});

/**
 * A new device: its name, its prekeys, and the public half of its Ed25519 audit key (32 bytes, base64),
 * which the relay writes into its own signed audit log so a device's local audit exports can be tied to it.
 */
const NewDeviceSchema = z.strictObject({ name: DeviceNameSchema, keys: KeyUploadSchema, auditKey: z.base64().length(44).optional() });

export const EnrollCompleteRequestSchema = z.strictObject({
  enrollmentId: z.uuid(),
  password: PasswordSchema,
  totpCode: TotpCodeSchema,
  device: NewDeviceSchema,
});

/** Password + TOTP. Either a new device (with its keys) or one this account already has. */
export const LoginRequestSchema = z.strictObject({
  username: UsernameSchema,
  password: PasswordSchema,
  totpCode: TotpCodeSchema,
  device: z.union([
    NewDeviceSchema.extend({ kind: z.literal('new') }),
    z.strictObject({ kind: z.literal('existing'), deviceId: DeviceIdSchema }),
  ]),
});

/** Emergency sign-in with a code an admin issued (time-limited, audited and flagged). */
export const EmergencyLoginRequestSchema = z.strictObject({
  username: UsernameSchema,
  emergencyCode: OneTimeCodeSchema,
  device: NewDeviceSchema,
});

export const SessionResponseSchema = z.strictObject({
  userId: UserIdSchema,
  deviceId: DeviceIdSchema,
  credential: DeviceCredentialSchema,
  role: RoleSchema,
  displayName: DisplayNameSchema,
  /**
   * The account's username (an e-mail-style UPN for directory accounts): who is signed in, which a person
   * who signed in through the identity provider never typed. Absent from relays older than it.
   */
  username: UsernameSchema.optional(),
  /** Set for emergency sign-ins: the credential stops working at this time. */
  expiresAt: z.number().int().nullable(),
  preKeys: PreKeyCountSchema,
});
export type SessionResponse = z.infer<typeof SessionResponseSchema>;

// --- Directory and keys ----------------------------------------------------------------------------

/**
 * A colleague in GET /v1/directory. `status` 'pending': not enrolled yet (no devices; shown as not yet
 * reachable). The directory fields and status are absent from relays older than issue 18.
 */
export const DirectoryEntrySchema = z.strictObject({
  userId: UserIdSchema,
  username: UsernameSchema,
  displayName: DisplayNameSchema,
  role: RoleSchema,
  devices: z.array(DeviceIdSchema),
  department: DepartmentSchema.nullable().optional(),
  jobTitle: JobTitleSchema.nullable().optional(),
  contact: ContactSchema.nullable().optional(),
  status: DirectoryStatusSchema.optional(),
});
export const DirectoryResponseSchema = z.strictObject({ users: z.array(DirectoryEntrySchema) });
/**
 * GET /v1/devices: the caller's own account's active workstations, with the names given when each was
 * added. Only the account's own devices see these names (the directory shows colleagues device ids only).
 */
export const OwnDevicesResponseSchema = z.strictObject({
  devices: z.array(z.strictObject({ deviceId: DeviceIdSchema, name: z.string().max(200), createdAt: z.number().int().nonnegative(), lastSeenAt: z.number().int().nonnegative() })),
});
export type OwnDevice = z.infer<typeof OwnDevicesResponseSchema>['devices'][number];
export type DirectoryEntry = z.infer<typeof DirectoryEntrySchema>;

/** GET /v1/audit/export (compliance role): the range in ms since the epoch, and optionally one account. */
export const AuditExportQuerySchema = z.strictObject({
  from: z.coerce.number().int().nonnegative(),
  to: z.coerce.number().int().positive(),
  user: UsernameSchema.optional(),
});

export const BundlesResponseSchema = z.strictObject({ bundles: z.array(PreKeyBundleSchema) });
export const KeyUploadResponseSchema = z.strictObject({ preKeys: PreKeyCountSchema });

// --- Messages ---------------------------------------------------------------------------------------

/** One envelope as the sender submits it: the relay adds the sender from the credential. */
export const OutgoingEnvelopeSchema = EnvelopeSchema.omit({ sender: true, serverTimestamp: true }).extend({
  /**
   * Set on the envelopes of an urgent message (issue 19): metadata the relay can see (the reason stays inside
   * the ciphertext), so its audit log counts urgent use per sender. Never delivered to the recipient.
   */
  urgent: z.literal(true).optional(),
});
export type OutgoingEnvelope = z.infer<typeof OutgoingEnvelopeSchema>;

/**
 * A send: the envelopes of one message, one for each device of each user it goes to (the relay refuses a send
 * that misses one of them, or names one that is not active, with UNKNOWN_DEVICE, naming them). `allOwnDevices`:
 * the envelopes also go to every other device of the sender's own account, and the relay holds the send to that
 * even when no envelope names one (the sender may not know of its account's newest device). A client leaves it
 * out when its own devices are to get the message later (their queue is full); clients from before it never
 * say it, and are held to their own devices only when they name one. No envelope at all is a send only with
 * `allOwnDevices` (a message for nobody else, as in a care team the sender alone is left in): the relay then
 * checks only that the sender has no other device (UNKNOWN_DEVICE naming them), queues nothing and charges nothing.
 */
const SEND_FIELDS = { envelopes: z.array(OutgoingEnvelopeSchema).max(1000), allOwnDevices: z.boolean().optional() };
/** Refines a send (request body or frame): an empty one only with allOwnDevices. */
function sendsSomething<T extends z.ZodType<{ envelopes: readonly unknown[]; allOwnDevices?: boolean | undefined }>>(schema: T): T {
  return schema.refine((send) => send.envelopes.length > 0 || send.allOwnDevices === true, { message: 'a send needs an envelope, unless it asks only for allOwnDevices', path: ['envelopes'] });
}
export const SendRequestSchema = sendsSomething(z.strictObject(SEND_FIELDS));
/**
 * Why the relay did not queue one envelope of a send: the recipient device's queue is at its limit, the id
 * is already taken by another envelope, or the device was revoked before the envelope was committed.
 */
export const EnvelopeRefusalCodeSchema = z.enum(['RECIPIENT_QUEUE_FULL', 'DUPLICATE_ENVELOPE', 'UNKNOWN_DEVICE']);
export type EnvelopeRefusalCode = z.infer<typeof EnvelopeRefusalCodeSchema>;
/**
 * RECIPIENT_QUEUE_FULL with `share: 'sender'`: the queue has room for others, but this sender's account
 * holds its whole share of it. Either way the envelope waits until the recipient takes some of its queue.
 */
export const QueueShareSchema = z.literal('sender');
export const EnvelopeRefusalSchema = z.strictObject({ id: EnvelopeIdSchema, code: EnvelopeRefusalCodeSchema, share: QueueShareSchema.optional() });
/**
 * Each envelope's outcome: `accepted` are durably queued (a resend of an envelope already queued, after a
 * lost answer, is accepted again and queued once); `refused` were not queued, each with its reason.
 * `refused` is absent from relays older than it (nothing refused).
 */
export const SendResponseSchema = z.strictObject({ accepted: z.array(EnvelopeIdSchema), refused: z.array(EnvelopeRefusalSchema).optional(), serverTimestamp: z.number().int() });
export type SendResponse = z.infer<typeof SendResponseSchema>;

/** What a recipient device receives: the envelope plus when the relay accepted it. */
export const DeliveredEnvelopeSchema = EnvelopeSchema.required({ serverTimestamp: true });
export type DeliveredEnvelope = z.infer<typeof DeliveredEnvelopeSchema>;

// --- WebSocket frames --------------------------------------------------------------------------------

export const ClientFrameSchema = z.discriminatedUnion('type', [
  /** Removes the envelopes from this device's queue (delivery is at-least-once until acknowledged). */
  z.strictObject({ type: z.literal('ack'), ids: z.array(EnvelopeIdSchema).min(1).max(1000) }),
  /** Sends envelopes over the socket; answered by a `sent` or `error` frame with the same requestId. */
  sendsSomething(z.strictObject({ type: z.literal('send'), requestId: z.string().min(1).max(64), ...SEND_FIELDS })),
  z.strictObject({ type: z.literal('ping'), requestId: z.string().min(1).max(64) }),
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;

/** At most this many users in one presenceChanged frame. */
export const MAX_PRESENCE_CHANGED_USERS = 1000;

export const ServerFrameSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('envelope'), envelope: DeliveredEnvelopeSchema }),
  /** Everything queued at connect time has been pushed. */
  z.strictObject({ type: z.literal('queueEmpty') }),
  z.strictObject({ type: z.literal('sent'), requestId: z.string(), accepted: z.array(EnvelopeIdSchema), refused: z.array(EnvelopeRefusalSchema).optional(), serverTimestamp: z.number().int() }),
  z.strictObject({ type: z.literal('pong'), requestId: z.string() }),
  /**
   * These users' statuses changed (issue 19): sent to every connected device, gathered for about a second. Only who,
   * never the status: a workstation showing one of them reads it (GET /v1/presence). Workstations from before this
   * frame skip it and keep reading every minute.
   */
  z.strictObject({ type: z.literal('presenceChanged'), userIds: z.array(UserIdSchema).min(1).max(MAX_PRESENCE_CHANGED_USERS) }),
  /** The one-time prekey stock of this device fell below the relay's threshold: upload more. */
  z.strictObject({ type: z.literal('keysLow'), preKeys: PreKeyCountSchema }),
  /** The same fields as an HTTP error body: `retryAfterMs` for rate limits, `devices` for full or unknown devices. */
  z.strictObject({
    type: z.literal('error'), requestId: z.string().optional(), code: z.string(), message: z.string(),
    retryAfterMs: z.number().int().optional(), devices: z.array(DeviceAddressSchema).optional(), share: QueueShareSchema.optional(),
  }),
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;

// --- Errors ------------------------------------------------------------------------------------------

export const RELAY_ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'INVALID_CODE',
  'PASSWORD_POLICY',
  'INVALID_CREDENTIALS',
  'THROTTLED',
  'ACCOUNT_LOCKED',
  'ACCOUNT_INACTIVE',
  'TOO_MANY_DEVICES',
  'UNKNOWN_DEVICE',
  'PAYLOAD_TOO_LARGE',
  /**
   * A recipient device's queue holds as many envelopes or bytes as the relay allows (`devices` names them),
   * or, with `share: 'sender'`, as many from this sender's account as one sender may have waiting there.
   */
  'RECIPIENT_QUEUE_FULL',
  /**
   * This device, or its account, sent more envelopes or bytes than the relay allows per minute, or its
   * account more envelopes than it allows per day (Retry-After says when to resume).
   */
  'SEND_RATE_LIMITED',
  /** This account fetched prekey bundles faster than the relay allows (Retry-After says when to resume). */
  'KEY_FETCH_RATE_LIMITED',
  /** This device uploaded prekeys more often than the relay allows (Retry-After says when to resume). */
  'KEY_UPLOAD_RATE_LIMITED',
  /** The relay is keeping its last free storage for deliveries and sign-ins: no new envelopes for now (Retry-After). */
  'RELAY_STORAGE_FULL',
  /** The relay is taking more connections than it can serve at once: come back after Retry-After (HTTP 503). */
  'RELAY_BUSY',
  /** The relay cannot reach its database just now (a restart, a failover, the network): try again after Retry-After (HTTP 503). */
  'RELAY_UNAVAILABLE',
  /** An envelope id already used by another envelope (reported per envelope in a send's `refused`). */
  'DUPLICATE_ENVELOPE',
  /** The relay's own audit log fails its hash-chain check: it is not exported (the CLI can, marked as broken). */
  'AUDIT_LOG_BROKEN',
  /** Single sign-on: the identity provider's person has no account here, and the relay does not create them (ask an administrator). */
  'ACCOUNT_NOT_PROVISIONED',
  /** This account signs in with the hospital's identity provider, not with a password (the message names the provider). */
  'SSO_REQUIRED',
  /** An SSO account's last sign-in at its identity provider is older than the relay's policy allows: sign in there again. */
  'REAUTHENTICATION_REQUIRED',
  /** An acknowledgement's signature does not verify with the identity key the acknowledging device uploaded (issue 19). */
  'SIGNATURE_INVALID',
  /** Single sign-on was refused at one of its steps (OidcErrorCode: the provider, the state, the code, the ID token, MFA). */
  ...OIDC_ERROR_CODES,
  /** Attachment blobs (issue 20): this sender's account holds as many blob bytes on the relay as it may. */
  'BLOB_QUOTA_EXCEEDED',
  /** A blob upload chunk did not start where the relay's copy ends (`offset` in the answer says where it does). */
  'BLOB_OFFSET_MISMATCH',
  /** The blob's bytes do not match the size or SHA-256 declared when the upload began. */
  'BLOB_DIGEST_MISMATCH',
  /** This device moves blobs faster, or more at once, than the relay allows (Retry-After says when to resume). */
  'BLOB_RATE_LIMITED',
  'INTERNAL',
] as const;
export const RelayErrorCodeSchema = z.enum(RELAY_ERROR_CODES);
export type RelayErrorCode = z.infer<typeof RelayErrorCodeSchema>;

export const RelayErrorSchema = z.strictObject({
  code: RelayErrorCodeSchema,
  message: z.string(),
  /** PASSWORD_POLICY: what is wrong with the password, in plain words. */
  issues: z.array(z.string()).optional(),
  /** THROTTLED, *_RATE_LIMITED: seconds until another attempt is accepted (also sent as the Retry-After header)... */
  retryAfterSeconds: z.number().int().optional(),
  /** ...and the same in milliseconds, for clients that show a countdown. */
  retryAfterMs: z.number().int().optional(),
  /** UNKNOWN_DEVICE: recipients that are not active devices; RECIPIENT_QUEUE_FULL: those whose queue is full. */
  devices: z.array(DeviceAddressSchema).optional(),
  /** RECIPIENT_QUEUE_FULL: 'sender' when every one of those queues is full only of this sender's share. */
  share: QueueShareSchema.optional(),
});
export type RelayError = z.infer<typeof RelayErrorSchema>;

export { EnvelopeTypeSchema };
