import { join } from 'node:path';
import { DeviceIdSchema, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../../shared/wire/keys';
import type { AuditEvent } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
import { RelayFailure } from '../../RelayFailure';
import type {
  AccountLock,
  ActiveDevice,
  ControlEvent,
  DeviceRecord,
  EmergencyGrant,
  DirectoryListing,
  NewDevice,
  NewUser,
  EnqueueOutcome,
  CommittedListener,
  NewEnvelope,
  PendingEnrollment,
  ProvisionResult,
  ProvisioningKind,
  QueueLimits,
  RelayStore,
  StoredEnvelope,
  SsoLink,
  SsoSignInOutcome,
  UserPatch,
  UserRecord,
} from '../RelayStore';
import { withEnrolledDevice } from '../RelayStore';
import type { DatabaseKey } from './DatabaseKey';
import { MIGRATIONS } from './migrations';
import { SqliteAuditLog } from './SqliteAuditLog';
import { SqliteDatabase } from './SqliteDatabase';
import { SqliteStoreBase } from './SqliteStoreBase';
import { SqliteDevices } from './SqliteDevices';
import { SqliteDirectory, toUser, type UserRow } from './SqliteDirectory';
import type { DirectoryPerson, ProvisioningSource } from '../../directory/DirectoryPerson';
import { directorySearchText, touchesSearchText } from '../../directory/provisioning';
import { SqliteEscalations } from './SqliteEscalations';
import { SqliteEnvelopeQueue } from './SqliteEnvelopeQueue';
import { SqliteScim } from './SqliteScim';
import { SqliteBlobs } from './SqliteBlobs';
import { SqliteRoles } from './SqliteRoles';
import { SqliteSsoSignIns } from './SqliteSsoSignIns';
import { SqlitePresence } from './SqlitePresence';
import type { OidcPendingSignIn } from '../../auth/oidc/OidcRelyingParty';


export const DATABASE_FILE = 'relay.db';

/** The relay's embedded storage: one SQLCipher-encrypted SQLite file in the data directory, opened with its key. */
export class SqliteRelayStore extends SqliteStoreBase implements RelayStore {
  readonly #clock: Clock;
  readonly #devices: SqliteDevices;
  readonly #queue: SqliteEnvelopeQueue;
  readonly #directory: SqliteDirectory;
  readonly scim: SqliteScim;
  readonly blobs: SqliteBlobs;
  readonly roles: SqliteRoles;
  readonly presence: SqlitePresence;
  readonly #sso: SqliteSsoSignIns;
  readonly escalations: SqliteEscalations;

  constructor(dataDir: string, clock: Clock, key: DatabaseKey) {
    const sql = new SqliteDatabase(join(dataDir, DATABASE_FILE), MIGRATIONS, key);
    super(sql, new SqliteAuditLog(sql, clock), dataDir);
    this.#clock = clock;
    this.#devices = new SqliteDevices(this.sql);
    this.#queue = new SqliteEnvelopeQueue(this.sql, (events) => this.audit.append(events));
    this.#directory = new SqliteDirectory(this.sql, { appendAudit: (events) => this.audit.append(events), deactivateIn: (id, at) => this.#deactivateIn(id, at) });
    this.blobs = new SqliteBlobs(this.sql, (events) => this.audit.append(events));
    this.roles = new SqliteRoles(this.sql, (events) => this.audit.append(events));
    this.scim = new SqliteScim(this.sql, (events) => this.audit.append(events), this.roles);
    this.#sso = new SqliteSsoSignIns(this.sql, (events) => this.audit.append(events));
    this.escalations = new SqliteEscalations(this.sql, this.#queue, (events) => this.audit.append(events));
    this.presence = new SqlitePresence(this.sql, (events) => this.audit.append(events));
  }

  get schemaVersion(): number {
    return this.sql.version();
  }

  // --- Accounts --------------------------------------------------------------------------------------

  async createUser(user: NewUser, codeHash: string, codeExpiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      if (this.sql.get('SELECT 1 FROM users WHERE username = $u', { u: user.username })) throw new RelayFailure('BAD_REQUEST', `username ${user.username} is taken`);
      this.sql.run(
        `INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at, department, job_title, contact, search_text)
         VALUES ($id, $username, $name, $role, $status, $created, $active, $department, $jobTitle, $contact, $search)`,
        {
          id: user.id, username: user.username, name: user.displayName, role: user.role, status: user.status, created: user.createdAt, active: user.lastActiveAt,
          department: user.department ?? null, jobTitle: user.jobTitle ?? null, contact: user.contact ?? null, search: directorySearchText(user),
        },
      );
      this.sql.run('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($h, $u, $e)', { h: codeHash, u: user.id, e: codeExpiresAt });
      this.audit.append(audit);
    });
  }

  async replaceEnrollmentCode(userId: UserId, codeHash: string, expiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      this.sql.run('DELETE FROM enrollment_codes WHERE user_id = $u AND used_at IS NULL', { u: userId });
      this.sql.run('DELETE FROM pending_enrollments WHERE user_id = $u', { u: userId });
      this.sql.run('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($h, $u, $e)', { h: codeHash, u: userId, e: expiresAt });
      this.audit.append(audit);
    });
  }

  async userById(id: UserId): Promise<UserRecord | undefined> {
    const row = this.sql.get<UserRow>('SELECT * FROM users WHERE id = $id', { id });
    return row && toUser(row);
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    const row = this.sql.get<UserRow>('SELECT * FROM users WHERE username = $u', { u: username });
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.sql.all<UserRow>('SELECT * FROM users ORDER BY username').map(toUser);
  }

  async updateUser(id: UserId, patch: UserPatch, audit: readonly AuditEvent[]): Promise<void> {
    const columns: Record<keyof UserPatch, string> = {
      status: 'status', passwordHash: 'password_hash', totpSecret: 'totp_secret', lockedUntil: 'locked_until',
      lastActiveAt: 'last_active_at', deactivatedAt: 'deactivated_at', displayName: 'display_name', totpLastStep: 'totp_last_step', deactivatedBySource: 'deactivated_by_source',
      department: 'department', jobTitle: 'job_title', contact: 'contact',
    };
    const entries = Object.entries(patch) as [keyof UserPatch, string | number | null][];
    this.sql.immediate(() => {
      if (entries.length > 0) {
        const set = entries.map(([k]) => `${columns[k]} = $${k}`).join(', ');
        this.sql.run(`UPDATE users SET ${set} WHERE id = $id`, { ...Object.fromEntries(entries), id });
        if (touchesSearchText(patch)) this.#directory.refreshSearchText(id);
      }
      this.audit.append(audit);
    });
  }

  async deactivateUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      // Once only: an account already deactivated (by another process meanwhile) is not recorded again.
      if (this.#deactivateIn(id, at)) this.audit.append(audit);
    });
  }

  /** Inside a transaction: deactivates the account, revokes its devices, tells every instance; false when it already was. */
  #deactivateIn(id: UserId, at: number): boolean {
    if (this.sql.run(`UPDATE users SET status = 'deactivated', deactivated_at = $at, deactivated_by_source = NULL, deactivated_by_scim = NULL WHERE id = $id AND status <> 'deactivated'`, { id, at }) === 0) return false;
    for (const row of this.sql.all<{ device_id: number }>('SELECT device_id FROM devices WHERE user_id = $u AND revoked_at IS NULL', { u: id })) {
      this.#devices.revokeIn(id, row.device_id, at);
    }
    this.sql.run('DELETE FROM enrollment_codes WHERE user_id = $u AND used_at IS NULL', { u: id });
    this.sql.run('DELETE FROM pending_enrollments WHERE user_id = $u', { u: id });
    this.sql.run('UPDATE emergency_grants SET used_at = $at WHERE user_id = $u AND used_at IS NULL', { u: id, at });
    this.roles.vacateIn(id, at);
    // Out of its SCIM groups too: reactivated later, it holds no role from a membership it had before it left.
    this.sql.run('DELETE FROM scim_group_members WHERE user_id = $u', { u: id });
    this.#controlEventIn('account.deactivated', id, null, at);
    return true;
  }

  // --- The hospital's directory ----------------------------------------------------------------------

  async provisionPerson(person: DirectoryPerson, source: ProvisioningSource, at: number): Promise<ProvisionResult> {
    return this.#directory.provision(person, source, at);
  }

  async userByExternalId(source: ProvisioningKind, externalId: string): Promise<UserRecord | undefined> {
    return this.#directory.byExternalId(source, externalId);
  }

  async searchDirectory(query: string, limit: number): Promise<DirectoryListing[]> {
    return this.#directory.search(query, limit);
  }

  // --- Enrollment ------------------------------------------------------------------------------------

  // --- Single sign-on -------------------------------------------------------------------------------

  async createPendingSso(pending: OidcPendingSignIn, expiresAt: number): Promise<void> {
    this.#sso.create(pending, expiresAt);
  }

  async takePendingSso(state: string, now: number): Promise<OidcPendingSignIn | undefined> {
    return this.#sso.take(state, now);
  }

  async userBySsoSubject(issuer: string, subject: string): Promise<UserRecord | undefined> {
    return this.#sso.userBySubject(issuer, subject);
  }

  async recordSsoSignIn(userId: UserId, link: SsoLink, audit: readonly AuditEvent[], activationAudit: readonly AuditEvent[]): Promise<SsoSignInOutcome> {
    return this.#sso.record(userId, link, audit, activationAudit);
  }

  async enrollmentCodeOwner(codeHash: string, now: number): Promise<UserId | undefined> {
    const row = this.sql.get<{ user_id: string }>('SELECT user_id FROM enrollment_codes WHERE code_hash = $h AND used_at IS NULL AND expires_at > $now', { h: codeHash, now });
    return row?.user_id as UserId | undefined;
  }

  async createPendingEnrollment(e: PendingEnrollment): Promise<void> {
    this.sql.immediate(() => {
      this.sql.run('DELETE FROM pending_enrollments WHERE user_id = $u OR expires_at < $now', { u: e.userId, now: this.#clock.now() });
      this.sql.run('INSERT INTO pending_enrollments (id, user_id, code_hash, totp_secret, expires_at) VALUES ($id, $u, $h, $s, $e)', { id: e.id, u: e.userId, h: e.codeHash, s: e.totpSecret, e: e.expiresAt });
    });
  }

  async pendingEnrollment(id: string): Promise<PendingEnrollment | undefined> {
    const row = this.sql.get<{ id: string; user_id: string; code_hash: string; totp_secret: string; expires_at: number }>('SELECT * FROM pending_enrollments WHERE id = $id', { id });
    return row && { id: row.id, userId: row.user_id as UserId, codeHash: row.code_hash, totpSecret: row.totp_secret, expiresAt: row.expires_at };
  }

  async completeEnrollment(e: PendingEnrollment, passwordHash: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.sql.immediate(() => {
      const used = this.sql.run('UPDATE enrollment_codes SET used_at = $now WHERE code_hash = $h AND user_id = $u AND used_at IS NULL AND expires_at > $now', { h: e.codeHash, u: e.userId, now });
      if (used !== 1) throw new RelayFailure('INVALID_CODE', 'the enrollment code is no longer valid');
      this.sql.run('DELETE FROM pending_enrollments WHERE id = $id', { id: e.id });
      this.sql.run(`UPDATE users SET status = 'active', password_hash = $p, totp_secret = $t, last_active_at = $now WHERE id = $u`, { p: passwordHash, t: e.totpSecret, now, u: e.userId });
      const deviceId = this.#devices.addIn(e.userId, device, now);
      this.#controlEventIn('device.added', e.userId, deviceId, now);
      this.audit.append(audit.map((a) => withEnrolledDevice(a, e.userId, deviceId)));
      return deviceId;
    });
  }

  // --- Devices and keys ----------------------------------------------------------------------------

  async addDevice(userId: UserId, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.sql.immediate(() => {
      const deviceId = this.#devices.addIn(userId, device, now);
      this.#controlEventIn('device.added', userId, deviceId, now);
      this.audit.append(audit.map((a) => withEnrolledDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  async device(userId: UserId, deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    return this.#devices.device(userId, deviceId);
  }

  async devices(userId: UserId): Promise<DeviceRecord[]> {
    return this.#devices.devices(userId);
  }

  async activeDevicesByUser(now: number): Promise<Map<UserId, DeviceId[]>> {
    return this.#devices.activeByUser(now);
  }

  async activeDevices(userId: UserId, now: number): Promise<ActiveDevice[]> {
    return this.#devices.activeOf(userId, now);
  }

  async replaceCredential(userId: UserId, deviceId: DeviceId, credentialHash: string, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      this.sql.run('UPDATE devices SET credential_hash = $h WHERE user_id = $u AND device_id = $d AND revoked_at IS NULL', { h: credentialHash, u: userId, d: deviceId });
      this.#controlEventIn('credential.replaced', userId, deviceId, this.#clock.now());
      this.audit.append(audit);
    });
  }

  touchDevice(userId: UserId, deviceId: DeviceId, at: number): Promise<void> {
    return this.#devices.touch(userId, deviceId, at);
  }

  async revokeDevice(userId: UserId, deviceId: DeviceId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      this.#devices.revokeIn(userId, deviceId, at);
      this.#controlEventIn('device.revoked', userId, deviceId, at);
      this.audit.append(audit);
    });
  }

  async storeKeys(userId: UserId, deviceId: DeviceId, upload: KeyUpload, audit: readonly AuditEvent[]): Promise<PreKeyCount> {
    return this.sql.immediate(() => {
      this.#devices.storeKeysIn(userId, deviceId, upload);
      this.audit.append(audit);
      return this.#devices.count(userId, deviceId);
    });
  }

  async keyCount(userId: UserId, deviceId: DeviceId): Promise<PreKeyCount> {
    return this.#devices.count(userId, deviceId);
  }

  async takeBundles(userId: UserId, deviceId: DeviceId | undefined, auditOf: (bundle: PreKeyBundle) => AuditEvent): Promise<PreKeyBundle[]> {
    return this.sql.immediate(() => {
      const bundles = this.#devices.takeBundlesIn(userId, deviceId, this.#clock.now());
      this.audit.append(bundles.map(auditOf));
      return bundles;
    });
  }

  // --- Envelopes -------------------------------------------------------------------------------------

  enqueue(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits, committed?: CommittedListener): Promise<EnqueueOutcome[]> {
    return this.#queue.enqueue(envelopes, auditOf, limits, committed);
  }

  queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    return this.#queue.queued(recipient, afterSeq, limit);
  }

  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]> {
    return this.#queue.acknowledge(recipient, ids, auditOf);
  }

  async expireEnvelopes(before: number, auditOf: (count: number) => AuditEvent): Promise<number> {
    return this.#queue.expire(before, auditOf);
  }

  // --- Throttling ------------------------------------------------------------------------------------

  async recordLoginFailure(scopes: readonly string[], at: number, audit: readonly AuditEvent[], streak?: string, lock?: AccountLock): Promise<void> {
    this.sql.immediate(() => {
      for (const scope of scopes) this.sql.run('INSERT INTO login_failures (scope, at) VALUES ($s, $at)', { s: scope, at });
      this.sql.run('DELETE FROM login_failures WHERE at < $old', { old: at - 24 * 3600_000 });
      if (streak !== undefined) {
        this.sql.run(
          `INSERT INTO login_streaks (scope, failures, first_at, last_at) VALUES ($s, 1, $at, $at)
           ON CONFLICT (scope) DO UPDATE SET failures = failures + 1, last_at = $at`,
          { s: streak, at },
        );
      }
      if (lock) this.sql.run('UPDATE users SET locked_until = $until WHERE id = $u', { u: lock.userId, until: lock.lockedUntil });
      this.audit.append(audit);
    });
  }

  async loginStreak(scope: string): Promise<number> {
    return this.sql.get<{ failures: number }>('SELECT failures FROM login_streaks WHERE scope = $s', { s: scope })?.failures ?? 0;
  }

  async claimTotpStep(userId: UserId, step: number): Promise<boolean> {
    return this.sql.run('UPDATE users SET totp_last_step = $step WHERE id = $u AND totp_last_step < $step', { u: userId, step }) === 1;
  }

  async loginFailures(scope: string, since: number): Promise<number[]> {
    return this.sql.all<{ at: number }>('SELECT at FROM login_failures WHERE scope = $s AND at >= $since ORDER BY at', { s: scope, since }).map((r) => r.at);
  }

  async clearLoginFailures(scope: string): Promise<void> {
    this.sql.immediate(() => {
      this.sql.run('DELETE FROM login_failures WHERE scope = $s', { s: scope });
      this.sql.run('DELETE FROM login_streaks WHERE scope = $s', { s: scope });
    });
  }

  // --- Emergency access ----------------------------------------------------------------------------

  async createEmergencyGrant(g: EmergencyGrant, audit: readonly AuditEvent[]): Promise<void> {
    this.sql.immediate(() => {
      this.sql.run('INSERT INTO emergency_grants (id, user_id, code_hash, reason, issued_at, expires_at) VALUES ($id, $u, $h, $r, $i, $e)', { id: g.id, u: g.userId, h: g.codeHash, r: g.reason, i: g.issuedAt, e: g.expiresAt });
      this.audit.append(audit);
    });
  }

  async emergencyGrants(userId: UserId, now: number): Promise<EmergencyGrant[]> {
    return this.sql.all<{ id: string; user_id: string; code_hash: string; reason: string; issued_at: number; expires_at: number; used_at: number | null }>(
      'SELECT * FROM emergency_grants WHERE user_id = $u AND used_at IS NULL AND expires_at > $now', { u: userId, now },
    ).map((r) => ({ id: r.id, userId: r.user_id as UserId, codeHash: r.code_hash, reason: r.reason, issuedAt: r.issued_at, expiresAt: r.expires_at, usedAt: r.used_at }));
  }

  async useEmergencyGrant(grantId: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.sql.immediate(() => {
      const grant = this.sql.get<{ user_id: string }>('SELECT user_id FROM emergency_grants WHERE id = $id AND used_at IS NULL AND expires_at > $now', { id: grantId, now });
      if (!grant) throw new RelayFailure('INVALID_CODE', 'the emergency code is no longer valid');
      this.sql.run('UPDATE emergency_grants SET used_at = $now WHERE id = $id', { id: grantId, now });
      const userId = grant.user_id as UserId;
      const deviceId = this.#devices.addIn(userId, device, now);
      this.#controlEventIn('device.added', userId, deviceId, now);
      this.audit.append(audit.map((a) => withEnrolledDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  /** Records, inside the caller's transaction, a change every running relay must act on. */
  #controlEventIn(kind: ControlEvent['kind'], userId: UserId, deviceId: DeviceId | number | null, at: number): void {
    this.sql.run('INSERT INTO control_events (kind, user_id, device_id, at) VALUES ($k, $u, $d, $at)', { k: kind, u: userId, d: deviceId, at });
  }

  async pruneControlEvents(before: number): Promise<void> {
    // AUTOINCREMENT: a seq is never handed out twice, even once every row below it is gone.
    this.sql.run('DELETE FROM control_events WHERE at < $before', { before });
  }

  async controlEvents(afterSeq: number): Promise<ControlEvent[]> {
    return this.sql.all<{ seq: number; kind: string; user_id: string; device_id: number | null }>('SELECT * FROM control_events WHERE seq > $s ORDER BY seq', { s: afterSeq })
      .map((r) => ({ seq: r.seq, kind: r.kind as ControlEvent['kind'], userId: r.user_id as UserId, deviceId: r.device_id === null ? null : DeviceIdSchema.parse(r.device_id) }));
  }

  async close(): Promise<void> {
    await this.#queue.drain();
    await this.#devices.drainTouches();
    this.sql.close();
  }
}
