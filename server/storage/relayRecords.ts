import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../shared/ids';
import type { EnvelopeType } from '../../shared/wire/envelope';
import type { KeyUpload } from '../../shared/wire/keys';
import type { Role } from '../../shared/wire/relay';
import type { ProvisioningSource } from '../directory/DirectoryPerson';

/*
 * The records RelayStore reads and writes (RelayStore.ts re-exports them): accounts, devices, enrollments,
 * emergency grants, envelopes and their limits, the audit log's pieces, control events. Plain data only.
 */

export type UserStatus = 'pending' | 'active' | 'deactivated';

export interface UserRecord {
  readonly id: UserId;
  readonly username: string;
  readonly displayName: string;
  readonly role: Role;
  readonly status: UserStatus;
  readonly passwordHash: string | null;
  readonly totpSecret: string | null;
  readonly createdAt: number;
  readonly lastActiveAt: number;
  readonly lockedUntil: number | null;
  readonly deactivatedAt: number | null;
  /** The last TOTP time step accepted (-1: none); a code for this step or an earlier one is refused. */
  readonly totpLastStep: number;
  /** From the hospital's directory (or the admin's command line); organisational data, shown to colleagues. */
  readonly department: string | null;
  readonly jobTitle: string | null;
  /** Pager or extension. */
  readonly contact: string | null;
  /** Which kind of source provisions the account ('admin': the relay's command line, as before issue 18). */
  readonly source: ProvisioningKind;
  /** The source's id for the person (unique per source kind), or null for accounts made by hand. */
  readonly externalId: string | null;
  /** The source kind whose provisioning deactivated the account (it alone may reactivate it), or null. */
  readonly deactivatedBySource: ProvisioningKind | null;
  /** When SCIM deactivated it: the token source that did (ScimTokenRecord.source), the only one that reactivates it. */
  readonly deactivatedByScim: string | null;
  /** The identity at the hospital's identity provider this account signs in with (single sign-on), or null: password + TOTP. */
  readonly sso: SsoLink | null;
}

/** An account's identity at an OpenID provider: issuer and subject (unique together), and its last sign-in there. */
export interface SsoLink {
  readonly issuer: string;
  readonly subject: string;
  /** When the account last completed a sign-in at the provider (the relay's clock); re-authentication counts from it. */
  readonly signedInAt: number;
}

/** What `recordSsoSignIn` did: activated a pending account, signed an active one in, or refused (nothing changed). */
export type SsoSignInOutcome = 'activated' | 'signedIn' | 'refused';

export type ProvisioningKind = ProvisioningSource['kind'];
export type DirectoryField = 'username' | 'displayName' | 'department' | 'jobTitle' | 'contact';

/** What `createUser` is given: the account's own fields; directory attributes optional (null), the source 'admin'. */
export type NewUser = Omit<UserRecord, 'passwordHash' | 'totpSecret' | 'lockedUntil' | 'deactivatedAt' | 'totpLastStep' | 'department' | 'jobTitle' | 'contact' | 'source' | 'externalId' | 'deactivatedBySource' | 'deactivatedByScim' | 'sso'>
  & Partial<Pick<UserRecord, 'department' | 'jobTitle' | 'contact'>>;

/**
 * What `provisionPerson` did: created the account (pending, or deactivated when the source says the person
 * is not active), updated its directory fields, left it as it was, deactivated or reactivated it.
 */
export interface ProvisionResult {
  readonly userId: UserId;
  readonly outcome: 'created' | 'updated' | 'unchanged' | 'deactivated' | 'reactivated';
  /** The directory fields that changed (all of them when created). */
  readonly changed: readonly DirectoryField[];
}

/** One colleague as the directory search shows them (no secrets, no sign-in state). */
export type DirectoryListing = Pick<UserRecord, 'id' | 'username' | 'displayName' | 'role' | 'status' | 'department' | 'jobTitle' | 'contact'>;

/** The most `searchDirectory` returns at once. */
export const MAX_DIRECTORY_RESULTS = 50;

