import { z } from 'zod';
import { ATTACHMENT_COMMANDS, AttachmentProgressEventSchema, AttachmentViewSchema, MAX_ATTACHMENTS_PER_MESSAGE, StagingIdSchema } from './attachmentContract';
import { ERROR_CODES } from './errors';
import { IdentityChangedEventSchema } from './events';
import { CareTeamIdSchema, ConversationIdSchema, DeviceAddressSchema, DeviceIdSchema, MessageIdSchema, UserIdSchema } from './ids';
import { LIMITS } from './limits';
import { PASSPHRASE_RULES } from './passphrasePolicy';
import { CareTeamTitleSchema } from './payload';
import { LadderChoiceSchema, MessageUrgencySchema, UrgentOptionsSchema, UrgentReasonSchema } from './urgency';
import { DirectorySearchQuerySchema, MAX_DIRECTORY_SEARCH_LIMIT } from './wire/directory';
import { MessageCoverageSchema, PresenceSchema, PresenceUpdateSchema } from './wire/presence';
import { MAX_ROLE_SEARCH_LIMIT, RoleDeliverySchema, RoleDetailSchema, RoleHolderSchema, RoleIdSchema, RoleSearchQuerySchema, RoleSummarySchema, ShiftSchema } from './wire/roles';
import { DeviceNameSchema, DirectoryEntrySchema, OneTimeCodeSchema, PasswordSchema, RELAY_ERROR_CODES, RelayUrlSchema, TotpCodeSchema, UsernameSchema } from './wire/relay';

/*
 * The one contract between the UI and the core: commands (name, input, output) and events. The Electron
 * preload exposes it through contextBridge and the browser harness over a loopback WebSocket; in both,
 * main validates every input against these schemas before the core sees it. Nothing here carries key
 * material; message text crosses only in message views and in `messages.send`.
 */

const Empty = z.strictObject({});
const Timestamp = z.number().int().nonnegative();
const Passphrase = z.string().min(1).max(1024);

// --- Views -----------------------------------------------------------------------------------------

/** A profile on this workstation, as the lock and sign-in screens show it (no PHI). */
export const ProfileViewSchema = z.strictObject({
  id: z.uuid(),
  username: z.string(),
  displayName: z.string(),
  relayUrl: z.string(),
});
export type ProfileView = z.infer<typeof ProfileViewSchema>;

/**
 * Where the app is: `signedOut` (no profile open: first run, or choose a profile), `locked` (a profile's
 * database is closed; the lock screen), `unlocked` (the main window).
 */
export const SessionStateSchema = z.discriminatedUnion('phase', [
  z.strictObject({ phase: z.literal('signedOut'), profiles: z.array(ProfileViewSchema) }),
  /** `signInRequired`: locked longer than the policy's sign-out period; password and TOTP are needed too. */
  z.strictObject({ phase: z.literal('locked'), profile: ProfileViewSchema, profiles: z.array(ProfileViewSchema), signInRequired: z.boolean() }),
  z.strictObject({ phase: z.literal('unlocked'), profile: ProfileViewSchema, self: DeviceAddressSchema, online: z.boolean() }),
]);
export type SessionState = z.infer<typeof SessionStateSchema>;

export const ConversationViewSchema = z.strictObject({
  id: ConversationIdSchema,
  kind: z.enum(['direct', 'careTeam', 'role']),
  title: z.string(),
  peer: UserIdSchema.nullable(),
  members: z.array(UserIdSchema).readonly(),
  isMember: z.boolean(),
  unread: z.number().int().nonnegative(),
  unreadUrgent: z.number().int().nonnegative(),
  lastActivity: Timestamp,
  /** A conversation with an on-call role (issue 19): the role, who started it, and who held it at the last message. */
  role: z.strictObject({ id: RoleIdSchema, name: z.string(), initiator: UserIdSchema, holders: z.array(RoleHolderSchema) }).nullable().optional(),
});
export type ConversationView = z.infer<typeof ConversationViewSchema>;

