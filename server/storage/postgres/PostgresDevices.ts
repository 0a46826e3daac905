/**
 * The device and prekey SQL of `PostgresRelayStore`. The methods named `…In` write inside the caller's
 * transaction (which also appends the audit records of the change); the others read outside any transaction.
 * Whatever changes an account's devices first locks the account's row, so two instances adding devices
 * for one account at once take turns (and cannot choose the same device id), and a deactivation landing
 * meanwhile is seen.
 */
import type pg from 'pg';
import { DeviceIdSchema, type DeviceId, type UserId } from '../../../shared/ids';
import type { KeyUpload, PreKeyBundle, PreKeyCount } from '../../../shared/wire/keys';
import { storableText } from '../../audit/chainedRecords';
import { RelayFailure } from '../../RelayFailure';
import { GroupCommit } from '../GroupCommit';
import { assertFirstKeys, newDeviceId, preKeyBundle } from '../deviceKeys';
import type { ActiveDevice, DeviceRecord, NewDevice } from '../RelayStore';
import type { PostgresDatabase, Queryable } from './PostgresDatabase';

interface DeviceTouch { readonly userId: UserId; readonly deviceId: DeviceId; readonly at: number }
/** How long a touch waits for others to share its commit. */
const TOUCH_WAIT_MS = 100;

interface DeviceRow { user_id: string; device_id: number; name: string; credential_hash: string; created_at: string; last_seen_at: string; expires_at: string | null; revoked_at: string | null }

export class PostgresDevices {
  readonly #db: PostgresDatabase;
  readonly #touches: GroupCommit<DeviceTouch, undefined>;

  constructor(db: PostgresDatabase) {
    this.#db = db;
    this.#touches = new GroupCommit((touches) => this.#touchAll(touches), { soonMs: TOUCH_WAIT_MS });
  }

  /** A device seen connecting: written with the other touches of the next TOUCH_WAIT_MS in one statement. */
  async touch(userId: UserId, deviceId: DeviceId, at: number): Promise<void> {
    await this.#touches.add({ userId, deviceId, at }, 'soon');
  }

  drainTouches(): Promise<void> {
    return this.#touches.drain();
  }

