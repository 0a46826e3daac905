import type { DeviceAddress, DeviceId, EnvelopeId, UserId } from '../../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../shared/wire/keys';
import type { AuditEvent, AuditRecord, ChainCheck } from '../audit/AuditRecord';
import type { DirectoryPerson, ProvisioningSource } from '../directory/DirectoryPerson';
import type { RateLimiter } from '../RateLimiter';
import type { BlobStore } from './BlobStore';
import type { ScimStore } from './ScimStore';
import type { EscalationStore } from './EscalationStore';
import type { RoleStore } from './RoleStore';
import type { PresenceStore } from './PresenceStore';
import type { OidcPendingSignIn } from '../auth/oidc/OidcRelyingParty';
import type { ActiveDevice, UserRecord, SsoLink, SsoSignInOutcome, ProvisioningKind, NewUser, ProvisionResult, DirectoryListing, DeviceRecord, PendingEnrollment, EmergencyGrant, StoredEnvelope, CommittedListener, NewEnvelope, AuditRecordFilter, AuditLogStart, AuditTreeState, StoredTile, QueueLimits, EnqueueOutcome, NewDevice, UserPatch, AccountLock, SignedCheckpoint, ControlEvent, StoreEvents } from './relayRecords';

/*
 * Everything the relay persists, behind one interface: the embedded SQLite implementation and a
 * PostgreSQL one serve the same handlers. Every mutation takes the audit events that describe it and
 * stores them in the same transaction, so the log cannot miss a change or record one that did not happen.
 */

export * from './relayRecords';