export const MessageViewSchema = z.strictObject({
  id: MessageIdSchema,
  conversationId: ConversationIdSchema,
  sender: DeviceAddressSchema,
  senderName: z.string(),
  outgoing: z.boolean(),
  sentAt: Timestamp,
  receivedAt: Timestamp,
  body: z.string(),
  replyTo: MessageIdSchema.nullable(),
  urgent: z.boolean(),
  /** Urgent messages (issue 19): the reason, acknowledgements, an escalation that reached this user, the sender's ladder. */
  urgency: MessageUrgencySchema.nullable().optional(),
  /**
   * Outgoing: `pending` (in the outbox), `sent` (the relay has it), then `delivered` and `read` by everyone
   * it was sent to; `failed` when it can never go (the sender had left the care team). Incoming: `received`.
   */
  state: z.enum(['pending', 'sent', 'delivered', 'read', 'failed', 'received']),
  read: z.boolean(),
  /** Photos and documents (issue 20), in the order they were attached; `body` may then be empty. */
  attachments: z.array(AttachmentViewSchema).max(MAX_ATTACHMENTS_PER_MESSAGE),
  /** How presence forwarding touched it (issue 19): also sent to whoever covered, or a forwarded copy; absent or null: not at all. */
  coverage: MessageCoverageSchema.nullable().optional(),
  /** A message to an on-call role (issue 19): who held it then, and whether that was a hand-over. */
  roleDelivery: RoleDeliverySchema.nullable().optional(),
});
export type MessageView = z.infer<typeof MessageViewSchema>;

/**
 * A colleague from the organisation's directory, as the UI shows them (their devices are the core's business).
 * `reachable`: they have a workstation to send to; a colleague still to enroll has none yet.
 */
export const ContactViewSchema = DirectoryEntrySchema.omit({ devices: true }).extend({ reachable: z.boolean() });
export type ContactView = z.infer<typeof ContactViewSchema>;

export const ContactIdentityViewSchema = z.strictObject({
  address: DeviceAddressSchema,
  verified: z.boolean(),
  changePending: z.enum(['newKey', 'newDevice']).nullable(),
  changeDetectedAt: Timestamp.nullable(),
  /** 60 digits; the UI shows them in 12 groups of 5. */
  safetyNumber: z.string().regex(/^\d{60}$/),
  /** The bytes a QR code of this safety number encodes (base64). */
  scannable: z.base64(),
});
export type ContactIdentityView = z.infer<typeof ContactIdentityViewSchema>;

// --- Commands --------------------------------------------------------------------------------------

/** What the settings screen shows: the user's choices, and the limits the org policy sets on them. */
export const SettingsViewSchema = z.strictObject({
  /** The inactivity lock in force (minutes): the user's choice capped by policy. */
  lockTimeoutMinutes: z.number().positive(),
  maxLockTimeoutMinutes: z.number().positive(),
  notificationPreviews: z.boolean(),
  notificationPreviewsAllowed: z.boolean(),
  /** Set by org policy: the first-run screen pre-fills it and does not let it be changed. */
  policyRelayUrl: z.string().nullable(),
  /**
   * How this profile's key is kept: `os` (sealed by the operating system's key store as well as the
   * passphrase: a copy of the files is useless elsewhere) or `passphraseOnly` (this workstation has no key
   * store: a copy of the files can be attacked by guessing the passphrase).
   */
  keyProtection: z.enum(['os', 'passphraseOnly']).nullable(),
  /** The passphrase this profile was unlocked with does not meet the passphrase policy (set by an earlier version): change it. */
  passphraseBelowPolicy: z.boolean(),
});
export type SettingsView = z.infer<typeof SettingsViewSchema>;

/** A sign-in with the identity provider under way: where the browser goes, and who sends it there. */
const SsoStartedSchema = z.strictObject({
  signInId: z.uuid(),
  authorizationUrl: z.url({ protocol: /^https?$/ }),
  opens: z.enum(['systemBrowser', 'page']),
});

