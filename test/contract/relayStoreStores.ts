/**
 * What the parts of the RelayStore contract share: the two stores of the current test (one set of data, as
 * two relay instances see it) and the helpers that make accounts, devices, grants and envelopes in them.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { sha256Hex } from '../../server/auth/secrets';
import type { AuditEvent } from '../../server/audit/AuditRecord';
import { RelayFailure } from '../../server/RelayFailure';
import type { EmergencyGrant, NewDevice, NewEnvelope, QueueLimits, RelayStore } from '../../server/storage/RelayStore';
import { UserIdSchema, type DeviceAddress, type DeviceId, type EnvelopeId, type UserId } from '../../shared/ids';
import type { KeyUpload } from '../../shared/wire/keys';
import type { RelayErrorCode } from '../../shared/wire/relay';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';

/** The time the tests act at (times a store compares with its own clock are set relative to the real one). */
export const NOW = Date.UTC(2026, 11, 2, 9);
export const HOUR = 3600_000;
export const ROOMY: QueueLimits = { maxEnvelopes: 1000, maxBytes: 1 << 30, maxEnvelopesPerSender: 1000, maxBytesPerSender: 1 << 30 };

export const audited = (type: AuditEvent['type']) => (subject: { toString(): string }): AuditEvent => ({ type, actor: 'contract', subject: String(subject), details: {} });
export const accepted = (e: NewEnvelope): AuditEvent => ({ type: 'envelope.accepted', actor: 'contract', subject: e.id, details: {} });

/** A new device's first upload (a new identity each call) with this many one-time keys of each kind. */
export async function keyUpload(oneTimeKeys: number): Promise<KeyUpload> {
  return ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: oneTimeKeys } }).keys.initialUpload();
}

/** That the promise rejects with a RelayFailure of this code (what the client is told). */
export async function expectFailure(promise: Promise<unknown>, code: RelayErrorCode): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(RelayFailure);
  expect((error as RelayFailure).code).toBe(code);
}

/** Of racing calls, the codes of those that failed (the fulfilled ones are counted with `fulfilled`). */
export function settled<T>(results: readonly PromiseSettledResult<T>[]): { fulfilled: T[]; codes: (string | undefined)[] } {
  return {
    fulfilled: results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])),
    codes: results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code?: string }).code] : [])),
  };
}

/**
 * A reader that follows what is numbered by seq from the last seq it saw (as a relay follows control events,
 * a socket its queue, a SIEM the audit log), reading again and again while writers race; `stop` reads once
 * more and returns all it saw. What commits out of seq order is what such a reader skips.
 */
export function follower<T extends { seq: number }>(read: (afterSeq: number) => Promise<T[]>): { stop(): Promise<T[]> } {
  const seen: T[] = [];
  let stopped = false;
  const next = async () => seen.push(...(await read(seen.at(-1)?.seq ?? 0)));
  const following = (async () => {
    while (!stopped) {
      await next();
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await following;
      await next();
      return seen;
    },
  };
}

/** The stores of the test under way: set before each test, read inside it. */
export class ContractStores {
  store!: RelayStore;
  /** The same data through a second store (a second relay instance). */
  other!: RelayStore;
  /** A first upload with five one-time keys of each kind (made once: key generation is slow). */
  keys!: KeyUpload;

  /** The store of the i-th of several racers: every other one goes through the second instance. */
  either(i: number): RelayStore {
    return i % 2 === 0 ? this.store : this.other;
  }

  /** A device to add, its credential hash derived from the id it gets (so a test can tell which it was). */
  newDevice(options: { keys?: KeyUpload; expiresAt?: number | null; name?: string } = {}): NewDevice {
    return { name: options.name ?? 'ws', keys: options.keys ?? this.keys, expiresAt: options.expiresAt ?? null, credentialHashFor: (id: DeviceId) => sha256Hex(`credential-${id}`) };
  }

  /** An account (active unless told) with its enrollment code, not yet any device. */
  async user(options: { username?: string; status?: 'active' | 'pending'; code?: string; codeExpiresAt?: number; audit?: readonly AuditEvent[] } = {}): Promise<UserId> {
    const userId = UserIdSchema.parse(randomUUID());
    const username = options.username ?? `u-${randomUUID().slice(0, 8)}`;
    await this.store.createUser(
      { id: userId, username, displayName: username, role: 'clinician', status: options.status ?? 'active', createdAt: NOW, lastActiveAt: NOW },
      sha256Hex(options.code ?? randomUUID()), options.codeExpiresAt ?? NOW + HOUR, options.audit ?? [],
    );
    return userId;
  }

  /** An active account with one device. */
  async account(username?: string, keys = this.keys): Promise<DeviceAddress> {
    const userId = await this.user({ ...(username === undefined ? {} : { username }) });
    const deviceId = await this.store.addDevice(userId, this.newDevice({ keys }), NOW, []);
    return { userId, deviceId };
  }

  /** A stored emergency grant for the account. */
  async grant(userId: UserId, expiresAt = NOW + HOUR): Promise<EmergencyGrant> {
    const grant: EmergencyGrant = { id: randomUUID(), userId, codeHash: sha256Hex(randomUUID()), reason: 'ward 4 down', issuedAt: NOW, expiresAt, usedAt: null };
    await this.store.createEmergencyGrant(grant, [{ type: 'emergency.issued', actor: 'admin:ops', subject: userId, details: { reason: grant.reason }, flagged: true }]);
    return grant;
  }

  /** The audit records of these types, as [type, subject]. */
  async audit(...types: AuditEvent['type'][]): Promise<[string, string][]> {
    return (await this.store.auditRecordsAfter(0, 10_000, { types })).map((r) => [r.type, r.subject]);
  }

  /** That every record links to the one before (checked after each test). */
  async expectChainHolds(): Promise<void> {
    expect(await this.other.checkAuditChain()).toMatchObject({ ok: true });
  }
}

export const envelope = (sender: DeviceAddress, recipient: DeviceAddress, content = 'AAAA'): NewEnvelope => ({ id: randomUUID() as EnvelopeId, type: 'whisper', sender, recipient, content, acceptedAt: NOW });
