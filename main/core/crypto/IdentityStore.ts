import { Direction, IdentityChange, IdentityKeyPair, IdentityKeyStore, type PrivateKey, type ProtocolAddress, PublicKey } from '@signalapp/libsignal-client';
import { z } from 'zod';
import type { IdentityChangedEvent } from '../../../shared/events';
import { DeviceIdSchema, UserIdSchema, addressKey, type DeviceAddress, type UserId } from '../../../shared/ids';
import { RegistrationIdSchema } from '../../../shared/wire/keys';
import type { Clock } from '../Clock';
import { bytesEqual, fromBase64, jsonBytes, parseJsonBytes, toBase64 } from './encoding';
import type { ProtocolStorage } from './ProtocolStorage';
import { protocolAddressKey } from './signalStores';
import type { StagedWrites } from './StagedWrites';

/*
 * Identity keys: our own (private: never logged), and the contacts' we have seen, with their trust state.
 * Trust on first use; a changed key is accepted for receiving (no message is lost) but blocks sending to
 * that contact until the user acknowledges it, and raises an identityChanged event.
 */

export interface LocalIdentity {
  /** Null until the relay has assigned this device its user and device id (keys exist before that). */
  readonly address: DeviceAddress | null;
  readonly registrationId: number;
  readonly keyPair: IdentityKeyPair;
}

const LOCAL_KEY = 'self';
const LocalIdentityRecord = z.strictObject({
  userId: UserIdSchema.nullable(),
  deviceId: DeviceIdSchema.nullable(),
  registrationId: RegistrationIdSchema,
  keyPair: z.base64(),
});

export function writeLocalIdentity(staged: StagedWrites, identity: LocalIdentity): void {
  staged.put('localIdentity', LOCAL_KEY, jsonBytes({
    userId: identity.address?.userId ?? null,
    deviceId: identity.address?.deviceId ?? null,
    registrationId: identity.registrationId,
    keyPair: toBase64(identity.keyPair.serialize()),
  }));
}

export function readLocalIdentity(storage: ProtocolStorage): LocalIdentity | undefined {
  const bytes = storage.get('localIdentity', LOCAL_KEY);
  if (!bytes) return undefined;
  const record = LocalIdentityRecord.parse(parseJsonBytes(bytes));
  return {
    address: record.userId !== null && record.deviceId !== null ? { userId: record.userId, deviceId: record.deviceId } : null,
    registrationId: record.registrationId,
    keyPair: IdentityKeyPair.deserialize(fromBase64(record.keyPair)),
  };
}

const ContactIdentityRecord = z.strictObject({
  key: z.base64(),
  verified: z.boolean(),
  firstSeenAt: z.number(),
});
export type ContactIdentityRecord = z.infer<typeof ContactIdentityRecord>;

/**
 * A key change the user has not acknowledged yet. Kept in its own namespace (same address keys) so that
 * "is any recipient blocked?" is one listing per send, however large the care team.
 */
const PendingIdentityChange = z.strictObject({
  change: z.enum(['newKey', 'newDevice']),
  /** The key the user had accepted before (null for a device we had never seen). */
  previousKey: z.base64().nullable(),
  /** When the current, unacknowledged key was first seen. */
  detectedAt: z.number(),
  /** Seen in a fetched bundle: our session still uses the old key and is dropped on acknowledgement. */
  staleSession: z.boolean(),
});
export type PendingIdentityChange = z.infer<typeof PendingIdentityChange>;

/** A contact identity as read: the record plus its key already decoded. */
export type KnownIdentity = Readonly<ContactIdentityRecord> & { readonly keyBytes: Uint8Array };

function decodeIdentity(bytes: Uint8Array): KnownIdentity {
  const record = ContactIdentityRecord.parse(parseJsonBytes(bytes));
  return { ...record, keyBytes: fromBase64(record.key) };
}

function decodePendingChange(bytes: Uint8Array): PendingIdentityChange {
  return PendingIdentityChange.parse(parseJsonBytes(bytes));
}

export function readContactIdentity(staged: StagedWrites, key: string): KnownIdentity | undefined {
  return staged.getDecoded('identity', key, decodeIdentity);
}

export function writeContactIdentity(staged: StagedWrites, key: string, record: ContactIdentityRecord): void {
  staged.put('identity', key, jsonBytes({ key: record.key, verified: record.verified, firstSeenAt: record.firstSeenAt } satisfies ContactIdentityRecord));
}

export function readPendingChange(staged: StagedWrites, key: string): PendingIdentityChange | undefined {
  return staged.getDecoded('identityChange', key, decodePendingChange);
}