const PageCursorSchema = z.strictObject({ sentAt: Timestamp, id: z.string().max(64) });

export const COMMANDS = {
  /** Where the app is now (after start, and whenever the UI needs to re-render from scratch). */
  'session.state': { input: Empty, output: SessionStateSchema },
  /** First step of enrollment: the relay checks the code and hands out the TOTP secret to show. */
  'enroll.begin': {
    input: z.strictObject({ relayUrl: RelayUrlSchema, username: UsernameSchema, enrollmentCode: OneTimeCodeSchema }),
    output: z.strictObject({ enrollmentId: z.uuid(), totpUri: z.string(), totpSecret: z.string() }),
  },
  /** Second step: password (relay account), passphrase (this workstation's profile), first TOTP code. */
  'enroll.complete': {
    input: z.strictObject({ enrollmentId: z.uuid(), password: PasswordSchema, passphrase: Passphrase, totpCode: TotpCodeSchema, deviceName: DeviceNameSchema }),
    output: SessionStateSchema,
  },
  /** Another workstation of an existing account: a new profile here, signed in with password and TOTP. */
  'account.addDevice': {
    input: z.strictObject({ relayUrl: RelayUrlSchema, username: UsernameSchema, password: PasswordSchema, totpCode: TotpCodeSchema, passphrase: Passphrase, deviceName: DeviceNameSchema }),
    output: SessionStateSchema,
  },
  /**
   * Sign-in with the hospital's identity provider (issue 18). `sso.provider`: whether the relay offers it (the
   * button says "Sign in with <providerName>"); null: it does not, or this door cannot open a browser.
   */
  'sso.provider': { input: z.strictObject({ relayUrl: RelayUrlSchema }), output: z.strictObject({ providerName: z.string().nullable() }) },
  /**
   * This workstation as a new device of whoever signs in at the provider (enrollment of a pending account, or
   * another workstation of it): a new profile under `passphrase` once they are back. `opens`: `systemBrowser`
   * (the app opened the browser; wait with `sso.finish`), or `page` (the browser harness: the page goes to
   * `authorizationUrl` itself and comes back to the app, which then asks `sso.finish`).
   */
  'sso.begin': {
    input: z.strictObject({ relayUrl: RelayUrlSchema, passphrase: Passphrase, deviceName: DeviceNameSchema }),
    output: SsoStartedSchema,
  },
  /**
   * The lock screen after the sign-out period, for an account that signs in at the provider (the password form
   * answers SSO_REQUIRED): the passphrase, then the provider's sign-in; then `sso.finish`.
   */
  'sso.unlock': { input: z.strictObject({ profileId: z.uuid(), passphrase: Passphrase }), output: SsoStartedSchema },
  /** The open profile signs in at the provider again (the relay answered REAUTHENTICATION_REQUIRED); then `sso.finish`. */
  'sso.signInAgain': { input: Empty, output: SsoStartedSchema },
  /**
   * Waits for the sign-in under way (or `signInId`) to end and answers the session state then; fails with why it
   * did not work (SSO_*, OIDC_*, ACCOUNT_NOT_PROVISIONED, ...). `waited`: false when there was none.
   * `abandonIfAway`: a page opened again (the harness) drops a sign-in whose browser never came back.
   */
  'sso.finish': { input: z.strictObject({ signInId: z.uuid().optional(), abandonIfAway: z.boolean().optional() }), output: z.strictObject({ waited: z.boolean(), state: SessionStateSchema }) },
  /** The person gave up waiting: the sign-in under way ends (its `sso.finish` fails with SSO_CANCELLED). */
  'sso.cancel': { input: Empty, output: Empty },
  'profile.unlock': { input: z.strictObject({ profileId: z.uuid(), passphrase: Passphrase }), output: SessionStateSchema },
  /** Unlock after the sign-out period: passphrase, and the relay password with a fresh TOTP code. */
  'profile.signIn': { input: z.strictObject({ profileId: z.uuid(), passphrase: Passphrase, password: PasswordSchema, totpCode: TotpCodeSchema }), output: SessionStateSchema },
  /** Settings' "Change passphrase" for the open profile: the current one (checked like an unlock), and a new one meeting the policy. */
  'profile.changePassphrase': { input: z.strictObject({ currentPassphrase: Passphrase, newPassphrase: Passphrase }), output: Empty },
  /** The lock screen's "Switch user": back to the profile chooser (no profile open). */
  'profile.switch': { input: Empty, output: SessionStateSchema },
  /** "Lock now" (header button, menu, keyboard shortcut). */
  'session.lock': { input: Empty, output: SessionStateSchema },
  /** Keyboard, mouse or touch input in the window (the renderer reports it at most every few seconds). */
  'activity.report': { input: Empty, output: Empty },
  'settings.get': { input: Empty, output: SettingsViewSchema },
  /**
   * The window put text on the clipboard (copy or cut): the SHA-256 (hex) of that text, never the text.
   * On lock the clipboard is cleared if it still holds exactly that.
   */
  'clipboard.copied': { input: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/) }), output: Empty },
  /**
   * Which of these keys (ids and times only: what the window is about to announce, e.g. an acknowledgement of her
   * urgent message) the open profile's session has not announced yet; those are remembered as announced. Kept by
   * the core in memory, so a lock (which reloads the window's page) does not make the window say them again.
   */
  'announcements.fresh': {
    input: z.strictObject({ keys: z.array(z.string().min(1).max(200)).max(200) }),
    output: z.strictObject({ fresh: z.array(z.string()) }),
  },
  /**
   * "Export audit log": this workstation's local audit log as a signed bundle (.zip), for the compliance
   * officer; `from`/`to` default to everything. Answers where it was written.
   */
  'audit.export': {
    input: z.strictObject({ from: Timestamp.optional(), to: Timestamp.optional() }),
    output: z.strictObject({ path: z.string(), records: z.number().int() }),
  },
  /**
   * The compliance screen: the relay's signed audit bundle (.zip) for a range, optionally one account's;
   * the relay answers FORBIDDEN to anyone without the compliance role. Answers where it was written.
   */
  'audit.exportRelay': {
    input: z.strictObject({ from: Timestamp, to: Timestamp, username: UsernameSchema.optional() }),
    output: z.strictObject({ path: z.string(), bytes: z.number().int() }),
  },
  /** The devices (workstations) of this account, as the relay lists them, with the names given when each was added. */
  'account.devices': { input: Empty, output: z.array(z.strictObject({ deviceId: DeviceIdSchema, name: z.string(), thisDevice: z.boolean() })) },
  'settings.update': {
    input: z.strictObject({ lockTimeoutMinutes: z.number().int().min(1).max(24 * 60).optional(), notificationPreviews: z.boolean().optional() }),
    output: SettingsViewSchema,
  },

  'conversations.list': { input: Empty, output: z.array(ConversationViewSchema) },
  'conversations.openDirect': { input: z.strictObject({ userId: UserIdSchema }), output: z.strictObject({ conversationId: ConversationIdSchema }) },
  'conversations.markRead': { input: z.strictObject({ conversationId: ConversationIdSchema }), output: z.strictObject({ count: z.number().int() }) },
  /** Newest first: the newest page, the page just `before` a message, or (opened away from the newest) the page just `after` one (`after` wins). */
  'messages.page': {
    input: z.strictObject({ conversationId: ConversationIdSchema, limit: z.number().int().min(1).max(500), before: PageCursorSchema.optional(), after: PageCursorSchema.optional() }),
    output: z.array(MessageViewSchema),
  },
  /**
   * Where a conversation opens: around `messageId` (a search result), else around the first unread message
   * (where "new messages" starts), else the newest page. `anchor` is that message (null: the newest page);
   * `messages` (newest first) hold up to `limit` on each side of it.
   */
  'messages.around': {
    input: z.strictObject({ conversationId: ConversationIdSchema, messageId: MessageIdSchema.optional(), limit: z.number().int().min(1).max(250) }),
    output: z.strictObject({ anchor: MessageIdSchema.nullable(), messages: z.array(MessageViewSchema) }),
  },
  'messages.search': { input: z.strictObject({ query: z.string().max(500), limit: z.number().int().min(1).max(500).optional() }), output: z.array(MessageViewSchema) },
  /**
   * `attachments`: files staged with `attachments.stage*` (each used once); the message is stored at once and goes
   * when every upload is done (progress events meanwhile). `text` may be empty only with attachments.
   */
  'messages.send': {
    /** Urgent needs `urgentReason` from the policy's list (URGENT_REASON_REQUIRED); `escalation` only with urgent, 1:1. */
    input: z.strictObject({
      conversationId: ConversationIdSchema, text: z.string().trim().max(LIMITS.maxTextLength), urgent: z.boolean().optional(), replyTo: MessageIdSchema.optional(),
      urgentReason: UrgentReasonSchema.optional(), escalation: LadderChoiceSchema.optional(),
      attachments: z.array(StagingIdSchema).min(1).max(MAX_ATTACHMENTS_PER_MESSAGE).optional(),
    }).refine((m) => m.text.length > 0 || m.attachments !== undefined, { message: 'a message needs text or an attachment', path: ['text'] }),
    output: z.strictObject({ messageId: MessageIdSchema }),
  },
  /** Try the outbox again now (the "Retry" of a message that failed). */
  'messages.retry': { input: Empty, output: z.strictObject({ pending: z.number().int() }) },
  /** Acknowledge an urgent message (issue 19): signed by this workstation, sent to the sender and the team, reported to the relay. */
  'messages.acknowledge': { input: z.strictObject({ messageId: MessageIdSchema }), output: Empty },
  /** The policy's urgent reasons and default escalation times, for the composer. */
  'urgent.options': { input: Empty, output: UrgentOptionsSchema },
  'careTeams.create': {
    input: z.strictObject({ title: CareTeamTitleSchema, members: z.array(UserIdSchema).max(LIMITS.maxCareTeamMembers - 1) }),
    output: z.strictObject({ conversationId: CareTeamIdSchema }),
  },
  'careTeams.rename': { input: z.strictObject({ conversationId: ConversationIdSchema, title: CareTeamTitleSchema }), output: Empty },
  'careTeams.addMembers': { input: z.strictObject({ conversationId: ConversationIdSchema, members: z.array(UserIdSchema).min(1).max(LIMITS.maxCareTeamMembers) }), output: Empty },
  'careTeams.removeMember': { input: z.strictObject({ conversationId: ConversationIdSchema, userId: UserIdSchema }), output: Empty },
  /** The organisation's clinicians (from the relay when online, the last copy otherwise). */
  'directory.list': { input: Empty, output: z.array(ContactViewSchema) },
  /**
   * Colleagues whose name, username, department or job title contains `query` (the relay's directory search;
   * offline, the last copy's names). Those still to enroll come back with `reachable: false`.
   */
  'directory.search': { input: z.strictObject({ query: DirectorySearchQuerySchema.shape.q.unwrap(), limit: z.number().int().min(1).max(MAX_DIRECTORY_SEARCH_LIMIT).optional() }), output: z.array(ContactViewSchema) },
  'contacts.identities': { input: z.strictObject({ userId: UserIdSchema }), output: z.array(ContactIdentityViewSchema) },
  'contacts.acknowledgeIdentityChange': {
    input: z.strictObject({ userId: UserIdSchema, safetyNumbersSeen: z.array(z.string().regex(/^\d{60}$/)).min(1).max(128) }),
    output: z.strictObject({ acknowledged: z.number().int() }),
  },
  'contacts.markVerified': { input: z.strictObject({ userId: UserIdSchema, deviceId: DeviceIdSchema, verified: z.boolean() }), output: Empty },
  ...ATTACHMENT_COMMANDS,
  /**
   * Presence (issue 19): this user's own status, set on the relay for all their devices (the relay refuses an
   * end time in the past, a forward-to without Off shift or Do not disturb, or to themselves); answers it as
   * colleagues will see it.
   */
  'presence.set': { input: PresenceUpdateSchema, output: PresenceSchema },
  /** Colleagues' statuses, this user's own always among them (ended ones read as Available; offline: the last ones read). */
  'presence.get': { input: z.strictObject({ userIds: z.array(UserIdSchema).max(500) }), output: z.array(PresenceSchema) },
  /** On-call roles (issue 19) whose name or department contains `query` (the new-conversation picker). */
  'roles.search': { input: z.strictObject({ query: RoleSearchQuerySchema.shape.q.unwrap(), limit: z.number().int().min(1).max(MAX_ROLE_SEARCH_LIMIT).optional() }), output: z.array(RoleSummarySchema) },
  /** Opens (creates locally if new) this user's conversation with the role. */
  'roles.open': { input: z.strictObject({ roleId: RoleIdSchema }), output: z.strictObject({ conversationId: ConversationIdSchema }) },
  /** The role now, from the relay: holders with since, backup, next hand-over, whether this user may schedule it. */
  'roles.detail': { input: z.strictObject({ roleId: RoleIdSchema }), output: RoleDetailSchema },
  /** Its shifts overlapping [from, to) (at most 31 days), for the schedule dialog. */
  'roles.shifts': { input: z.strictObject({ roleId: RoleIdSchema, from: Timestamp, to: Timestamp }), output: z.array(ShiftSchema) },
  /** Schedulers only (the relay refuses anyone else with FORBIDDEN): add or remove a shift. */
  'roles.addShift': { input: z.strictObject({ roleId: RoleIdSchema, userId: UserIdSchema, startsAt: Timestamp, endsAt: Timestamp }), output: ShiftSchema },
  'roles.removeShift': { input: z.strictObject({ roleId: RoleIdSchema, shiftId: z.uuid() }), output: z.strictObject({ removed: z.boolean() }) },
} as const;

