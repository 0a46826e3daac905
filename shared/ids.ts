import { z } from 'zod';

/** UUIDs in their canonical lower-case form only: `ABC…` and `abc…` must never name two different things. */
const CanonicalUuid = z.uuid().regex(/^[0-9a-f-]+$/, 'lower-case UUID');

/** A user's stable id, assigned by the relay when an admin creates the account. */
export const UserIdSchema = CanonicalUuid.brand<'UserId'>();
export type UserId = z.infer<typeof UserIdSchema>;

/** libsignal accepts device ids 1..127; the relay hands them out in that range. */
export const MAX_DEVICE_ID = 127;
export const DeviceIdSchema = z.number().int().min(1).max(MAX_DEVICE_ID).brand<'DeviceId'>();
export type DeviceId = z.infer<typeof DeviceIdSchema>;

/** A 1:1 conversation or a care team. */
export const ConversationIdSchema = CanonicalUuid.brand<'ConversationId'>();
export type ConversationId = z.infer<typeof ConversationIdSchema>;

/**
 * A care team's id is a random (version 4) UUID; a 1:1 conversation's id is derived from its two users
 * (version 8). Keeping the two apart means no one can announce a "care team" under the id of someone
 * else's 1:1 conversation.
 */
export const CareTeamIdSchema = ConversationIdSchema.refine((id) => id.charAt(14) === '4', 'a care-team id is a version-4 UUID');

/** Chosen by the sender; the same id on every device that holds the message. */
export const MessageIdSchema = CanonicalUuid.brand<'MessageId'>();
export type MessageId = z.infer<typeof MessageIdSchema>;

/** One ciphertext envelope for one recipient device. */
export const EnvelopeIdSchema = CanonicalUuid.brand<'EnvelopeId'>();
export type EnvelopeId = z.infer<typeof EnvelopeIdSchema>;

/** A sender-key distribution (one per care team per membership epoch per sender). */
export const DistributionIdSchema = CanonicalUuid.brand<'DistributionId'>();
export type DistributionId = z.infer<typeof DistributionIdSchema>;

/** One device of one user: the unit libsignal keeps a session with. */
export const DeviceAddressSchema = z.strictObject({ userId: UserIdSchema, deviceId: DeviceIdSchema });
export type DeviceAddress = Readonly<z.infer<typeof DeviceAddressSchema>>;

/** Address objects are immutable and recur (membership lists, envelopes), so their keys are remembered. */
const addressKeys = new WeakMap<DeviceAddress, string>();

/** `userId.deviceId`: the key under which everything about one device is stored. */
export function addressKey(address: DeviceAddress): string {
  let key = addressKeys.get(address);
  if (key === undefined) {
    key = `${address.userId}.${address.deviceId}`;
    addressKeys.set(address, key);
  }
  return key;
}

/**
 * The inverse of addressKey: the device a stored key names, validated like any address from outside
 * (throws a ZodError for anything addressKey could not have written).
 */
export function parseAddressKey(key: string): DeviceAddress {
  const dot = key.lastIndexOf('.');
  const device = key.slice(dot + 1);
  const address = DeviceAddressSchema.parse({ userId: dot < 0 ? '' : key.slice(0, dot), deviceId: /^[1-9][0-9]*$/.test(device) ? Number(device) : Number.NaN });
  addressKeys.set(address, key);
  return address;
}

export function sameAddress(a: DeviceAddress, b: DeviceAddress): boolean {
  return a.userId === b.userId && a.deviceId === b.deviceId;
}
