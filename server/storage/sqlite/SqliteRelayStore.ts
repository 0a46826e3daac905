import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceIdSchema, MAX_DEVICE_ID, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../../shared/ids';
import type { EnvelopeType } from '../../../shared/wire/envelope';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../../shared/wire/keys';
import type { Role } from '../../../shared/wire/relay';
import { GENESIS_HASH, checkChain, recordHash, type AuditEvent, type AuditRecord, type ChainCheck } from '../../audit/AuditRecord';
import type { Clock } from '../../Clock';
import { RelayFailure } from '../../RelayFailure';
import type {
  AccountLock,
  ControlEvent,
  DeviceRecord,
  EmergencyGrant,
  NewDevice,
  EnqueueOutcome,
  NewEnvelope,
  PendingEnrollment,
  QueueLimits,
  RelayStore,
  StoredEnvelope,
  UserPatch,
  UserRecord,
  UserStatus,
} from '../RelayStore';
import type { DatabaseKey } from './DatabaseKey';
import { GroupCommit } from './GroupCommit';
import { MIGRATIONS } from './migrations';
import { SqliteDatabase } from './SqliteDatabase';

export const DATABASE_FILE = 'relay.db';

interface UserRow { id: string; username: string; display_name: string; role: string; status: string; password_hash: string | null; totp_secret: string | null; created_at: number; last_active_at: number; locked_until: number | null; deactivated_at: number | null; totp_last_step: number }
interface DeviceRow { user_id: string; device_id: number; name: string; credential_hash: string; created_at: number; last_seen_at: number; expires_at: number | null; revoked_at: number | null }
interface EnvelopeRow { seq: number; id: string; type: string; sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; content: string; accepted_at: number }
interface AuditRow { seq: number; at: number; type: string; actor: string; subject: string; details: string; flagged: number; prev_hash: string; hash: string }

interface EnvelopeBatch { readonly envelopes: readonly NewEnvelope[]; readonly auditOf: (envelope: NewEnvelope) => AuditEvent; readonly limits: QueueLimits }
interface AckBatch { readonly recipient: DeviceAddress; readonly ids: readonly EnvelopeId[]; readonly auditOf: (id: EnvelopeId) => AuditEvent }

/** The relay's embedded storage: one SQLCipher-encrypted SQLite file in the data directory, opened with its key. */
export class SqliteRelayStore implements RelayStore {
  readonly #sql: SqliteDatabase;
  readonly #clock: Clock;
  readonly #dataDir: string;
  /** Envelopes and acknowledgements are group-committed: one transaction (one fsync) per event-loop turn. */
  readonly #envelopes: GroupCommit<EnvelopeBatch, EnqueueOutcome[]>;
  readonly #acks: GroupCommit<AckBatch, EnvelopeId[]>;