export type CommandName = keyof typeof COMMANDS;
export type CommandInput<C extends CommandName> = z.input<(typeof COMMANDS)[C]['input']>;
export type CommandOutput<C extends CommandName> = z.infer<(typeof COMMANDS)[C]['output']>;

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && Object.hasOwn(COMMANDS, name);
}

// --- Results and errors ----------------------------------------------------------------------------

/** Every error a command can end with: the core's codes, the relay's, and the transport's own. */
export const CONTRACT_ERROR_CODES = [...new Set([...ERROR_CODES, ...RELAY_ERROR_CODES, 'UNREACHABLE', 'BAD_RESPONSE', 'UNKNOWN_COMMAND', 'INVALID_INPUT'] as const)];
export const ContractErrorSchema = z.strictObject({
  code: z.enum(CONTRACT_ERROR_CODES as [string, ...string[]]),
  message: z.string().max(2000),
  /** Plain-language problems the user can fix (password policy, invalid fields). */
  issues: z.array(z.string().max(500)).max(50).optional(),
  retryAfterSeconds: z.number().nonnegative().optional(),
  /** PASSPHRASE_POLICY: which rules of `shared/passphrasePolicy.ts` the passphrase broke. */
  rules: z.array(z.enum(PASSPHRASE_RULES)).max(PASSPHRASE_RULES.length).optional(),
});
export type ContractError = z.infer<typeof ContractErrorSchema>;

