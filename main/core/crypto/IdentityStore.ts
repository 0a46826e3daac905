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
  readonly address: DeviceAddress;
  readonly registrationId: number;
  readonly keyPair: IdentityKeyPair;
}

const LOCAL_KEY = 'self';
const LocalIdentityRecord = z.strictObject({
  userId: UserIdSchema,
  deviceId: DeviceIdSchema,
  registrationId: RegistrationIdSchema,
  keyPair: z.base64(),
});

export function writeLocalIdentity(staged: StagedWrites, identity: LocalIdentity): void {
  staged.put('localIdentity', LOCAL_KEY, jsonBytes({
    userId: identity.address.userId,
    deviceId: identity.address.deviceId,
    registrationId: identity.registrationId,
    keyPair: toBase64(identity.keyPair.serialize()),
  }));
}

export function readLocalIdentity(storage: ProtocolStorage): LocalIdentity | undefined {
  const bytes = storage.get('localIdentity', LOCAL_KEY);
  if (!bytes) return undefined;
  const record = LocalIdentityRecord.parse(parseJsonBytes(bytes));
  return {
    address: { userId: record.userId, deviceId: record.deviceId },
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
  previousKey: z.base64(),
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
 * Records `key` as the identity of `address`. Returns true when it replaced a different key, in which
 * case the change is pending acknowledgement and an event is queued for after the commit.
 */
export function recordContactIdentity(
  staged: StagedWrites,
  address: DeviceAddress,
  key: PublicKey,
  clock: Clock,
  emit: (event: IdentityChangedEvent) => void,
  seenIn: 'bundle' | 'message',
): boolean {
  const storageKey = addressKey(address);
  const serialized = key.serialize();
  const existing = readContactIdentity(staged, storageKey);
  const now = clock.now();
  if (!existing) {
    writeContactIdentity(staged, storageKey, { key: toBase64(serialized), verified: false, firstSeenAt: now });
    return false;
  }
  if (bytesEqual(existing.keyBytes, serialized)) return false;
  const earlier = readPendingChange(staged, storageKey);
  writeContactIdentity(staged, storageKey, { key: toBase64(serialized), verified: false, firstSeenAt: existing.firstSeenAt });
  staged.put('identityChange', storageKey, jsonBytes({
    previousKey: earlier?.previousKey ?? existing.key,
    detectedAt: earlier?.detectedAt ?? now,
    staleSession: seenIn === 'bundle',
  } satisfies PendingIdentityChange));
  staged.afterCommit(() => emit({ type: 'identityChanged', userId: address.userId, address, detectedAt: now }));
  return true;
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
    const replaced = recordContactIdentity(this.staged, toDeviceAddress(address), key, this.clock, this.emit, 'message');
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