  constructor(dataDir: string, clock: Clock, key: DatabaseKey) {
    this.#sql = new SqliteDatabase(join(dataDir, DATABASE_FILE), MIGRATIONS, key);
    this.#clock = clock;
    this.#dataDir = dataDir;
    this.#envelopes = new GroupCommit((batches: readonly EnvelopeBatch[]) => this.#sql.immediate(() => this.#enqueueIn(batches)));
    this.#acks = new GroupCommit((batches: readonly AckBatch[]) => this.#sql.immediate(() => {
      const audit: AuditEvent[] = [];
      const results = batches.map(({ recipient, ids, auditOf }) => {
        const removed: EnvelopeId[] = [];
        for (const id of ids) {
          const changes = this.#sql.run('DELETE FROM envelopes WHERE id = $id AND recipient_user = $u AND recipient_device = $d', { id, u: recipient.userId, d: recipient.deviceId });
          if (changes === 1) removed.push(id);
        }
        audit.push(...removed.map(auditOf));
        return removed;
      });
      this.#append(audit);
      return results;
    }));
  }

  get schemaVersion(): number {
    return this.#sql.version();
  }

  // --- Accounts --------------------------------------------------------------------------------------

  async createUser(user: Omit<UserRecord, 'passwordHash' | 'totpSecret' | 'lockedUntil' | 'deactivatedAt' | 'totpLastStep'>, codeHash: string, codeExpiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      if (this.#sql.get('SELECT 1 FROM users WHERE username = $u', { u: user.username })) throw new RelayFailure('BAD_REQUEST', `username ${user.username} is taken`);
      this.#sql.run(
        `INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ($id, $username, $name, $role, $status, $created, $active)`,
        { id: user.id, username: user.username, name: user.displayName, role: user.role, status: user.status, created: user.createdAt, active: user.lastActiveAt },
      );
      this.#sql.run('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($h, $u, $e)', { h: codeHash, u: user.id, e: codeExpiresAt });
      this.#append(audit);
    });
  }

  async replaceEnrollmentCode(userId: UserId, codeHash: string, expiresAt: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('DELETE FROM enrollment_codes WHERE user_id = $u AND used_at IS NULL', { u: userId });
      this.#sql.run('DELETE FROM pending_enrollments WHERE user_id = $u', { u: userId });
      this.#sql.run('INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES ($h, $u, $e)', { h: codeHash, u: userId, e: expiresAt });
      this.#append(audit);
    });
  }

  async userById(id: UserId): Promise<UserRecord | undefined> {
    const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE id = $id', { id });
    return row && toUser(row);
  }

  async userByUsername(username: string): Promise<UserRecord | undefined> {
    const row = this.#sql.get<UserRow>('SELECT * FROM users WHERE username = $u', { u: username });
    return row && toUser(row);
  }

  async listUsers(): Promise<UserRecord[]> {
    return this.#sql.all<UserRow>('SELECT * FROM users ORDER BY username').map(toUser);
  }

  async updateUser(id: UserId, patch: UserPatch, audit: readonly AuditEvent[]): Promise<void> {
    const columns: Record<keyof UserPatch, string> = {
      status: 'status', passwordHash: 'password_hash', totpSecret: 'totp_secret', lockedUntil: 'locked_until',
      lastActiveAt: 'last_active_at', deactivatedAt: 'deactivated_at', displayName: 'display_name', totpLastStep: 'totp_last_step',
    };
    const entries = Object.entries(patch) as [keyof UserPatch, string | number | null][];
    this.#sql.immediate(() => {
      if (entries.length > 0) {
        const set = entries.map(([k]) => `${columns[k]} = $${k}`).join(', ');
        this.#sql.run(`UPDATE users SET ${set} WHERE id = $id`, { ...Object.fromEntries(entries), id });
      }
      this.#append(audit);
    });
  }

  async deactivateUser(id: UserId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run(`UPDATE users SET status = 'deactivated', deactivated_at = $at WHERE id = $id`, { id, at });
      for (const row of this.#sql.all<{ device_id: number }>('SELECT device_id FROM devices WHERE user_id = $u AND revoked_at IS NULL', { u: id })) {
        this.#revokeIn(id, row.device_id, at);
      }
      this.#sql.run('DELETE FROM enrollment_codes WHERE user_id = $u AND used_at IS NULL', { u: id });
      this.#sql.run('DELETE FROM pending_enrollments WHERE user_id = $u', { u: id });
      this.#sql.run('UPDATE emergency_grants SET used_at = $at WHERE user_id = $u AND used_at IS NULL', { u: id, at });
      this.#sql.run(`INSERT INTO control_events (kind, user_id, device_id, at) VALUES ('account.deactivated', $u, NULL, $at)`, { u: id, at });
      this.#append(audit);
    });
  }

  // --- Enrollment ------------------------------------------------------------------------------------

  async enrollmentCodeOwner(codeHash: string, now: number): Promise<UserId | undefined> {
    const row = this.#sql.get<{ user_id: string }>('SELECT user_id FROM enrollment_codes WHERE code_hash = $h AND used_at IS NULL AND expires_at > $now', { h: codeHash, now });
    return row?.user_id as UserId | undefined;
  }

  async createPendingEnrollment(e: PendingEnrollment): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('DELETE FROM pending_enrollments WHERE user_id = $u OR expires_at < $now', { u: e.userId, now: this.#clock.now() });
      this.#sql.run('INSERT INTO pending_enrollments (id, user_id, code_hash, totp_secret, expires_at) VALUES ($id, $u, $h, $s, $e)', { id: e.id, u: e.userId, h: e.codeHash, s: e.totpSecret, e: e.expiresAt });
    });
  }

  async pendingEnrollment(id: string): Promise<PendingEnrollment | undefined> {
    const row = this.#sql.get<{ id: string; user_id: string; code_hash: string; totp_secret: string; expires_at: number }>('SELECT * FROM pending_enrollments WHERE id = $id', { id });
    return row && { id: row.id, userId: row.user_id as UserId, codeHash: row.code_hash, totpSecret: row.totp_secret, expiresAt: row.expires_at };
  }

  async completeEnrollment(e: PendingEnrollment, passwordHash: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.#sql.immediate(() => {
      const used = this.#sql.run('UPDATE enrollment_codes SET used_at = $now WHERE code_hash = $h AND user_id = $u AND used_at IS NULL AND expires_at > $now', { h: e.codeHash, u: e.userId, now });
      if (used !== 1) throw new RelayFailure('INVALID_CODE', 'the enrollment code is no longer valid');
      this.#sql.run('DELETE FROM pending_enrollments WHERE id = $id', { id: e.id });
      this.#sql.run(`UPDATE users SET status = 'active', password_hash = $p, totp_secret = $t, last_active_at = $now WHERE id = $u`, { p: passwordHash, t: e.totpSecret, now, u: e.userId });
      const deviceId = this.#addDeviceIn(e.userId, device, now);
      this.#append(audit.map((a) => withDevice(a, e.userId, deviceId)));
      return deviceId;
    });
  }

  // --- Devices and keys ----------------------------------------------------------------------------

  async addDevice(userId: UserId, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.#sql.immediate(() => {
      const deviceId = this.#addDeviceIn(userId, device, now);
      this.#append(audit.map((a) => withDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  async device(userId: UserId, deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    const row = this.#sql.get<DeviceRow>('SELECT * FROM devices WHERE user_id = $u AND device_id = $d', { u: userId, d: deviceId });
    return row && toDevice(row);
  }

  async devices(userId: UserId): Promise<DeviceRecord[]> {
    return this.#sql.all<DeviceRow>('SELECT * FROM devices WHERE user_id = $u ORDER BY device_id', { u: userId }).map(toDevice);
  }

  async activeDevicesByUser(now: number): Promise<Map<UserId, DeviceId[]>> {
    const out = new Map<UserId, DeviceId[]>();
    const rows = this.#sql.all<{ user_id: string; device_id: number }>(
      `SELECT d.user_id, d.device_id FROM devices d JOIN users u ON u.id = d.user_id
       WHERE u.status = 'active' AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $now) ORDER BY d.user_id, d.device_id`,
      { now },
    );
    for (const row of rows) out.set(row.user_id as UserId, [...(out.get(row.user_id as UserId) ?? []), DeviceIdSchema.parse(row.device_id)]);
    return out;
  }

  async replaceCredential(userId: UserId, deviceId: DeviceId, credentialHash: string, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('UPDATE devices SET credential_hash = $h WHERE user_id = $u AND device_id = $d AND revoked_at IS NULL', { h: credentialHash, u: userId, d: deviceId });
      this.#append(audit);
    });
  }

  async touchDevice(userId: UserId, deviceId: DeviceId, at: number): Promise<void> {
    this.#sql.run('UPDATE devices SET last_seen_at = $at WHERE user_id = $u AND device_id = $d', { at, u: userId, d: deviceId });
    this.#sql.run('UPDATE users SET last_active_at = $at WHERE id = $u AND last_active_at < $at', { at, u: userId });
  }

  async revokeDevice(userId: UserId, deviceId: DeviceId, at: number, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#revokeIn(userId, deviceId, at);
      this.#sql.run(`INSERT INTO control_events (kind, user_id, device_id, at) VALUES ('device.revoked', $u, $d, $at)`, { u: userId, d: deviceId, at });
      this.#append(audit);
    });
  }

  async storeKeys(userId: UserId, deviceId: DeviceId, upload: KeyUpload, audit: readonly AuditEvent[]): Promise<PreKeyCount> {
    return this.#sql.immediate(() => {
      this.#storeKeysIn(userId, deviceId, upload);
      this.#append(audit);
      return this.#countIn(userId, deviceId);
    });
  }

  async keyCount(userId: UserId, deviceId: DeviceId): Promise<PreKeyCount> {
    return this.#countIn(userId, deviceId);
  }

  async takeBundles(userId: UserId, deviceId: DeviceId | undefined, auditOf: (bundle: PreKeyBundle) => AuditEvent): Promise<PreKeyBundle[]> {
    return this.#sql.immediate(() => {
      const rows = this.#sql.all<{ device_id: number; registration_id: number; identity_key: string; signed_prekey: string; last_resort_kyber: string }>(
        `SELECT device_id, registration_id, identity_key, signed_prekey, last_resort_kyber FROM devices
         WHERE user_id = $u AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $now) AND ($d IS NULL OR device_id = $d)
           AND EXISTS (SELECT 1 FROM users WHERE id = $u AND status = 'active') ORDER BY device_id`,
        { u: userId, d: deviceId ?? null, now: this.#clock.now() },
      );
      const bundles = rows.map((row): PreKeyBundle => {
        const key = { u: userId, d: row.device_id };
        const ec = this.#sql.get<{ key_id: number; public_key: string }>('SELECT key_id, public_key FROM one_time_prekeys WHERE user_id = $u AND device_id = $d ORDER BY key_id LIMIT 1', key);
        if (ec) this.#sql.run('DELETE FROM one_time_prekeys WHERE user_id = $u AND device_id = $d AND key_id = $k', { ...key, k: ec.key_id });
        const kyber = this.#sql.get<{ key_id: number; public_key: string; signature: string }>('SELECT key_id, public_key, signature FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d ORDER BY key_id LIMIT 1', key);
        if (kyber) this.#sql.run('DELETE FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d AND key_id = $k', { ...key, k: kyber.key_id });
        return {
          userId,
          deviceId: DeviceIdSchema.parse(row.device_id),
          registrationId: row.registration_id,
          identityKey: row.identity_key,
          signedPreKey: JSON.parse(row.signed_prekey) as PreKeyBundle['signedPreKey'],
          kyberPreKey: kyber ? { keyId: kyber.key_id, publicKey: kyber.public_key, signature: kyber.signature } : (JSON.parse(row.last_resort_kyber) as PreKeyBundle['kyberPreKey']),
          ...(ec ? { preKey: { keyId: ec.key_id, publicKey: ec.public_key } } : {}),
        };
      });
      this.#append(bundles.map(auditOf));
      return bundles;
    });
  }

  // --- Envelopes -------------------------------------------------------------------------------------

  enqueue(envelopes: readonly NewEnvelope[], auditOf: (envelope: NewEnvelope) => AuditEvent, limits: QueueLimits): Promise<EnqueueOutcome[]> {
    return this.#envelopes.add({ envelopes, auditOf, limits });
  }

  async queued(recipient: DeviceAddress, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    return this.#sql.all<EnvelopeRow>(
      'SELECT * FROM envelopes WHERE recipient_user = $u AND recipient_device = $d AND seq > $after ORDER BY seq LIMIT $limit',
      { u: recipient.userId, d: recipient.deviceId, after: afterSeq, limit },
    ).map(toEnvelope);
  }

  acknowledge(recipient: DeviceAddress, ids: readonly EnvelopeId[], auditOf: (id: EnvelopeId) => AuditEvent): Promise<EnvelopeId[]> {
    return this.#acks.add({ recipient, ids, auditOf });
  }

  async expireEnvelopes(before: number, auditOf: (count: number) => AuditEvent): Promise<number> {
    return this.#sql.immediate(() => {
      const count = this.#sql.run('DELETE FROM envelopes WHERE accepted_at < $before', { before });
      if (count > 0) this.#append([auditOf(count)]);
      return count;
    });
  }

  // --- Throttling ------------------------------------------------------------------------------------

  async recordLoginFailure(scopes: readonly string[], at: number, audit: readonly AuditEvent[], streak?: string, lock?: AccountLock): Promise<void> {
    this.#sql.immediate(() => {
      for (const scope of scopes) this.#sql.run('INSERT INTO login_failures (scope, at) VALUES ($s, $at)', { s: scope, at });
      this.#sql.run('DELETE FROM login_failures WHERE at < $old', { old: at - 24 * 3600_000 });
      if (streak !== undefined) {
        this.#sql.run(
          `INSERT INTO login_streaks (scope, failures, first_at, last_at) VALUES ($s, 1, $at, $at)
           ON CONFLICT (scope) DO UPDATE SET failures = failures + 1, last_at = $at`,
          { s: streak, at },
        );
      }
      if (lock) this.#sql.run('UPDATE users SET locked_until = $until WHERE id = $u', { u: lock.userId, until: lock.lockedUntil });
      this.#append(audit);
    });
  }

  async loginStreak(scope: string): Promise<number> {
    return this.#sql.get<{ failures: number }>('SELECT failures FROM login_streaks WHERE scope = $s', { s: scope })?.failures ?? 0;
  }

  async claimTotpStep(userId: UserId, step: number): Promise<boolean> {
    return this.#sql.run('UPDATE users SET totp_last_step = $step WHERE id = $u AND totp_last_step < $step', { u: userId, step }) === 1;
  }

  async loginFailures(scope: string, since: number): Promise<number[]> {
    return this.#sql.all<{ at: number }>('SELECT at FROM login_failures WHERE scope = $s AND at >= $since ORDER BY at', { s: scope, since }).map((r) => r.at);
  }

  async clearLoginFailures(scope: string): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('DELETE FROM login_failures WHERE scope = $s', { s: scope });
      this.#sql.run('DELETE FROM login_streaks WHERE scope = $s', { s: scope });
    });
  }

  // --- Emergency access ----------------------------------------------------------------------------

  async createEmergencyGrant(g: EmergencyGrant, audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => {
      this.#sql.run('INSERT INTO emergency_grants (id, user_id, code_hash, reason, issued_at, expires_at) VALUES ($id, $u, $h, $r, $i, $e)', { id: g.id, u: g.userId, h: g.codeHash, r: g.reason, i: g.issuedAt, e: g.expiresAt });
      this.#append(audit);
    });
  }

  async emergencyGrants(userId: UserId, now: number): Promise<EmergencyGrant[]> {
    return this.#sql.all<{ id: string; user_id: string; code_hash: string; reason: string; issued_at: number; expires_at: number; used_at: number | null }>(
      'SELECT * FROM emergency_grants WHERE user_id = $u AND used_at IS NULL AND expires_at > $now', { u: userId, now },
    ).map((r) => ({ id: r.id, userId: r.user_id as UserId, codeHash: r.code_hash, reason: r.reason, issuedAt: r.issued_at, expiresAt: r.expires_at, usedAt: r.used_at }));
  }

  async useEmergencyGrant(grantId: string, device: NewDevice, now: number, audit: readonly AuditEvent[]): Promise<DeviceId> {
    return this.#sql.immediate(() => {
      const grant = this.#sql.get<{ user_id: string }>('SELECT user_id FROM emergency_grants WHERE id = $id AND used_at IS NULL AND expires_at > $now', { id: grantId, now });
      if (!grant) throw new RelayFailure('INVALID_CODE', 'the emergency code is no longer valid');
      this.#sql.run('UPDATE emergency_grants SET used_at = $now WHERE id = $id', { id: grantId, now });
      const userId = grant.user_id as UserId;
      const deviceId = this.#addDeviceIn(userId, device, now);
      this.#append(audit.map((a) => withDevice(a, userId, deviceId)));
      return deviceId;
    });
  }

  async controlEvents(afterSeq: number): Promise<ControlEvent[]> {
    return this.#sql.all<{ seq: number; kind: string; user_id: string; device_id: number | null }>('SELECT * FROM control_events WHERE seq > $s ORDER BY seq', { s: afterSeq })
      .map((r) => ({ seq: r.seq, kind: r.kind as ControlEvent['kind'], userId: r.user_id as UserId, deviceId: r.device_id === null ? null : DeviceIdSchema.parse(r.device_id) }));
  }

  // --- Audit -----------------------------------------------------------------------------------------

  async appendAudit(audit: readonly AuditEvent[]): Promise<void> {
    this.#sql.immediate(() => this.#append(audit));
  }

  async freeBytes(): Promise<number | undefined> {
    // One system call (no thread pool): cheap enough to ask for every send.
    const stats = statfsSync(this.#dataDir, { bigint: true });
    return Number(stats.bavail * stats.bsize);
  }

  async backup(path: string): Promise<void> {
    // VACUUM INTO reads one snapshot (WAL included) and writes a compact copy; writers are not blocked.
    this.#sql.run(`VACUUM INTO '${path.replace(/'/g, "''")}'`);
  }

  async auditRecords(from: number, to: number): Promise<AuditRecord[]> {
    return this.#sql.all<AuditRow>('SELECT * FROM audit_log WHERE at >= $from AND at < $to ORDER BY seq', { from, to }).map(toAudit);
  }

  async checkAuditChain(): Promise<ChainCheck> {
    return checkChain(this.#sql.all<AuditRow>('SELECT * FROM audit_log ORDER BY seq').map(toAudit), GENESIS_HASH, 1);
  }

  async close(): Promise<void> {
    await this.#envelopes.drain();
    await this.#acks.drain();
    this.#sql.close();
  }

  // --- Inside transactions ---------------------------------------------------------------------------

  /**
   * One group commit of sends, in order, each envelope with its outcome. The queue limits are checked here,
   * inside the write transaction that serialises every writer (and `queue_usage` and `queue_shares` already
   * count what the batches before this one queued), so concurrent senders cannot together push a queue past
   * its limit, nor one account's devices push its share of a queue past the share.
   */
  #enqueueIn(batches: readonly EnvelopeBatch[]): EnqueueOutcome[][] {
    const audit: AuditEvent[] = [];
    const results = batches.map(({ envelopes, auditOf, limits }) => {
      const outcomes: EnqueueOutcome[] = envelopes.map(() => 'queued');
      const byDevice = new Map<string, { recipient: DeviceAddress; indices: number[]; bytes: number }>();
      envelopes.forEach((envelope, i) => {
        const key = `${envelope.recipient.userId}.${envelope.recipient.deviceId}`;
        const entry = byDevice.get(key) ?? { recipient: envelope.recipient, indices: [], bytes: 0 };
        entry.indices.push(i);
        entry.bytes += ciphertextBytes(envelope.content);
        byDevice.set(key, entry);
      });
      for (const { recipient, indices, bytes } of byDevice.values()) {
        const key = { u: recipient.userId, d: recipient.deviceId };
        const usage = this.#sql.get<{ envelopes: number; bytes: number }>('SELECT envelopes, bytes FROM queue_usage WHERE user_id = $u AND device_id = $d', key);
        const fits = (usage?.envelopes ?? 0) + indices.length <= limits.maxEnvelopes && (usage?.bytes ?? 0) + bytes <= limits.maxBytes;
        // A batch is one request of one device: its envelopes for this recipient device are one account's.
        // The recipient's own account (copies of what they send elsewhere) is held to the whole queue only.
        const sender = (envelopes[indices[0] ?? 0] as NewEnvelope).sender.userId;
        const share = sender === recipient.userId ? undefined : this.#sql.get<{ envelopes: number; bytes: number }>(
          'SELECT envelopes, bytes FROM queue_shares WHERE user_id = $u AND device_id = $d AND sender_user = $s', { ...key, s: sender },
        ) ?? { envelopes: 0, bytes: 0 };
        const fitsShare = !share || (share.envelopes + indices.length <= limits.maxEnvelopesPerSender && share.bytes + bytes <= limits.maxBytesPerSender);
        // A full queue still takes back an envelope it already holds: that resend is accepted, not refused.
        const refusal = !fits ? 'queueFull' : !fitsShare ? 'senderShareFull' : undefined;
        if (refusal) for (const i of indices) outcomes[i] = this.#existing(envelopes[i] as NewEnvelope) ?? refusal;
      }
      envelopes.forEach((envelope, i) => {
        if (outcomes[i] !== 'queued') return;
        // Queued only for a device that is still active at commit time (a revocation may have landed
        // since the request was checked; its queue must stay empty, and the sender hears of it).
        const inserted = this.#sql.run(
          `INSERT OR IGNORE INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
           SELECT $id, $ru, $rd, $su, $sd, $type, $content, $at
           WHERE EXISTS (SELECT 1 FROM devices d JOIN users u ON u.id = d.user_id
                         WHERE d.user_id = $ru AND d.device_id = $rd AND d.revoked_at IS NULL AND u.status = 'active')`,
          { id: envelope.id, ru: envelope.recipient.userId, rd: envelope.recipient.deviceId, su: envelope.sender.userId, sd: envelope.sender.deviceId, type: envelope.type, content: envelope.content, at: envelope.acceptedAt },
        );
        if (inserted === 1) audit.push(auditOf(envelope));
        else outcomes[i] = this.#existing(envelope) ?? 'deviceGone';
      });
      return outcomes;
    });
    this.#append(audit);
    return results;
  }

  /** Whether an envelope with this id is queued already: this very envelope, or another one. */
  #existing(envelope: NewEnvelope): 'alreadyQueued' | 'idTaken' | undefined {
    const row = this.#sql.get<{ sender_user: string; sender_device: number; recipient_user: string; recipient_device: number; type: string; same: number }>(
      'SELECT sender_user, sender_device, recipient_user, recipient_device, type, content = $content AS same FROM envelopes WHERE id = $id',
      { id: envelope.id, content: envelope.content },
    );
    if (!row) return undefined;
    const identical = row.same === 1 && row.type === envelope.type
      && row.sender_user === envelope.sender.userId && row.sender_device === envelope.sender.deviceId
      && row.recipient_user === envelope.recipient.userId && row.recipient_device === envelope.recipient.deviceId;
    return identical ? 'alreadyQueued' : 'idTaken';
  }

  /** Appends audit records; must run inside an IMMEDIATE transaction (which serialises writers). */
  #append(events: readonly AuditEvent[]): void {
    if (events.length === 0) return;
    const last = this.#sql.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const at = this.#clock.now();
    for (const event of events) {
      seq++;
      const record = { seq, at, type: event.type, actor: event.actor, subject: event.subject, details: event.details, flagged: event.flagged ?? false, prevHash };
      const hash = recordHash(record);
      this.#sql.run(
        'INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($seq, $at, $type, $actor, $subject, $details, $flagged, $prev, $hash)',
        { seq, at, type: event.type, actor: event.actor, subject: event.subject, details: JSON.stringify(event.details), flagged: record.flagged ? 1 : 0, prev: prevHash, hash },
      );
      prevHash = hash;
    }
  }

  #addDeviceIn(userId: UserId, device: NewDevice, now: number): DeviceId {
    // Checked inside the transaction: a deactivation that landed during sign-in wins.
    if (!this.#sql.get(`SELECT 1 FROM users WHERE id = $u AND status IN ('active', 'pending')`, { u: userId })) throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is not active');
    const taken = new Set(this.#sql.all<{ device_id: number }>('SELECT device_id FROM devices WHERE user_id = $u AND revoked_at IS NULL', { u: userId }).map((r) => r.device_id));
    const used = new Set(this.#sql.all<{ device_id: number }>('SELECT device_id FROM devices WHERE user_id = $u', { u: userId }).map((r) => r.device_id));
    // A fresh id while there is one; then the lowest id of a revoked device.
    let id = 1;
    while (id <= MAX_DEVICE_ID && used.has(id)) id++;
    if (id > MAX_DEVICE_ID) {
      id = 1;
      while (id <= MAX_DEVICE_ID && taken.has(id)) id++;
      if (id > MAX_DEVICE_ID) throw new RelayFailure('TOO_MANY_DEVICES', `an account can have at most ${MAX_DEVICE_ID} devices`);
    }
    const { keys } = device;
    if (!keys.signedPreKey || !keys.lastResortKyberPreKey) throw new RelayFailure('BAD_REQUEST', 'a new device must upload a signed prekey and a last-resort Kyber prekey');
    this.#sql.run('DELETE FROM devices WHERE user_id = $u AND device_id = $d', { u: userId, d: id });
    this.#sql.run(
      `INSERT INTO devices (user_id, device_id, name, credential_hash, created_at, last_seen_at, expires_at, registration_id, identity_key, signed_prekey, last_resort_kyber)
       VALUES ($u, $d, $name, $cred, $now, $now, $exp, $reg, $ik, $spk, $lr)`,
      { u: userId, d: id, name: device.name, cred: device.credentialHashFor(DeviceIdSchema.parse(id)), now, exp: device.expiresAt, reg: keys.registrationId, ik: keys.identityKey, spk: JSON.stringify(keys.signedPreKey), lr: JSON.stringify(keys.lastResortKyberPreKey) },
    );
    this.#storeKeysIn(userId, DeviceIdSchema.parse(id), keys);
    return DeviceIdSchema.parse(id);
  }

  #storeKeysIn(userId: UserId, deviceId: DeviceId, upload: KeyUpload): void {
    const key = { u: userId, d: deviceId };
    const device = this.#sql.get<{ identity_key: string }>('SELECT identity_key FROM devices WHERE user_id = $u AND device_id = $d AND revoked_at IS NULL', key);
    if (!device) throw new RelayFailure('UNKNOWN_DEVICE', 'no such active device');
    if (device.identity_key !== upload.identityKey) throw new RelayFailure('BAD_REQUEST', 'keys are signed by another identity than this device registered');
    this.#sql.run('UPDATE devices SET registration_id = $r WHERE user_id = $u AND device_id = $d', { ...key, r: upload.registrationId });
    if (upload.signedPreKey) this.#sql.run('UPDATE devices SET signed_prekey = $v WHERE user_id = $u AND device_id = $d', { ...key, v: JSON.stringify(upload.signedPreKey) });
    if (upload.lastResortKyberPreKey) this.#sql.run('UPDATE devices SET last_resort_kyber = $v WHERE user_id = $u AND device_id = $d', { ...key, v: JSON.stringify(upload.lastResortKyberPreKey) });
    for (const k of upload.preKeys) this.#sql.run('INSERT OR REPLACE INTO one_time_prekeys (user_id, device_id, key_id, public_key) VALUES ($u, $d, $k, $p)', { ...key, k: k.keyId, p: k.publicKey });
    for (const k of upload.kyberPreKeys) this.#sql.run('INSERT OR REPLACE INTO one_time_kyber_prekeys (user_id, device_id, key_id, public_key, signature) VALUES ($u, $d, $k, $p, $s)', { ...key, k: k.keyId, p: k.publicKey, s: k.signature });
  }

  #countIn(userId: UserId, deviceId: DeviceId): PreKeyCount {
    const key = { u: userId, d: deviceId };
    const ec = this.#sql.get<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE user_id = $u AND device_id = $d', key)?.n ?? 0;
    const kyber = this.#sql.get<{ n: number }>('SELECT count(*) AS n FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d', key)?.n ?? 0;
    return { preKeys: ec, kyberPreKeys: kyber };
  }

  #revokeIn(userId: UserId, deviceId: number, at: number): void {
    const key = { u: userId, d: deviceId };
    this.#sql.run('UPDATE devices SET revoked_at = $at WHERE user_id = $u AND device_id = $d AND revoked_at IS NULL', { ...key, at });
    this.#sql.run('DELETE FROM envelopes WHERE recipient_user = $u AND recipient_device = $d', key);
    this.#sql.run('DELETE FROM one_time_prekeys WHERE user_id = $u AND device_id = $d', key);
    this.#sql.run('DELETE FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d', key);
  }
}