export interface DeviceRecord {
  readonly userId: UserId;
  readonly deviceId: DeviceId;
  readonly name: string;
  readonly credentialHash: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  /** Emergency sign-ins only: the device stops working then. */
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

export interface PendingEnrollment {
  readonly id: string;
  readonly userId: UserId;
  readonly codeHash: string;
  readonly totpSecret: string;
  readonly expiresAt: number;
}

export interface EmergencyGrant {
  readonly id: string;
  readonly userId: UserId;
  readonly codeHash: string;
  readonly reason: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly usedAt: number | null;
}

export interface StoredEnvelope {
  readonly seq: number;
  readonly id: EnvelopeId;
  readonly type: EnvelopeType;
  readonly sender: DeviceAddress;
  readonly recipient: DeviceAddress;
  readonly content: string;
  readonly acceptedAt: number;
}

export type NewEnvelope = Omit<StoredEnvelope, 'seq'>;

/** A device that may be sent to, and when it stops being one (an emergency sign-in's end; null: never). */
export interface ActiveDevice {
  readonly deviceId: DeviceId;
  readonly expiresAt: number | null;
}

/**
 * An envelope as its commit queued it, with the position of the envelope before it in its recipient's queue at
 * that commit (`after`; 0: none). A store whose queue positions grow in commit order, so that nothing committed
 * later can land before an envelope, can say so; a delivery that has pushed up to `after` may then push this
 * envelope without reading it back, since nothing in the queue lies between (DeliveryHub).
 */
/**
 * A send's caller's interest in what its commit queued: `wants` names the recipients whose deliveries could use
 * them now (the store reads the predecessor of those recipients' envelopes only), `take` gets them.
 */
export interface CommittedListener {
  readonly wants: (recipient: DeviceAddress) => boolean;
  readonly take: (envelopes: readonly CommittedEnvelope[]) => void;
}

export interface CommittedEnvelope extends StoredEnvelope {
  readonly after: number;
}

export interface AuditRecordFilter {
  readonly from?: number;
  readonly to?: number;
  /** Only records outside [from, to). */
  readonly outside?: { readonly from: number; readonly to: number };
  readonly untilSeq?: number;
  readonly types?: readonly string[];
}

export interface AuditLogStart {
  readonly firstSeq: number;
  readonly origin: string | null;
}

/** The stored tree: `size` records from `firstSeq`; `head`, the hash the next record must link to. */
export interface AuditTreeState {
  readonly firstSeq: number;
  readonly size: number;
  readonly head: string;
  /** The first record the tree took in that does not chain (the tree takes the log as it is), or null. */
  readonly brokenAt: number | null;
  readonly brokenReason: string | null;
}

export interface StoredTile {
  readonly level: number;
  readonly index: number;
  /** 32 bytes per node; fewer than 256 nodes in the last tile of a level. */
  readonly hashes: Uint8Array;
}

/**
 * What one recipient device's queue may hold, and what of it one sending account may fill (the recipient's
 * own account is held only to the whole queue). Both are checked inside the write, so concurrent senders,
 * or one account's concurrent devices, cannot pass them together.
 */
export interface QueueLimits {
  readonly maxEnvelopes: number;
  /** Bytes of ciphertext (the decoded size of the base64 content). */
  readonly maxBytes: number;
  readonly maxEnvelopesPerSender: number;
  readonly maxBytesPerSender: number;
}

/**
 * What became of one envelope handed to `enqueue`: queued now; already queued (the identical envelope, sent
 * again after a lost answer: queued once, and not audited again); refused because its device's queue is at
 * its limit, or because the sending account holds its whole share of that queue; refused because another
 * envelope has its id; or dropped because its device was revoked (or its account deactivated) before the
 * commit.
 */
export type EnqueueOutcome = 'queued' | 'alreadyQueued' | 'queueFull' | 'senderShareFull' | 'idTaken' | 'deviceGone';

export interface NewDevice {
  readonly name: string;
  /** Called inside the transaction once the device id is chosen: the hash of the credential to issue. */
  readonly credentialHashFor: (deviceId: DeviceId) => string;
  readonly keys: KeyUpload;
  readonly expiresAt: number | null;
}

export type UserPatch = Partial<Pick<UserRecord, 'status' | 'passwordHash' | 'totpSecret' | 'lockedUntil' | 'lastActiveAt' | 'deactivatedAt' | 'displayName' | 'totpLastStep' | 'department' | 'jobTitle' | 'contact' | 'deactivatedBySource'>>;

/** A pause (or hard stop) of an account's sign-ins that prove no enrolled workstation, set with the failure that caused it. */
export interface AccountLock {
  readonly userId: UserId;
  readonly lockedUntil: number;
}

/** A checkpoint the relay signed in an export: the log, its size and root (base64), the signed note, when. */
export interface SignedCheckpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: string;
  readonly note: string;
  readonly at: number;
}

/**
 * A change every relay instance must act on: sockets to cut (revoked, deactivated, a credential replaced by a
 * new sign-in) or what each remembers of an account's devices to drop (a device added). Instances follow them
 * in seq order, so what they remember between messages can be kept until one of these says otherwise.
 */
export interface ControlEvent {
  readonly seq: number;
  readonly kind: 'device.revoked' | 'account.deactivated' | 'device.added' | 'credential.replaced';
  readonly userId: UserId;
  readonly deviceId: DeviceId | null;
}

/** What a store shared by several relay instances tells each of them about the others' changes. */
export interface StoreEvents {
  /** Another instance queued envelopes for these devices (any of which may be connected here). */
  envelopesQueued(recipients: readonly DeviceAddress[]): void;
  /** A control event was recorded (read controlEvents). */
  controlChanged(): void;
  /** Another instance saw these users' statuses change (its connected devices are told by it; these by this one). */
  presenceChanged(userIds: readonly UserId[]): void;
  /** The news may have been missed (the connection that carries it was lost): look at everything again. */
  resync(): void;
}
