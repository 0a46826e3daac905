import type { DeviceId, UserId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { SessionResponse } from '../../shared/wire/relay';
import { RelayFailure } from '../RelayFailure';
import type { NewDevice, RelayStore, UserRecord } from '../storage/RelayStore';
import { newCredential, sha256Hex } from './secrets';

/** A device a sign-in (enrollment, password + TOTP, emergency code) asks to add. */
export type NewDeviceRequest = { name: string; keys: KeyUpload; auditKey?: string | undefined };

const INCOMPLETE_KEYS = 'a new device must upload a signed prekey and a last-resort Kyber prekey';

/** What the store requires of a new device's keys, checked before any secret is (so no Argon2 is spent on it). */
export function assertNewDeviceKeys(keys: KeyUpload): void {
  if (!hasNewDeviceKeys(keys)) throw incompleteKeys();
}

export function hasNewDeviceKeys(keys: KeyUpload): boolean {
  return keys.signedPreKey !== undefined && keys.lastResortKyberPreKey !== undefined;
}

export const incompleteKeys = () => new RelayFailure('BAD_REQUEST', INCOMPLETE_KEYS);

/** A new device whose credential is minted inside the store's transaction, once its id is known. */
export function newDevice(userId: UserId, device: NewDeviceRequest, expiresAt: number | null): { device: NewDevice; credential: () => string } {
  let credential: string | undefined;
  return {
    device: {
      name: device.name,
      keys: device.keys,
      expiresAt,
      credentialHashFor: (deviceId) => {
        credential = newCredential({ userId, deviceId });
        return sha256Hex(credential);
      },
    },
    credential: () => {
      if (!credential) throw new RelayFailure('INTERNAL', 'device credential was not issued');
      return credential;
    },
  };
}

/** The answer to a successful sign-in; whoever caches the user's devices is told they changed. */
export async function sessionResponse(
  store: RelayStore,
  onDevicesChanged: (userId: UserId) => void,
  user: UserRecord,
  deviceId: DeviceId,
  credential: string,
  expiresAt: number | null,
): Promise<SessionResponse> {
  onDevicesChanged(user.id);
  return {
    userId: user.id, deviceId, credential, role: user.role, displayName: user.displayName, username: user.username, expiresAt,
    preKeys: await store.keyCount(user.id, deviceId),
  } as SessionResponse;
}