export type CommandResult<C extends CommandName> = { readonly ok: true; readonly value: CommandOutput<C> } | { readonly ok: false; readonly error: ContractError };

// --- Events ----------------------------------------------------------------------------------------

export const UiEventSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('session'), state: SessionStateSchema }),
  z.strictObject({ type: z.literal('message'), conversationId: ConversationIdSchema, messageId: MessageIdSchema, from: UserIdSchema, urgent: z.boolean() }),
  z.strictObject({ type: z.literal('receipt'), kind: z.enum(['delivered', 'read']), messageIds: z.array(MessageIdSchema).readonly(), from: UserIdSchema }),
  z.strictObject({ type: z.literal('urgentReminder'), conversationId: ConversationIdSchema, messageId: MessageIdSchema, reminder: z.number().int() }),
  /** An urgent message's acknowledgements or escalation changed (issue 19): show it again. */
  z.strictObject({ type: z.literal('urgency'), conversationId: ConversationIdSchema, messageId: MessageIdSchema }),
  /** `signInAgain`: not connected because the relay asks this workstation to sign in at the identity provider again (`sso.signInAgain`). */
  z.strictObject({ type: z.literal('connection'), state: z.enum(['connecting', 'online', 'offline', 'signInAgain']) }),
  z.strictObject({ type: z.literal('sendBlocked'), messageId: MessageIdSchema, reason: z.literal('IDENTITY_CHANGED'), userId: UserIdSchema }),
  /** A message that can never go: its sender left the care team, its attachments were cancelled, or nobody holds its role (nor a backup). */
  z.strictObject({ type: z.literal('sendFailed'), messageId: MessageIdSchema, reason: z.enum(['NOT_A_MEMBER', 'ATTACHMENT_CANCELLED', 'ROLE_UNCOVERED', 'ROLE_TOO_MANY_HOLDERS', 'ATTACHMENT_UNAVAILABLE']) }),
  /**
   * A message waits in the outbox because the relay refused it for now: a recipient's queue on the relay
   * is full (`userId`: whose; the others already have it), or holds as much from this account as one
   * sender may have waiting there (SENDER_SHARE_FULL); this workstation is over the relay's rate; or the
   * relay is short of disk space. The core tries again by itself, not before `retryAt`.
   */
  z.strictObject({ type: z.literal('sendDelayed'), messageId: MessageIdSchema, reason: z.enum(['RECIPIENT_QUEUE_FULL', 'SENDER_SHARE_FULL', 'RECIPIENT_NOT_ENROLLED', 'RATE_LIMITED', 'RELAY_STORAGE_FULL', 'RELAY_UNAVAILABLE']), userId: UserIdSchema.optional(), retryAt: Timestamp }),
  z.strictObject({ type: z.literal('conversation'), conversationId: ConversationIdSchema }),
  /**
   * Receiving is held up by this workstation's own storage (ReceivePipeline): `stalled`, an envelope could not be stored
   * after several attempts (the database busy or failing, the disk full) and is still tried, nothing after it before;
   * `failed`, the profile's database is damaged, not a database or read-only (STORAGE_CORRUPT): nothing more is taken
   * (it waits at the relay) until the profile is opened again; `ok`, receiving again after `stalled`.
   */
  z.strictObject({ type: z.literal('receiving'), state: z.enum(['ok', 'stalled', 'failed']) }),
  /** A colleague's status (or the user's own, set at another workstation) changed: as presence.get would answer it now. */
  z.strictObject({ type: z.literal('presence'), presence: PresenceSchema }),
  IdentityChangedEventSchema,
  AttachmentProgressEventSchema,
]);
export type UiEvent = z.infer<typeof UiEventSchema>;

/**
 * What the preload (and the browser harness) put on `window.rounds`: one generic call and one event
 * subscription. The renderer wraps it in typed helpers; it never sees Node or Electron.
 */
export interface RoundsBridge {
  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandResult<C>>;
  /** Returns the function that unsubscribes. */
  subscribe(listener: (event: UiEvent) => void): () => void;
}
