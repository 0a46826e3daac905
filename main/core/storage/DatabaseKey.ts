import argon2 from 'argon2';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { WrongPassphraseError } from '../errors';
import type { KeyProtector } from './KeyProtector';

export { WrongPassphraseError } from '../errors';

/*
 * The key hierarchy of a local profile. The database key is 256 random bits. It is stored only wrapped
 * (AES-256-GCM): under a key derived from the user's passphrase with Argon2id, and optionally also under
 * the OS-protected key. Wrapping uses Node's crypto primitives (AES-GCM) and argon2; nothing home-made.
 * Key material never reaches a log; JavaScript cannot reliably erase strings, so keys are kept in
 * Buffers and overwritten when the profile locks.
 */

export interface Argon2idParams {
  readonly memoryKiB: number;
  readonly passes: number;
  readonly parallelism: number;
}

/** At least 64 MiB, as the storage issue requires; recorded with every wrapped key. */
export const DEFAULT_KDF: Argon2idParams = { memoryKiB: 64 * 1024, passes: 3, parallelism: 4 };

const b64 = z.base64();
export const WrappedKeySchema = z.strictObject({
  v: z.literal(1),
  kdf: z.strictObject({ alg: z.literal('argon2id'), memoryKiB: z.number().int().min(8 * 1024), passes: z.number().int().min(1), parallelism: z.number().int().min(1), salt: b64 }),
  nonce: b64,
  ciphertext: b64,
});
export type WrappedKey = z.infer<typeof WrappedKeySchema>;

export const ProtectedKeySchema = z.strictObject({ v: z.literal(1), blob: b64 });
export type ProtectedKey = z.infer<typeof ProtectedKeySchema>;

export function newDatabaseKey(): Buffer {
  return randomBytes(32);
}

async function deriveKek(passphrase: string, salt: Buffer, params: Argon2idParams): Promise<Buffer> {
  return argon2.hash(passphrase, { type: argon2.argon2id, raw: true, salt, hashLength: 32, memoryCost: params.memoryKiB, timeCost: params.passes, parallelism: params.parallelism });
}

/** `context` binds the wrapped key to its profile (a blob copied to another profile does not open). */
export async function wrapWithPassphrase(key: Buffer, passphrase: string, context: string, params: Argon2idParams = DEFAULT_KDF): Promise<WrappedKey> {
  const salt = randomBytes(16);
  const kek = await deriveKek(passphrase, salt, params);
  try {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', kek, nonce).setAAD(Buffer.from(`rounds-db-key:${context}`));
    const ciphertext = Buffer.concat([cipher.update(key), cipher.final(), cipher.getAuthTag()]);
    return { v: 1, kdf: { alg: 'argon2id', ...params, salt: salt.toString('base64') }, nonce: nonce.toString('base64'), ciphertext: ciphertext.toString('base64') };
  } finally {
    kek.fill(0);
  }
}

/** Returns the database key, or throws WrongPassphraseError. */
export async function unwrapWithPassphrase(wrapped: WrappedKey, passphrase: string, context: string): Promise<Buffer> {
  const { kdf } = wrapped;
  const kek = await deriveKek(passphrase, Buffer.from(kdf.salt, 'base64'), kdf);
  try {
    const data = Buffer.from(wrapped.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(wrapped.nonce, 'base64')).setAAD(Buffer.from(`rounds-db-key:${context}`));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
  } catch {
    throw new WrongPassphraseError();
  } finally {
    kek.fill(0);
  }
}

export function protectKey(key: Buffer, protector: KeyProtector): ProtectedKey {
  return { v: 1, blob: Buffer.from(protector.protect(key)).toString('base64') };
}

export function unprotectKey(wrapped: ProtectedKey, protector: KeyProtector): Buffer {
  return Buffer.from(protector.unprotect(Buffer.from(wrapped.blob, 'base64')));
}
