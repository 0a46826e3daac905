import { DeviceIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../../shared/wire/keys';
import { storableText } from '../../audit/chainedRecords';
import { RelayFailure } from '../../RelayFailure';
import type { ActiveDevice, DeviceRecord, NewDevice } from '../RelayStore';
import { GroupCommit } from '../GroupCommit';
import { assertFirstKeys, newDeviceId, preKeyBundle } from '../deviceKeys';
import type { SqliteDatabase } from './SqliteDatabase';

/** A device seen connecting, and when. */
interface DeviceTouch { readonly userId: UserId; readonly deviceId: DeviceId; readonly at: number }
/** How long a touch waits for others to share its commit. */
const TOUCH_WAIT_MS = 100;

interface DeviceRow { user_id: string; device_id: number; name: string; credential_hash: string; created_at: number; last_seen_at: number; expires_at: number | null; revoked_at: number | null }

/**
 * The device and prekey SQL of `SqliteRelayStore`. The methods named `…In` write, and run inside the caller's
 * IMMEDIATE transaction, which also appends the audit records of the change; the others only read.
 */
export class SqliteDevices {
  readonly #sql: SqliteDatabase;
  readonly #touches = new GroupCommit<DeviceTouch, undefined>((touches) => this.#sql.immediate(() => this.#touchIn(touches)), { soonMs: TOUCH_WAIT_MS });

  constructor(sql: SqliteDatabase) {
    this.#sql = sql;
  }

  /**
   * A device seen connecting: written with the other touches of the next TOUCH_WAIT_MS in one transaction
   * (each was two commits of its own, two fsyncs a connect: 45 % of a reconnect storm's time). Nobody
   * waits on a touch to be answered.
   */
  async touch(userId: UserId, deviceId: DeviceId, at: number): Promise<void> {
    await this.#touches.add({ userId, deviceId, at }, 'soon');
  }

  /** Writes the touches still waiting (on close). */
  drainTouches(): Promise<void> {
    return this.#touches.drain();
  }

  #touchIn(touches: readonly DeviceTouch[]): undefined[] {
    return touches.map(({ userId, deviceId, at }) => {
      this.#sql.run('UPDATE devices SET last_seen_at = max(last_seen_at, $at) WHERE user_id = $u AND device_id = $d', { at, u: userId, d: deviceId });
      this.#sql.run('UPDATE users SET last_active_at = $at WHERE id = $u AND last_active_at < $at', { at, u: userId });
      return undefined;
    });
  }

  device(userId: UserId, deviceId: DeviceId): DeviceRecord | undefined {
    const row = this.#sql.get<DeviceRow>('SELECT * FROM devices WHERE user_id = $u AND device_id = $d', { u: userId, d: deviceId });
    return row && toDevice(row);
  }

  devices(userId: UserId): DeviceRecord[] {
    return this.#sql.all<DeviceRow>('SELECT * FROM devices WHERE user_id = $u ORDER BY device_id', { u: userId }).map(toDevice);
  }

  activeOf(userId: UserId, now: number): ActiveDevice[] {
    return this.#sql.all<{ device_id: number; expires_at: number | null }>(
      `SELECT d.device_id, d.expires_at FROM users u JOIN devices d ON d.user_id = u.id
       WHERE u.id = $u AND u.status = 'active' AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $now) ORDER BY d.device_id`,
      { u: userId, now },
    ).map((row) => ({ deviceId: DeviceIdSchema.parse(row.device_id), expiresAt: row.expires_at }));
  }

  activeByUser(now: number): Map<UserId, DeviceId[]> {
    const out = new Map<UserId, DeviceId[]>();
    const rows = this.#sql.all<{ user_id: string; device_id: number }>(
      `SELECT d.user_id, d.device_id FROM devices d JOIN users u ON u.id = d.user_id
       WHERE u.status = 'active' AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $now) ORDER BY d.user_id, d.device_id`,
      { now },
    );
    for (const row of rows) out.set(row.user_id as UserId, [...(out.get(row.user_id as UserId) ?? []), DeviceIdSchema.parse(row.device_id)]);
    return out;
  }

  /** The one-time prekeys a device has left; inside a transaction it counts what that transaction wrote. */
  count(userId: UserId, deviceId: DeviceId): PreKeyCount {
    const key = { u: userId, d: deviceId };
    const ec = this.#sql.get<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE user_id = $u AND device_id = $d', key)?.n ?? 0;
    const kyber = this.#sql.get<{ n: number }>('SELECT count(*) AS n FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d', key)?.n ?? 0;
    return { preKeys: ec, kyberPreKeys: kyber };
  }

  // --- Inside transactions ---------------------------------------------------------------------------

  addIn(userId: UserId, device: NewDevice, now: number): DeviceId {
    // Checked inside the transaction: a deactivation that landed during sign-in wins.
    if (!this.#sql.get(`SELECT 1 FROM users WHERE id = $u AND status IN ('active', 'pending')`, { u: userId })) throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is not active');
    const existing = this.#sql.all<{ device_id: number; revoked: number }>('SELECT device_id, revoked_at IS NOT NULL AS revoked FROM devices WHERE user_id = $u', { u: userId });
    const id = newDeviceId(existing.map((r) => ({ deviceId: r.device_id, revoked: r.revoked === 1 })));
    const { keys } = device;
    assertFirstKeys(keys);
    this.#sql.run('DELETE FROM devices WHERE user_id = $u AND device_id = $d', { u: userId, d: id });
    this.#sql.run(
      `INSERT INTO devices (user_id, device_id, name, credential_hash, created_at, last_seen_at, expires_at, registration_id, identity_key, signed_prekey, last_resort_kyber)
       VALUES ($u, $d, $name, $cred, $now, $now, $exp, $reg, $ik, $spk, $lr)`,
      { u: userId, d: id, name: storableText(device.name), cred: device.credentialHashFor(id), now, exp: device.expiresAt, reg: keys.registrationId, ik: keys.identityKey, spk: JSON.stringify(keys.signedPreKey), lr: JSON.stringify(keys.lastResortKyberPreKey) },
    );
    this.storeKeysIn(userId, id, keys);
    return id;
  }

  storeKeysIn(userId: UserId, deviceId: DeviceId, upload: KeyUpload): void {
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

  revokeIn(userId: UserId, deviceId: number, at: number): void {
    const key = { u: userId, d: deviceId };
    this.#sql.run('UPDATE devices SET revoked_at = $at WHERE user_id = $u AND device_id = $d AND revoked_at IS NULL', { ...key, at });
    this.#sql.run('DELETE FROM envelopes WHERE recipient_user = $u AND recipient_device = $d', key);
    this.#sql.run('DELETE FROM one_time_prekeys WHERE user_id = $u AND device_id = $d', key);
    this.#sql.run('DELETE FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d', key);
  }

  /** A bundle for each active device of an active account (or the one device asked for), each taking one-time prekeys. */
  takeBundlesIn(userId: UserId, deviceId: DeviceId | undefined, now: number): PreKeyBundle[] {
    const rows = this.#sql.all<{ device_id: number; registration_id: number; identity_key: string; signed_prekey: string; last_resort_kyber: string }>(
      `SELECT device_id, registration_id, identity_key, signed_prekey, last_resort_kyber FROM devices
       WHERE user_id = $u AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $now) AND ($d IS NULL OR device_id = $d)
         AND EXISTS (SELECT 1 FROM users WHERE id = $u AND status = 'active') ORDER BY device_id`,
      { u: userId, d: deviceId ?? null, now },
    );
    return rows.map((row): PreKeyBundle => {
      const key = { u: userId, d: row.device_id };
      const ec = this.#sql.get<{ key_id: number; public_key: string }>('SELECT key_id, public_key FROM one_time_prekeys WHERE user_id = $u AND device_id = $d ORDER BY key_id LIMIT 1', key);
      if (ec) this.#sql.run('DELETE FROM one_time_prekeys WHERE user_id = $u AND device_id = $d AND key_id = $k', { ...key, k: ec.key_id });
      const kyber = this.#sql.get<{ key_id: number; public_key: string; signature: string }>('SELECT key_id, public_key, signature FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d ORDER BY key_id LIMIT 1', key);
      if (kyber) this.#sql.run('DELETE FROM one_time_kyber_prekeys WHERE user_id = $u AND device_id = $d AND key_id = $k', { ...key, k: kyber.key_id });
      return preKeyBundle(userId, row, ec, kyber);
    });
  }
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    userId: r.user_id as UserId, deviceId: DeviceIdSchema.parse(r.device_id), name: r.name, credentialHash: r.credential_hash,
    createdAt: r.created_at, lastSeenAt: r.last_seen_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
  };
}
