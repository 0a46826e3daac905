/**
 * The one storage interface the Signal-protocol core needs. Everything libsignal persists (sessions,
 * identities, prekeys, sender keys) and our own bookkeeping go through these three calls, so the
 * in-memory implementation and the encrypted SQLCipher one are interchangeable.
 *
 * Values are opaque bytes and contain private key material: an implementation must keep them in memory
 * or in encrypted storage only, and must never log them.
 */
export const PROTOCOL_NAMESPACES = [
  'localIdentity',
  'identity',
  'identityChange',
  'deviceListSeen',
  'session',
  'preKey',
  'signedPreKey',
  'kyberPreKey',
  'kyberBaseKeyUsed',
  'senderKey',
  'careTeam',
  'counter',
] as const;
export type ProtocolNamespace = (typeof PROTOCOL_NAMESPACES)[number];

export type StorageWrite =
  | { readonly ns: ProtocolNamespace; readonly key: string; readonly value: Uint8Array }
  | { readonly ns: ProtocolNamespace; readonly key: string; readonly value: null };

export interface ProtocolStorage {
  /** A fresh copy the caller may keep or hand to libsignal (which wants an ArrayBuffer-backed array). */
  get(ns: ProtocolNamespace, key: string): Uint8Array<ArrayBuffer> | undefined;
  /** Keys of a namespace that start with `prefix` (all keys when omitted), in ascending order. */
  keys(ns: ProtocolNamespace, prefix?: string): string[];
  /**
   * Applies every write or none of them (`value: null` deletes). `inTransaction`, when given, runs inside
   * the same transaction: the messaging layer stores a decrypted message there, so that the ratchet step
   * that consumed its key and the stored message land together or not at all. If it throws, nothing is
   * written.
   */
  commit(writes: readonly StorageWrite[], inTransaction?: () => void): void;
}
