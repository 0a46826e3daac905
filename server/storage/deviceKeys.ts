import { DeviceIdSchema, MAX_DEVICE_ID, type DeviceId, type UserId } from '../../shared/ids';
import type { KeyUpload, PreKeyBundle } from '../../shared/wire/keys';
import { RelayFailure } from '../RelayFailure';

/**
 * The id a new device of an account gets, from the ids its devices have (`revoked`: ids of revoked devices):
 * a fresh id while there is one (an old id reused could be mistaken for its former device); after that, the
 * lowest id of a revoked device. Both stores choose it inside the transaction that adds the device.
 */
export function newDeviceId(existing: readonly { readonly deviceId: number; readonly revoked: boolean }[]): DeviceId {
  const used = new Set(existing.map((d) => d.deviceId));
  const taken = new Set(existing.filter((d) => !d.revoked).map((d) => d.deviceId));
  let id = 1;
  while (id <= MAX_DEVICE_ID && used.has(id)) id++;
  if (id > MAX_DEVICE_ID) {
    id = 1;
    while (id <= MAX_DEVICE_ID && taken.has(id)) id++;
    if (id > MAX_DEVICE_ID) throw new RelayFailure('TOO_MANY_DEVICES', `an account can have at most ${MAX_DEVICE_ID} devices`);
  }
  return DeviceIdSchema.parse(id);
}

/** A new device's keys must include the signed prekey and the last-resort Kyber prekey its first bundles need. */
export function assertFirstKeys(keys: KeyUpload): asserts keys is KeyUpload & { signedPreKey: NonNullable<KeyUpload['signedPreKey']>; lastResortKyberPreKey: NonNullable<KeyUpload['lastResortKyberPreKey']> } {
  if (!keys.signedPreKey || !keys.lastResortKyberPreKey) throw new RelayFailure('BAD_REQUEST', 'a new device must upload a signed prekey and a last-resort Kyber prekey');
}

/** A device's row as both stores read it for a bundle (its keys as stored: JSON text). */
export interface BundleRow { readonly device_id: number; readonly registration_id: number; readonly identity_key: string; readonly signed_prekey: string; readonly last_resort_kyber: string }

/** The bundle of a device: its one-time prekeys just taken (none left: the last-resort Kyber key, no EC one). */
export function preKeyBundle(userId: UserId, row: BundleRow, ec: { key_id: number; public_key: string } | undefined, kyber: { key_id: number; public_key: string; signature: string } | undefined): PreKeyBundle {
  return {
    userId,
    deviceId: DeviceIdSchema.parse(row.device_id),
    registrationId: row.registration_id,
    identityKey: row.identity_key,
    signedPreKey: JSON.parse(row.signed_prekey) as PreKeyBundle['signedPreKey'],
    kyberPreKey: kyber ? { keyId: kyber.key_id, publicKey: kyber.public_key, signature: kyber.signature } : (JSON.parse(row.last_resort_kyber) as PreKeyBundle['kyberPreKey']),
    ...(ec ? { preKey: { keyId: ec.key_id, publicKey: ec.public_key } } : {}),
  };
}
