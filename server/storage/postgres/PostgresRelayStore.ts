/**
 * The relay's store on PostgreSQL (issue 17): what `SqliteRelayStore` keeps, in a database any number of
 * relay instances share. Every mutation is one transaction that appends its audit records last (the audit
 * chain's lock is then held only for the commit); envelope sends and acknowledgements are group-committed
 * per instance. Other instances learn of what concerns their sockets through LISTEN/NOTIFY
 * (PostgresNotifications.ts): queues that grew, and revocations and deactivations.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../../shared/wire/keys';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
import { RelayFailure } from '../../RelayFailure';
import type {
  AccountLock, ActiveDevice, DeviceRecord, DirectoryListing, EmergencyGrant, EnqueueOutcome,
  NewDevice, NewEnvelope, NewUser, PendingEnrollment, ProvisionResult, ProvisioningKind, QueueLimits, RelayStore, StoreEvents, StoredEnvelope, SsoLink, SsoSignInOutcome, UserPatch, UserRecord,
} from '../RelayStore';
import type { DirectoryPerson, ProvisioningSource } from '../../directory/DirectoryPerson';
import { directorySearchText, touchesSearchText } from '../../directory/provisioning';
import { PostgresDirectory, toUser, type UserRow } from './PostgresDirectory';
import { withEnrolledDevice, type ExclusiveJobOutcome, type JobLease } from '../RelayStore';
import { withPostgresJobLock } from './PostgresJobLock';
import type { RateLimiter } from '../../RateLimiter';
import { PostgresRateLimiter } from './PostgresRateLimiter';
import { PostgresStoreBase, UNIQUE_VIOLATION } from './PostgresStoreBase';
import type { PostgresDatabase } from './PostgresDatabase';
import { PostgresDevices } from './PostgresDevices';
import { PostgresEnvelopeQueue } from './PostgresEnvelopeQueue';
import { PostgresScim } from './PostgresScim';
import { PostgresBlobs } from './PostgresBlobs';
import { PostgresRoles } from './PostgresRoles';
import { PostgresSignIns } from './PostgresSignIns';
import { PostgresSsoSignIns } from './PostgresSsoSignIns';
import { PostgresPresence } from './PostgresPresence';
import type { OidcPendingSignIn } from '../../auth/oidc/OidcRelyingParty';
import { PostgresEscalations } from './PostgresEscalations';
import { PostgresNotifications, QUEUED_CHANNEL, presenceNotify, queuedPayloads } from './PostgresNotifications';

/** Envelopes expired per transaction. */
const EXPIRE_SLICE = 5000;
/** Revocations and deactivations delete whole queues (up to the queue limit each): their own statement timeout. */
const ADMIN_STATEMENT_TIMEOUT = '60s';

export class PostgresRelayStore extends PostgresStoreBase implements RelayStore {
  readonly #devices: PostgresDevices;
  readonly #queue: PostgresEnvelopeQueue;
  readonly #directory: PostgresDirectory;
  readonly scim: PostgresScim;
  readonly blobs: PostgresBlobs;
  readonly roles: PostgresRoles;
  readonly presence: PostgresPresence;
  readonly #sso: PostgresSsoSignIns;
  readonly escalations: PostgresEscalations;
  readonly #signIns: PostgresSignIns;
  /** This instance's name in its notifications (it ignores its own: it told its sockets already). */
  readonly #instance = randomUUID();
  #notifications: PostgresNotifications | undefined;

