import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { DeviceAddress } from '../../shared/ids';
import { DeviceCredentialSchema, type DeviceCredential } from '../../shared/wire/relay';

/*
 * Device credentials and one-time codes. Only their SHA-256 is stored: they are long random secrets,
 * so a fast hash is enough (passwords, which people choose, get Argon2id instead).
 */

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A new credential for a device: it names the device and carries 256 random bits. */
export function newCredential(address: DeviceAddress): DeviceCredential {
  return DeviceCredentialSchema.parse(`rd1.${address.userId}.${address.deviceId}.${randomBytes(32).toString('base64url')}`);
}

export function credentialDevice(credential: string): { userId: string; deviceId: number } | undefined {
  if (!DeviceCredentialSchema.safeParse(credential).success) return undefined;
  const [, userId, deviceId] = credential.split('.');
  return userId && deviceId ? { userId, deviceId: Number(deviceId) } : undefined;
}

/** Crockford's base32 alphabet: no I, L, O or U, so codes read aloud or typed from paper survive. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A one-time code like `7KQ2-M9XD-4TRA-B8CE` (80 random bits). */
export function newOneTimeCode(): string {
  const chars = Array.from({ length: 16 }, () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

/** What is hashed and compared: upper case, dashes and spaces dropped, look-alike letters mapped. */
export function normalizeCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
}

export function codeHash(code: string): string {
  return sha256Hex(`code:${normalizeCode(code)}`);
}