export interface RelayStore {
  // Accounts
  createUser(user: NewUser, enrollmentCodeHash: string, codeExpiresAt: number, audit: readonly AuditEvent[]): Promise<void>;
  /** Replaces the user's unused enrollment codes with a new one (for `user add` on a pending account). */
  replaceEnrollmentCode(userId: UserId, codeHash: string, expiresAt: number, audit: readonly AuditEvent[]): Promise<void>;
  userById(id: UserId): Promise<UserRecord | undefined>;
  userByUsername(username: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(id: UserId, patch: UserPatch, audit: readonly AuditEvent[]): Promise<void>;
  /** Deactivates the account, revokes every device and deletes their queues and keys; an account already deactivated is left as it is (nothing audited again). */
  deactivateUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<void>;

  // The hospital's directory (issue 18)
  /**
   * Creates or updates the account of a person a provisioning source describes, in one transaction with its
   * audit records (`user.provisioned`, `user.updated`, `account.deactivated`, `account.reactivated`, each
   * naming the source and the fields that changed). The account is found by the source kind's externalId,
   * else by username (an account made by hand is then adopted by the source); a new one is 'pending' (no
   * enrollment code: `user add` or single sign-on gives it one) with the role clinician. `active: false`
   * deactivates it as `deactivateUser` does (devices revoked, control event for every instance); `active:
   * true` reactivates it only when this source kind deactivated it. Refused (ProvisioningRefused, nothing
   * changed) when the person's fields are not valid, or the username belongs to another person. Of two
   * stores provisioning one new externalId at once, one creates and the other updates.
   */
  provisionPerson(person: DirectoryPerson, source: ProvisioningSource, at: number): Promise<ProvisionResult>;
  userByExternalId(source: ProvisioningKind, externalId: string): Promise<UserRecord | undefined>;
  /**
   * Colleagues whose display name, username, department or job title contains `query` (case- and
   * accent-insensitive; an empty query matches everyone), active and pending (not deactivated), by display
   * name then username; at most `limit` (<= MAX_DIRECTORY_RESULTS).
   */
  searchDirectory(query: string, limit: number): Promise<DirectoryListing[]>;
  /** SCIM provisioning's tokens, deleted accounts and groups (ScimStore.ts). */
  readonly scim: ScimStore;
  /** Attachment blobs (issue 20): ciphertext the relay cannot read, for the devices of the accounts it names (BlobStore.ts). */
  readonly blobs: BlobStore;
  /** On-call roles, their shifts and the scheduler permission (RoleStore.ts, issue 19). */
  readonly roles: RoleStore;
  /** Each user's presence: status, note, end time, forward-to (issue 19, PresenceStore.ts). */
  readonly presence: PresenceStore;
  /** Signed acknowledgements of urgent messages and the escalation ladders held for them (EscalationStore.ts, issue 19). */
  readonly escalations: EscalationStore;

  // Single sign-on (issue 18)
  /**
   * Keeps a begun sign-in at the identity provider until `expiresAt`, under its state (shared by every relay
   * instance: the app may complete on another one); sign-ins past their time are purged.
   */
  createPendingSso(pending: OidcPendingSignIn, expiresAt: number): Promise<void>;
  /** Removes and returns the begun sign-in of this state if it has not expired: single use (of two racing takes, one gets it). */
  takePendingSso(state: string, now: number): Promise<OidcPendingSignIn | undefined>;
  userBySsoSubject(issuer: string, subject: string): Promise<UserRecord | undefined>;
  /**
   * A completed sign-in at the identity provider, in one transaction: links the account to the identity,
   * sets its `signedInAt`, activates it if pending (then `activationAudit` is stored too) and stores `audit`.
   * 'refused', with nothing changed, when the account is deactivated or gone, is linked to another identity,
   * or another account is linked to this one.
   */
  recordSsoSignIn(userId: UserId, link: SsoLink, audit: readonly AuditEvent[], activationAudit: readonly AuditEvent[]): Promise<SsoSignInOutcome>;

  // Enrollment
  /** The user of an unused, unexpired enrollment code. */
  enrollmentCodeOwner(codeHash: string, now: number): Promise<UserId | undefined>;
  createPendingEnrollment(enrollment: PendingEnrollment): Promise<void>;
  pendingEnrollment(id: string): Promise<PendingEnrollment | undefined>;
  /** Activates the account with its password and TOTP secret, uses up the code, adds the first device. */
  completeEnrollment(enrollment: PendingEnrollment, passwordHash: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId>;

  // Devices and keys
  addDevice(userId: UserId, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId>;
  device(userId: UserId, deviceId: DeviceId): Promise<DeviceRecord | undefined>;
  devices(userId: UserId): Promise<DeviceRecord[]>;
  /** The active (not revoked, not expired) device ids of every active user, in one read. */
  activeDevicesByUser(now: number): Promise<Map<UserId, DeviceId[]>>;
  /**
   * One user's active devices (not revoked, not expired at `now`) in id order, each with when it expires; none
   * when the account is not active. One read of two narrow columns, not the devices' rows with their keys.
   */
  activeDevices(userId: UserId, now: number): Promise<ActiveDevice[]>;
  replaceCredential(userId: UserId, deviceId: DeviceId, credentialHash: string, audit: readonly AuditEvent[]): Promise<void>;
  touchDevice(userId: UserId, deviceId: DeviceId, at: number): Promise<void>;
  /** Revokes the device and deletes its queue and keys. */
  revokeDevice(userId: UserId, deviceId: DeviceId, at: number, audit: readonly AuditEvent[]): Promise<void>;
  storeKeys(userId: UserId, deviceId: DeviceId, upload: KeyUpload, audit: readonly AuditEvent[]): Promise<PreKeyCount>;
  keyCount(userId: UserId, deviceId: DeviceId): Promise<PreKeyCount>;
  /** A bundle for each active device of the user; each consumes one one-time key of each kind, atomically. */
  takeBundles(userId: UserId, deviceId: DeviceId | undefined, audit: (bundle: PreKeyBundle) => AuditEvent): Promise<PreKeyBundle[]>;

  // Envelopes
  /**
   * Stores the envelopes durably (group-committed with others) and resolves once they are on disk, with
   * each envelope's outcome in order. A device's envelopes of one call are queued or refused together.
   * `committed.take`, once they are on disk and before the call resolves, gets the envelopes it queued for the
   * recipients `committed.wants`, with their positions, from a store that can vouch for `after` (SQLite: one write
   * transaction at a time, positions in commit order); a store shared by several relays (PostgreSQL) never calls
   * it, and deliveries read their queues.
   */
  enqueue(envelopes: readonly NewEnvelope[], audit: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, committed?: CommittedListener): Promise<EnqueueOutcome[]>;
  queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]>;
  /** Removes acknowledged envelopes of this recipient; returns the ids that were in its queue. */
  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], audit: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]>;
  /** Deletes envelopes accepted before `before`; returns how many. */
  expireEnvelopes(before: number, audit: (count: number) => AuditEvent): Promise<number>;