  constructor(db: PostgresDatabase, clock: Clock) {
    super(db, clock);
    this.#devices = new PostgresDevices(db);
    this.#sso = new PostgresSsoSignIns(db, (client, events) => this.append(client, events));
    this.#signIns = new PostgresSignIns(db, clock, (client, events) => this.append(client, events));
    this.#directory = new PostgresDirectory(db, { appendAudit: (client, events) => this.append(client, events), deactivateIn: (client, id, at) => this.#deactivateIn(client, id, at) });
    this.blobs = new PostgresBlobs(db, (client, events) => this.append(client, events));
    this.roles = new PostgresRoles(db, (client, events) => this.append(client, events));
    this.scim = new PostgresScim(db, (client, events) => this.append(client, events), this.roles);
    this.presence = new PostgresPresence(db, (client, events) => this.append(client, events), (client, userId) => presenceNotify(client, this.#instance, userId));
    this.#queue = new PostgresEnvelopeQueue(db, {
      appendAudit: async (client, events) => void (await this.audit.append(client, events, this.clock.now())),
      announcements: (recipients) => ({ channel: QUEUED_CHANNEL, payloads: queuedPayloads(this.#instance, recipients) }),
    });
    this.escalations = new PostgresEscalations(db, this.#queue, {
      appendAudit: (client, events) => this.append(client, events),
      announce: async (client, recipients) => void (await client.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [QUEUED_CHANNEL, queuedPayloads(this.#instance, recipients)])),
    });
  }

  /** Opens the store on a database whose schema is this code's (`serve` refuses any other). */
  static async open(db: PostgresDatabase, clock: Clock): Promise<PostgresRelayStore> {
    await db.assertCurrent();
    await PostgresDirectory.fillSearchText(db);
    return new PostgresRelayStore(db, clock);
  }

  sharedRateLimiter(): RateLimiter {
    return new PostgresRateLimiter(this.db);
  }

  /** Listens for the other instances' news (envelopes queued for, devices cut off) on a connection of its own. */
  async subscribe(events: StoreEvents): Promise<void> {
    this.#notifications = new PostgresNotifications(this.db, this.#instance, events);
    await this.#notifications.start();
  }


  // --- Accounts --------------------------------------------------------------------------------------

  async createUser(user: NewUser, codeHash: string, codeExpiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    try {
      await this.tx(async (client) => {
        await client.query(
          'INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at, department, job_title, contact, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
          [user.id, user.username, user.displayName, user.role, user.status, user.createdAt, user.lastActiveAt, user.department ?? null, user.jobTitle ?? null, user.contact ?? null, directorySearchText(user)],
        );
        await client.query('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)', [codeHash, user.id, codeExpiresAt]);
        await this.append(client, audit);
      });
    } catch (error) {
      if ((error as { code?: string; constraint?: string }).code === UNIQUE_VIOLATION && (error as { constraint?: string }).constraint === 'users_username_key') {
        throw new RelayFailure('BAD_REQUEST', `username ${user.username} is taken`);
      }
      throw error;
    }
  }

  async replaceEnrollmentCode(userId: UserId, codeHash: string, expiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.tx(async (client) => {
      await client.query('DELETE FROM enrollment_codes WHERE user_id = $1 AND used_at IS NULL', [userId]);
      await client.query('DELETE FROM pending_enrollments WHERE user_id = $1', [userId]);
      await client.query('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($1, $2, $3)', [codeHash, userId, expiresAt]);
      await this.append(client, audit);
    });
  }

  async userById(id: UserId): Promise<UserRecord | undefined> {
    const row = (await this.db.query<UserRow>('SELECT * FROM users WHERE id = $1', [id])).rows[0];
    return row && toUser(row);
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    const row = (await this.db.query<UserRow>('SELECT * FROM users WHERE username = $1', [username])).rows[0];
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    // Byte order, as SQLite sorts: the same list whatever the database's collation.
    return (await this.db.query<UserRow>('SELECT * FROM users ORDER BY username COLLATE "C"')).rows.map(toUser);
  }

  async updateUser(id: UserId, patch: UserPatch, audit: readonly AuditEvent[]): Promise<void> {
    const columns: Record<keyof UserPatch, string> = {
      status: 'status', passwordHash: 'password_hash', totpSecret: 'totp_secret', lockedUntil: 'locked_until',
      lastActiveAt: 'last_active_at', deactivatedAt: 'deactivated_at', displayName: 'display_name', totpLastStep: 'totp_last_step', deactivatedBySource: 'deactivated_by_source',
      department: 'department', jobTitle: 'job_title', contact: 'contact',
    };
    const entries = Object.entries(patch) as [keyof UserPatch, string | number | null][];
    await this.tx(async (client) => {
      if (entries.length > 0) {
        const set = entries.map(([k], i) => `${columns[k]} = $${i + 2}`).join(', ');
        await client.query(`UPDATE users SET ${set} WHERE id = $1`, [id, ...entries.map(([, v]) => v)]);
        if (touchesSearchText(patch)) await this.#directory.refreshSearchText(client, id);
      }
      await this.append(client, audit);
    });
  }

  async deactivateUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.tx(async (client) => {
      // Once only: two instances' housekeeping deactivating one idle account at once record it once.
      if (await this.#deactivateIn(client, id, at)) await this.append(client, audit);
    });
  }

  /** Inside a transaction: deactivates the account, revokes its devices, tells every instance; false when it already was. */
  async #deactivateIn(client: pg.PoolClient, id: UserId, at: number): Promise<boolean> {
    await client.query(`SET LOCAL statement_timeout = '${ADMIN_STATEMENT_TIMEOUT}'`);
    const changed = await client.query(`UPDATE users SET status = 'deactivated', deactivated_at = $2, deactivated_by_source = NULL, deactivated_by_scim = NULL WHERE id = $1 AND status <> 'deactivated'`, [id, at]);
    if (changed.rowCount === 0) return false;
    const devices = await client.query<{ device_id: number }>('SELECT device_id FROM devices WHERE user_id = $1 AND revoked_at IS NULL ORDER BY device_id', [id]);
    for (const row of devices.rows) await this.#devices.revokeIn(client, id, row.device_id, at);
    await client.query('DELETE FROM enrollment_codes WHERE user_id = $1 AND used_at IS NULL', [id]);
    await client.query('DELETE FROM pending_enrollments WHERE user_id = $1', [id]);
    await client.query('UPDATE emergency_grants SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL', [id, at]);
    await this.roles.vacateIn(client, id, at);
    // Out of its SCIM groups too: reactivated later, it holds no role from a membership it had before it left.
    await client.query('DELETE FROM scim_group_members WHERE user_id = $1', [id]);
    await this.controlEvent(client, 'account.deactivated', id, null, at);
    return true;
  }

  // --- The hospital's directory (PostgresDirectory.ts) -----------------------------------------------

  provisionPerson(person: DirectoryPerson, source: ProvisioningSource, at: number): Promise<ProvisionResult> {
    return this.#directory.provision(person, source, at);
  }

  userByExternalId(source: ProvisioningKind, externalId: string): Promise<UserRecord | undefined> {
    return this.#directory.byExternalId(this.db, source, externalId);
  }

  searchDirectory(query: string, limit: number): Promise<DirectoryListing[]> {
    return this.#directory.search(query, limit);
  }

  // --- Single sign-on -------------------------------------------------------------------------------

  createPendingSso(pending: OidcPendingSignIn, expiresAt: number): Promise<void> {
    return this.#sso.create(pending, expiresAt);
  }

  takePendingSso(state: string, now: number): Promise<OidcPendingSignIn | undefined> {
    return this.#sso.take(state, now);
  }

  userBySsoSubject(issuer: string, subject: string): Promise<UserRecord | undefined> {
    return this.#sso.userBySubject(this.db, issuer, subject);
  }

  recordSsoSignIn(userId: UserId, link: SsoLink, audit: readonly AuditEvent[], activationAudit: readonly AuditEvent[]): Promise<SsoSignInOutcome> {
    return this.#sso.record(userId, link, audit, activationAudit);
  }

  enrollmentCodeOwner(codeHash: string, now: number): Promise<UserId | undefined> {
    return this.#signIns.enrollmentCodeOwner(codeHash, now);
  }

  createPendingEnrollment(e: PendingEnrollment): Promise<void> {
    return this.#signIns.createPendingEnrollment(e);
  }

  pendingEnrollment(id: string): Promise<PendingEnrollment | undefined> {
    return this.#signIns.pendingEnrollment(id);
  }

  async completeEnrollment(e: PendingEnrollment, passwordHash: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.tx(async (client) => {
      const used = await client.query('UPDATE enrollment_codes SET used_at = $3 WHERE code_hash = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3', [e.codeHash, e.userId, now]);
      if (used.rowCount !== 1) throw new RelayFailure('INVALID_CODE', 'the enrollment code is no longer valid');
      await client.query('DELETE FROM pending_enrollments WHERE id = $1', [e.id]);
      await client.query(`UPDATE users SET status = 'active', password_hash = $2, totp_secret = $3, last_active_at = $4 WHERE id = $1`, [e.userId, passwordHash, e.totpSecret, now]);
      const deviceId = await this.#devices.addIn(client, e.userId, device, now);
      await this.controlEvent(client, 'device.added', e.userId, deviceId, now);
      await this.append(client, audit.map((a) => withEnrolledDevice(a, e.userId, deviceId)));
      return deviceId;
    });
  }

  // --- Devices and keys ----------------------------------------------------------------------------

  async addDevice(userId: UserId, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.tx(async (client) => {
      const deviceId = await this.#devices.addIn(client, userId, device, now);
      await this.controlEvent(client, 'device.added', userId, deviceId, now);
      await this.append(client, audit.map((a) => withEnrolledDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  device(userId: UserId, deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    return this.#devices.device(this.db, userId, deviceId);
  }

  devices(userId: UserId): Promise<DeviceRecord[]> {
    return this.#devices.devices(this.db, userId);
  }

  activeDevicesByUser(now: number): Promise<Map<UserId, DeviceId[]>> {
    return this.#devices.activeByUser(this.db, now);
  }

  activeDevices(userId: UserId, now: number): Promise<ActiveDevice[]> {
    return this.#devices.activeOf(this.db, userId, now);
  }

  async replaceCredential(userId: UserId, deviceId: DeviceId, credentialHash: string, audit: readonly AuditEvent[]): Promise<void> {
    await this.tx(async (client) => {
      await client.query('UPDATE devices SET credential_hash = $3 WHERE user_id = $1 AND device_id = $2 AND revoked_at IS NULL', [userId, deviceId, credentialHash]);
      await this.controlEvent(client, 'credential.replaced', userId, deviceId, this.clock.now());
      await this.append(client, audit);
    });
  }

  touchDevice(userId: UserId, deviceId: DeviceId, at: number): Promise<void> {
    return this.#devices.touch(userId, deviceId, at);
  }

  async revokeDevice(userId: UserId, deviceId: DeviceId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    await this.tx(async (client) => {
      await client.query(`SET LOCAL statement_timeout = '${ADMIN_STATEMENT_TIMEOUT}'`);
      await this.#devices.revokeIn(client, userId, deviceId, at);
      await this.controlEvent(client, 'device.revoked', userId, deviceId, at);
      await this.append(client, audit);
    });
  }

  async storeKeys(userId: UserId, deviceId: DeviceId, upload: KeyUpload, audit: readonly AuditEvent[]): Promise<PreKeyCount> {
    return this.tx(async (client) => {
      await this.#devices.storeKeysIn(client, userId, deviceId, upload);
      const count = await this.#devices.count(client, userId, deviceId);
      await this.append(client, audit);
      return count;
    });
  }

  keyCount(userId: UserId, deviceId: DeviceId): Promise<PreKeyCount> {
    return this.#devices.count(this.db, userId, deviceId);
  }

  async takeBundles(userId: UserId, deviceId: DeviceId | undefined, auditOf: (bundle: PreKeyBundle) => AuditEvent): Promise<PreKeyBundle[]> {
    return this.tx(async (client) => {
      const bundles = await this.#devices.takeBundlesIn(client, userId, deviceId, this.clock.now());
      await this.append(client, bundles.map(auditOf));
      return bundles;
    });
  }

  // --- Envelopes -------------------------------------------------------------------------------------

  enqueue(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits): Promise<EnqueueOutcome[]> {
    return this.#queue.enqueue(envelopes, auditOf, limits);
  }

  queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    return this.#queue.queued(this.db, recipient, afterSeq, limit);
  }

  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]> {
    return this.#queue.acknowledge(recipient, ids, auditOf);
  }

  async expireEnvelopes(before: number, auditOf: (count: number) => AuditEvent): Promise<number> {
    // In slices, each one transaction with its audit record: a large backlog never meets the statement
    // timeout, nor holds every queue it touches locked for long.
    let total = 0;
    for (;;) {
      const count = await this.tx(async (client) => {
        const deleted = await this.#queue.expireIn(client, before, EXPIRE_SLICE);
        if (deleted > 0) await this.append(client, [auditOf(deleted)]);
        return deleted;
      });
      total += count;
      if (count < EXPIRE_SLICE) return total;
    }
  }

  // --- Throttling and emergency access (PostgresSignIns.ts) -----------------------------------------

  recordLoginFailure(scopes: readonly string[], at: number, audit: readonly AuditEvent[], streak?: string, lock?: AccountLock): Promise<void> {
    return this.#signIns.recordLoginFailure(scopes, at, audit, streak, lock);
  }

  loginFailures(scope: string, since: number): Promise<number[]> {
    return this.#signIns.loginFailures(scope, since);
  }

  loginStreak(scope: string): Promise<number> {
    return this.#signIns.loginStreak(scope);
  }

  clearLoginFailures(scope: string): Promise<void> {
    return this.#signIns.clearLoginFailures(scope);
  }

  claimTotpStep(userId: UserId, step: number): Promise<boolean> {
    return this.#signIns.claimTotpStep(userId, step);
  }

  createEmergencyGrant(g: EmergencyGrant, audit: readonly AuditEvent[]): Promise<void> {
    return this.#signIns.createEmergencyGrant(g, audit);
  }

  emergencyGrants(userId: UserId, now: number): Promise<EmergencyGrant[]> {
    return this.#signIns.emergencyGrants(userId, now);
  }

  async useEmergencyGrant(grantId: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.tx(async (client) => {
      // Used up by the update itself: of two sign-ins with one code on two instances, one updates the row.
      const grant = (await client.query<{ user_id: string }>('UPDATE emergency_grants SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id', [grantId, now])).rows[0];
      if (!grant) throw new RelayFailure('INVALID_CODE', 'the emergency code is no longer valid');
      const userId = grant.user_id as UserId;
      const deviceId = await this.#devices.addIn(client, userId, device, now);
      await this.controlEvent(client, 'device.added', userId, deviceId, now);
      await this.append(client, audit.map((a) => withEnrolledDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  // --- Operations ------------------------------------------------------------------------------------

  async notReady(): Promise<string | undefined> {
    return (await this.db.notReady()) ?? this.#notifications?.notReady();
  }

  withExclusiveJob<T>(name: string, job: (lease: JobLease) => Promise<T>): Promise<ExclusiveJobOutcome<T>> {
    return withPostgresJobLock(this.db.clientConfig(), name, job);
  }

  async close(): Promise<void> {
    await this.#queue.drain();
    await this.#devices.drainTouches();
    await this.#notifications?.stop();
    await this.db.close();
  }
}