/** Address keys of every device whose identity change awaits acknowledgement. */
export function pendingChangeKeys(staged: StagedWrites): string[] {
  return staged.keys('identityChange');
}

/** Storage keys of every known device of a user. */
export function userIdentityKeys(staged: StagedWrites, userId: UserId): string[] {
  return staged.keys('identity', `${userId}.`);
}

/**
 * Records `key` as the identity of `address` and says whether that is a change the user must
 * acknowledge (sending to the contact is refused until then; receiving goes on). A change is:
 * - a known device presenting another key (`newKey`), or
 * - a device of a contact we already know, that we had not seen before (`newDevice`): otherwise whoever
 *   runs the relay could add a device of their own to a colleague's account unnoticed.
 * Trust on first use applies only to contacts we knew nothing of (`firstContact`).
 * Events are queued for after the commit.
 */
export function recordContactIdentity(
  staged: StagedWrites,
  address: DeviceAddress,
  key: PublicKey,
  clock: Clock,
  emit: (event: IdentityChangedEvent) => void,
  seenIn: 'bundle' | 'message',
  firstContact: boolean,
): boolean {
  const storageKey = addressKey(address);
  const serialized = key.serialize();
  const existing = readContactIdentity(staged, storageKey);
  const now = clock.now();
  if (existing && bytesEqual(existing.keyBytes, serialized)) return false;
  if (!existing && firstContact) {
    writeContactIdentity(staged, storageKey, { key: toBase64(serialized), verified: false, firstSeenAt: now });
    return false;
  }
  const earlier = readPendingChange(staged, storageKey);
  const change = existing ? 'newKey' : 'newDevice';
  writeContactIdentity(staged, storageKey, { key: toBase64(serialized), verified: false, firstSeenAt: existing?.firstSeenAt ?? now });
  staged.put('identityChange', storageKey, jsonBytes({
    change: earlier?.change ?? change,
    previousKey: earlier ? earlier.previousKey : (existing?.key ?? null),
    detectedAt: now,
    staleSession: seenIn === 'bundle' && existing !== undefined,
  } satisfies PendingIdentityChange));
  staged.afterCommit(() => emit({ type: 'identityChanged', userId: address.userId, address, change, detectedAt: now }));
  return true;
}

/**
 * Trust on first use covers a contact's devices until we have fetched their device list from the relay
 * once (the first send to them): a device we hear from before that is accepted like the rest of that
 * first list; any device that appears after it must be acknowledged.
 */
export function isFirstContact(staged: StagedWrites, userId: UserId): boolean {
  return staged.get('deviceListSeen', userId) === undefined;
}

export function markDeviceListSeen(staged: StagedWrites, userId: UserId): void {
  staged.put('deviceListSeen', userId, new Uint8Array([1]));
}

export class IdentityStoreAdapter extends IdentityKeyStore {
  constructor(
    private readonly staged: StagedWrites,
    private readonly local: LocalIdentity,
    private readonly clock: Clock,
    private readonly emit: (event: IdentityChangedEvent) => void,
  ) {
    super();
  }

  override async getIdentityKey(): Promise<PrivateKey> {
    return this.local.keyPair.privateKey;
  }

  override async getLocalRegistrationId(): Promise<number> {
    return this.local.registrationId;
  }

  override async saveIdentity(address: ProtocolAddress, key: PublicKey): Promise<IdentityChange> {
    const device = toDeviceAddress(address);
    const replaced = recordContactIdentity(this.staged, device, key, this.clock, this.emit, 'message', isFirstContact(this.staged, device.userId));
    return replaced ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
  }

  override async isTrustedIdentity(address: ProtocolAddress, key: PublicKey, direction: Direction): Promise<boolean> {
    // Receiving is always allowed: refusing would lose the clinician's message. saveIdentity flags it.
    if (direction === Direction.Receiving) return true;
    const storageKey = protocolAddressKey(address);
    const existing = readContactIdentity(this.staged, storageKey);
    if (!existing) return true;
    return !readPendingChange(this.staged, storageKey) && bytesEqual(existing.keyBytes, key.serialize());
  }

  override async getIdentity(address: ProtocolAddress): Promise<PublicKey | null> {
    const existing = readContactIdentity(this.staged, protocolAddressKey(address));
    return existing ? PublicKey.deserialize(Uint8Array.from(existing.keyBytes)) : null;
  }
}

/** Addresses reaching libsignal are built by us from validated DeviceAddresses. */
export function toDeviceAddress(address: ProtocolAddress): DeviceAddress {
  return { userId: address.name() as UserId, deviceId: DeviceIdSchema.parse(address.deviceId()) };
}