/** Device-enrollment audit events name the device id, which is only known inside the transaction. */
function withDevice(event: AuditEvent, userId: UserId, deviceId: DeviceId): AuditEvent {
  return event.type === 'device.enrolled' || event.type === 'emergency.used' || event.type === 'account.enrolled'
    ? { ...event, subject: `${userId}.${deviceId}` }
    : event;
}

/** Bytes of ciphertext in base64 content, counted as `queue_usage` counts them (characters * 3/4, rounded down). */
function ciphertextBytes(content: string): number {
  return Math.floor((content.length * 3) / 4);
}

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id as UserId, username: r.username, displayName: r.display_name, role: r.role as Role, status: r.status as UserStatus,
    passwordHash: r.password_hash, totpSecret: r.totp_secret, createdAt: r.created_at, lastActiveAt: r.last_active_at,
    lockedUntil: r.locked_until, deactivatedAt: r.deactivated_at, totpLastStep: r.totp_last_step,
  };
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    userId: r.user_id as UserId, deviceId: DeviceIdSchema.parse(r.device_id), name: r.name, credentialHash: r.credential_hash,
    createdAt: r.created_at, lastSeenAt: r.last_seen_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
  };
}

function toEnvelope(r: EnvelopeRow): StoredEnvelope {
  return {
    seq: r.seq, id: r.id as EnvelopeId, type: r.type as EnvelopeType, content: r.content, acceptedAt: r.accepted_at,
    sender: { userId: r.sender_user as UserId, deviceId: r.sender_device as DeviceId },
    recipient: { userId: r.recipient_user as UserId, deviceId: r.recipient_device as DeviceId },
  };
}

function toAudit(r: AuditRow): AuditRecord {
  return {
    seq: r.seq, at: r.at, type: r.type as AuditRecord['type'], actor: r.actor, subject: r.subject,
    details: JSON.parse(r.details) as AuditRecord['details'], flagged: r.flagged === 1, prevHash: r.prev_hash, hash: r.hash,
  };
}