  // Throttling
  /**
   * Records a failed attempt in each scope's sliding window; with `streak`, also lengthens that scope's
   * run of consecutive failures (kept, however old, until clearLoginFailures); with `lock`, sets the
   * account's lockedUntil. One transaction (one fsync), whatever it includes, so the failure that locks an
   * account takes as long as any other.
   */
  recordLoginFailure(scopes: readonly string[], at: number, audit: readonly AuditEvent[], streak?: string, lock?: AccountLock): Promise<void>;
  loginFailures(scope: string, since: number): Promise<number[]>;
  /** Consecutive failures recorded for the scope since it was last cleared. */
  loginStreak(scope: string): Promise<number>;
  /** Forgets the scope's failures: its window and its run. */
  clearLoginFailures(scope: string): Promise<void>;
  /**
   * Takes a TOTP time step for the account if it is later than the last one taken (atomically: of two
   * concurrent sign-ins with the same code, one wins). False when the code was already used.
   */
  claimTotpStep(userId: UserId, step: number): Promise<boolean>;

  // Emergency access
  createEmergencyGrant(grant: EmergencyGrant, audit: readonly AuditEvent[]): Promise<void>;
  emergencyGrants(userId: UserId, now: number): Promise<EmergencyGrant[]>;
  useEmergencyGrant(grantId: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId>;

  // Admin changes a running relay must apply
  controlEvents(afterSeq: number): Promise<ControlEvent[]>;
  /** Deletes control events recorded before `before` (running relays have long applied them); seqs go on rising. */
  pruneControlEvents(before: number): Promise<void>;

  /** Bytes free for the store's files (for its owner's user), or undefined where the store cannot tell. */
  freeBytes(): Promise<number | undefined>;

  // Operations
  /** Why the store cannot serve requests now (the database unreachable, its schema not this code's), or undefined when it can. */
  notReady(): Promise<string | undefined>;
  /** Envelopes waiting in every queue together (for the metrics). */
  queuedTotal(): Promise<number>;

  // Audit
  appendAudit(audit: readonly AuditEvent[]): Promise<void>;
  /** A consistent copy of the whole database at one moment, written to `path`, while the relay runs. */
  backup(path: string): Promise<void>;
  auditRecords(from: number, to: number): Promise<AuditRecord[]>;
  /**
   * Up to `limit` records with seq > afterSeq, in seq order (for streaming the log to a SIEM, or exporting it
   * in pages); with a filter, only those in [from, to), up to seq `untilSeq`, or of the given types.
   */
  auditRecordsAfter(afterSeq: number, limit: number, filter?: AuditRecordFilter): Promise<AuditRecord[]>;
  /**
   * The same records (in [from, to), up to untilSeq) as their events.jsonl lines, for a whole-log export:
   * each `<seq> <line>`, or `<seq>` alone where the store cannot make the line itself (read that record whole).
   */
  auditLinesAfter(afterSeq: number, limit: number, filter?: Pick<AuditRecordFilter, 'from' | 'to' | 'untilSeq'>): Promise<string[]>;
  checkAuditChain(): Promise<ChainCheck>;
  /** The earliest and latest `at` of any record in the log (each one look-up in the index by time), or null when it is empty. */
  auditTimeSpan(): Promise<{ readonly earliest: number; readonly latest: number } | null>;
  /** The log new records belong to: from seq 1 (origin null: the data directory's log id), or the one a restore began. */
  auditLogStart(): Promise<AuditLogStart>;
  /** Begins a new log (a restore): appends `first` as its first record, and starts its tree empty; one transaction. */
  beginAuditLog(origin: string, first: AuditEvent): Promise<AuditRecord>;
  /** How far the stored Merkle tree of the current log reaches. */
  auditTree(): Promise<AuditTreeState>;
  /** The stored tiles of one level with index in [from, to), in order (the last of a level may be partial). */
  auditTiles(level: number, from: number, to: number): Promise<StoredTile[]>;
  /**
   * Grows the stored tree from `from` to `to`, writing `tiles` (new full tiles, and each level's partial one):
   * false, with nothing written, when the tree is no longer at `from` (another process grew it, or a new log began).
   */
  extendAuditTree(from: AuditTreeState, to: AuditTreeState, tiles: readonly StoredTile[]): Promise<boolean>;
  /** Forgets the stored tree of the current log (it is derived data): the next growth rebuilds it from the records. */
  resetAuditTree(): Promise<void>;

  /**
   * Stores that several relay instances share keep the checkpoints the relay signed (each instance's data
   * directory would hold only its own exports'); the embedded store leaves them to its data directory.
   */
  rememberCheckpoint?(entry: SignedCheckpoint): Promise<void>;
  signedCheckpoints?(origin: string): Promise<SignedCheckpoint[]>;

  /**
   * Stores that several relay instances share keep the SIEM stream's cursor (the last record the receiver
   * accepted), so that whichever instance streams next goes on from it; the embedded store leaves it to its
   * data directory (siem-cursor). `claimSiemCursor` makes `owner` (a token of this turn) the only one that may
   * move it and answers it (`seed` when none was kept yet); `writeSiemCursor` moves it, false (nothing
   * written) when another turn has claimed it since.
   */
  claimSiemCursor?(owner: string, seed: { readonly seq: number; readonly hash?: string }): Promise<{ readonly seq: number; readonly hash?: string }>;
  writeSiemCursor?(cursor: { readonly seq: number; readonly hash?: string }, owner: string): Promise<boolean>;

  /**
   * Stores that several relay instances share keep the rate limits' buckets too, so that a device spreading
   * its requests over the instances gets one allowance, not one per instance (the embedded store: in memory).
   */
  sharedRateLimiter?(): RateLimiter;

  /**
   * Runs `job` unless another process runs the job of this name now (another relay instance on the same
   * database, or an admin command beside the relay): then `{ ran: false }` at once, nothing run. The lock is
   * held by this process (a PostgreSQL session's advisory lock, a file lock in the data directory) and
   * dropped with it, however it dies. `name`: lower-case letters, digits and hyphens (JOB_NAME). A lock can
   * be lost while the job runs (the PostgreSQL session dropped): the job asks `lease.assertHeld()` before each
   * write, which throws JobLockLost from then on, so that it stops before another process's run overlaps it.
   */
  withExclusiveJob<T>(name: string, job: (lease: JobLease) => Promise<T>): Promise<ExclusiveJobOutcome<T>>;

  /** Stores that several relay instances share: starts telling this one of the others' changes. */
  subscribe?(events: StoreEvents): Promise<void>;

  close(): Promise<void>;
}

/** What withExclusiveJob did: ran the job (its value), or left it to the process already running it. */
export type ExclusiveJobOutcome<T> = { readonly ran: true; readonly value: T } | { readonly ran: false };

/** A running job's hold on its lock (RelayStore.withExclusiveJob). */
export interface JobLease {
  /** Resolves while the lock is still this process's; JobLockLost (exclusiveJob.ts) once it is not. */
  assertHeld(): Promise<void>;
}

/** The names withExclusiveJob takes (they name a lock file, and a PostgreSQL lock key). */
export const JOB_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Device-enrollment audit events name the device id, which is only known inside the transaction. */
export function withEnrolledDevice(event: AuditEvent, userId: UserId, deviceId: DeviceId): AuditEvent {
  return event.type === 'device.enrolled' || event.type === 'emergency.used' || event.type === 'account.enrolled'
    ? { ...event, subject: `${userId}.${deviceId}` }
    : event;
}

/**
 * Whether the store's free space is below `reserveBytes` (the relay's --min-free-disk-mib), and how much is
 * free; a store that cannot tell is never low. Used by everything that refuses work to keep that reserve.
 */
export async function belowFreeDiskReserve(store: Pick<RelayStore, 'freeBytes'>, reserveBytes: number): Promise<{ low: boolean; free: number | undefined }> {
  const free = await store.freeBytes().catch(() => undefined);
  return { low: free !== undefined && free < reserveBytes, free };
}