  async #touchAll(touches: readonly DeviceTouch[]): Promise<undefined[]> {
    const users = touches.map((t) => t.userId);
    const devices = touches.map((t) => t.deviceId);
    const ats = touches.map((t) => t.at);
    // One statement for the batch. Device rows another transaction holds (a send's batch) are skipped, never
    // waited for, so touches cannot deadlock with sends; the device's next connect touches it. Account rows are
    // waited for, in one order (a touch through another instance at once must not be lost: the last activity
    // decides when an unused account is deactivated), and the newer time wins whichever commits first.
    await this.#db.query(
      `WITH t AS (SELECT u, dev, max(at) AS at FROM unnest($1::text[], $2::int[], $3::bigint[]) AS t(u, dev, at) GROUP BY u, dev),
            d AS (SELECT d.user_id, d.device_id, t.at FROM devices d JOIN t ON d.user_id = t.u AND d.device_id = t.dev
                  ORDER BY d.user_id, d.device_id FOR NO KEY UPDATE OF d SKIP LOCKED),
            touched AS (UPDATE devices SET last_seen_at = GREATEST(devices.last_seen_at, d.at) FROM d
                        WHERE devices.user_id = d.user_id AND devices.device_id = d.device_id RETURNING 1),
            seen AS (SELECT u, max(at) AS at FROM t GROUP BY u),
            usr AS (SELECT users.id, seen.at FROM users JOIN seen ON users.id = seen.u WHERE users.last_active_at < seen.at
                    ORDER BY users.id FOR NO KEY UPDATE OF users)
       UPDATE users SET last_active_at = usr.at FROM usr WHERE users.id = usr.id`,
      [users, devices, ats],
    );
    return touches.map(() => undefined);
  }

  async device(db: Queryable, userId: UserId, deviceId: DeviceId): Promise<DeviceRecord | undefined> {
    const row = (await db.query<DeviceRow>('SELECT * FROM devices WHERE user_id = $1 AND device_id = $2', [userId, deviceId])).rows[0];
    return row && toDevice(row);
  }

  async devices(db: Queryable, userId: UserId): Promise<DeviceRecord[]> {
    return (await db.query<DeviceRow>('SELECT * FROM devices WHERE user_id = $1 ORDER BY device_id', [userId])).rows.map(toDevice);
  }

  async activeOf(db: Queryable, userId: UserId, now: number): Promise<ActiveDevice[]> {
    const rows = await db.query<{ device_id: number; expires_at: string | null }>(
      `SELECT d.device_id, d.expires_at FROM users u JOIN devices d ON d.user_id = u.id
       WHERE u.id = $1 AND u.status = 'active' AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $2) ORDER BY d.device_id`,
      [userId, now],
    );
    return rows.rows.map((row) => ({ deviceId: DeviceIdSchema.parse(row.device_id), expiresAt: row.expires_at === null ? null : Number(row.expires_at) }));
  }

  async activeByUser(db: Queryable, now: number): Promise<Map<UserId, DeviceId[]>> {
    const out = new Map<UserId, DeviceId[]>();
    const rows = await db.query<{ user_id: string; device_id: number }>(
      `SELECT d.user_id, d.device_id FROM devices d JOIN users u ON u.id = d.user_id
       WHERE u.status = 'active' AND d.revoked_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > $1) ORDER BY d.user_id, d.device_id`,
      [now],
    );
    for (const row of rows.rows) out.set(row.user_id as UserId, [...(out.get(row.user_id as UserId) ?? []), DeviceIdSchema.parse(row.device_id)]);
    return out;
  }

  /** The one-time prekeys a device has left (inside a transaction: counting what it wrote). */
  async count(db: Queryable, userId: UserId, deviceId: DeviceId): Promise<PreKeyCount> {
    const row = (await db.query<{ ec: string; kyber: string }>(
      `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2) AS ec,
              (SELECT count(*) FROM one_time_kyber_prekeys WHERE user_id = $1 AND device_id = $2) AS kyber`,
      [userId, deviceId],
    )).rows[0];
    return { preKeys: Number(row?.ec ?? 0), kyberPreKeys: Number(row?.kyber ?? 0) };
  }

  // --- Inside transactions ---------------------------------------------------------------------------

  async addIn(client: pg.PoolClient, userId: UserId, device: NewDevice, now: number): Promise<DeviceId> {
    // The account's row, locked: a deactivation that landed during sign-in wins, and concurrent enrollments take turns.
    const user = await client.query(`SELECT 1 FROM users WHERE id = $1 AND status IN ('active', 'pending') FOR UPDATE`, [userId]);
    if (user.rowCount === 0) throw new RelayFailure('ACCOUNT_INACTIVE', 'this account is not active');
    const rows = (await client.query<{ device_id: number; revoked: boolean }>('SELECT device_id, revoked_at IS NOT NULL AS revoked FROM devices WHERE user_id = $1', [userId])).rows;
    const id = newDeviceId(rows.map((r) => ({ deviceId: r.device_id, revoked: r.revoked })));
    const { keys } = device;
    assertFirstKeys(keys);
    await client.query('DELETE FROM devices WHERE user_id = $1 AND device_id = $2', [userId, id]);
    await client.query(
      `INSERT INTO devices (user_id, device_id, name, credential_hash, created_at, last_seen_at, expires_at, registration_id, identity_key, signed_prekey, last_resort_kyber)
       VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10)`,
      [userId, id, storableText(device.name), device.credentialHashFor(id), now, device.expiresAt, keys.registrationId, keys.identityKey, JSON.stringify(keys.signedPreKey), JSON.stringify(keys.lastResortKyberPreKey)],
    );
    await this.storeKeysIn(client, userId, id, keys);
    return id;
  }

  async storeKeysIn(client: pg.PoolClient, userId: UserId, deviceId: DeviceId, upload: KeyUpload): Promise<void> {
    const key = [userId, deviceId] as const;
    const device = (await client.query<{ identity_key: string }>('SELECT identity_key FROM devices WHERE user_id = $1 AND device_id = $2 AND revoked_at IS NULL FOR UPDATE', [...key])).rows[0];
    if (!device) throw new RelayFailure('UNKNOWN_DEVICE', 'no such active device');
    if (device.identity_key !== upload.identityKey) throw new RelayFailure('BAD_REQUEST', 'keys are signed by another identity than this device registered');
    await client.query(
      `UPDATE devices SET registration_id = $3, signed_prekey = COALESCE($4, signed_prekey), last_resort_kyber = COALESCE($5, last_resort_kyber)
       WHERE user_id = $1 AND device_id = $2`,
      [...key, upload.registrationId, upload.signedPreKey ? JSON.stringify(upload.signedPreKey) : null, upload.lastResortKyberPreKey ? JSON.stringify(upload.lastResortKyberPreKey) : null],
    );
    // One statement cannot upsert a row twice: of an id listed twice, the last listed (as SQLite's upserts one by one keep).
    const preKeys = lastOfEachId(upload.preKeys);
    const kyberPreKeys = lastOfEachId(upload.kyberPreKeys);
    if (preKeys.length > 0) {
      await client.query(
        `INSERT INTO one_time_prekeys (user_id, device_id, key_id, public_key) SELECT $1, $2, k, p FROM unnest($3::int[], $4::text[]) AS t(k, p)
         ON CONFLICT (user_id, device_id, key_id) DO UPDATE SET public_key = excluded.public_key`,
        [...key, preKeys.map((k) => k.keyId), preKeys.map((k) => k.publicKey)],
      );
    }
    if (kyberPreKeys.length > 0) {
      await client.query(
        `INSERT INTO one_time_kyber_prekeys (user_id, device_id, key_id, public_key, signature) SELECT $1, $2, k, p, s FROM unnest($3::int[], $4::text[], $5::text[]) AS t(k, p, s)
         ON CONFLICT (user_id, device_id, key_id) DO UPDATE SET public_key = excluded.public_key, signature = excluded.signature`,
        [...key, kyberPreKeys.map((k) => k.keyId), kyberPreKeys.map((k) => k.publicKey), kyberPreKeys.map((k) => k.signature)],
      );
    }
  }

  async revokeIn(client: pg.PoolClient, userId: UserId, deviceId: number, at: number): Promise<void> {
    const key = [userId, deviceId] as const;
    await client.query('UPDATE devices SET revoked_at = $3 WHERE user_id = $1 AND device_id = $2 AND revoked_at IS NULL', [...key, at]);
    await client.query('DELETE FROM envelopes WHERE recipient_user = $1 AND recipient_device = $2', [...key]);
    await client.query('DELETE FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2', [...key]);
    await client.query('DELETE FROM one_time_kyber_prekeys WHERE user_id = $1 AND device_id = $2', [...key]);
  }

  /**
   * A bundle for each active device of an active account (or the one device asked for), each taking one
   * one-time prekey of each kind. A key is deleted as it is taken, skipping keys another transaction has
   * locked: of concurrent fetchers on any instance, each gets a different key, and nobody waits.
   */
  async takeBundlesIn(client: pg.PoolClient, userId: UserId, deviceId: DeviceId | undefined, now: number): Promise<PreKeyBundle[]> {
    const rows = (await client.query<{ device_id: number; registration_id: number; identity_key: string; signed_prekey: string; last_resort_kyber: string }>(
      `SELECT device_id, registration_id, identity_key, signed_prekey, last_resort_kyber FROM devices
       WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) AND ($3::int IS NULL OR device_id = $3)
         AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND status = 'active') ORDER BY device_id`,
      [userId, now, deviceId ?? null],
    )).rows;
    const bundles: PreKeyBundle[] = [];
    for (const row of rows) {
      const key = [userId, row.device_id] as const;
      const ec = (await client.query<{ key_id: number; public_key: string }>(
        `DELETE FROM one_time_prekeys WHERE (user_id, device_id, key_id) = (
           SELECT user_id, device_id, key_id FROM one_time_prekeys WHERE user_id = $1 AND device_id = $2 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key`, [...key])).rows[0];
      const kyber = (await client.query<{ key_id: number; public_key: string; signature: string }>(
        `DELETE FROM one_time_kyber_prekeys WHERE (user_id, device_id, key_id) = (
           SELECT user_id, device_id, key_id FROM one_time_kyber_prekeys WHERE user_id = $1 AND device_id = $2 ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key, signature`, [...key])).rows[0];
      bundles.push(preKeyBundle(userId, row, ec, kyber));
    }
    return bundles;
  }
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    userId: r.user_id as UserId, deviceId: DeviceIdSchema.parse(r.device_id), name: r.name, credentialHash: r.credential_hash,
    createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), expiresAt: nullableNumber(r.expires_at), revokedAt: nullableNumber(r.revoked_at),
  };
}

/** Keys by id, each id once: the last listed. */
function lastOfEachId<K extends { readonly keyId: number }>(keys: readonly K[]): K[] {
  return [...new Map(keys.map((k) => [k.keyId, k])).values()];
}

/** A BIGINT column (node-postgres returns it as text) that may be NULL. */
export function nullableNumber(value: string | number | null): number | null {
  return value === null ? null : Number(value);
}
