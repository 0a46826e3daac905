import { z } from 'zod';
import { DeviceIdSchema, UserIdSchema } from '../ids';
import { LIMITS } from '../limits';

/** Key ids are unsigned 32-bit in libsignal; ours count up from 1 and never repeat. */
export const KeyIdSchema = z.number().int().min(1).max(0x7fff_ffff);
/** libsignal registration ids are 14-bit and never 0. */
export const RegistrationIdSchema = z.number().int().min(1).max(0x3fff);

const EcPublicKey = z.base64().max(64);
const Signature = z.base64().max(128);
/** Kyber-1024 public keys are 1,569 bytes serialized. */
const KemPublicKey = z.base64().max(2400);

export const PublicPreKeySchema = z.strictObject({ keyId: KeyIdSchema, publicKey: EcPublicKey });
export const SignedPublicPreKeySchema = z.strictObject({ keyId: KeyIdSchema, publicKey: EcPublicKey, signature: Signature });
export const SignedKyberPublicPreKeySchema = z.strictObject({ keyId: KeyIdSchema, publicKey: KemPublicKey, signature: Signature });

export type PublicPreKey = z.infer<typeof PublicPreKeySchema>;
export type SignedPublicPreKey = z.infer<typeof SignedPublicPreKeySchema>;
export type SignedKyberPublicPreKey = z.infer<typeof SignedKyberPublicPreKeySchema>;

/** What a device uploads to the relay's prekey directory. Every part is optional except on first upload. */
export const KeyUploadSchema = z.strictObject({
  identityKey: EcPublicKey,
  registrationId: RegistrationIdSchema,
  signedPreKey: SignedPublicPreKeySchema.optional(),
  lastResortKyberPreKey: SignedKyberPublicPreKeySchema.optional(),
  preKeys: z.array(PublicPreKeySchema).max(LIMITS.maxPreKeysPerUpload),
  kyberPreKeys: z.array(SignedKyberPublicPreKeySchema).max(LIMITS.maxPreKeysPerUpload),
});
export type KeyUpload = z.infer<typeof KeyUploadSchema>;

/**
 * What the relay hands out for one device of a user. `kyberPreKey` is a one-time Kyber key while the
 * device has any left, otherwise its last-resort key; `preKey` is absent when one-time EC keys ran out.
 */
export const PreKeyBundleSchema = z.strictObject({
  userId: UserIdSchema,
  deviceId: DeviceIdSchema,
  registrationId: RegistrationIdSchema,
  identityKey: EcPublicKey,
  signedPreKey: SignedPublicPreKeySchema,
  kyberPreKey: SignedKyberPublicPreKeySchema,
  preKey: PublicPreKeySchema.optional(),
});
export type PreKeyBundle = z.infer<typeof PreKeyBundleSchema>;

/** How many unused one-time keys the relay still holds for a device. */
export const PreKeyCountSchema = z.strictObject({
  preKeys: z.number().int().nonnegative(),
  kyberPreKeys: z.number().int().nonnegative(),
});
export type PreKeyCount = z.infer<typeof PreKeyCountSchema>;
