/** Size limits shared by the client core and the relay. */
export const LIMITS = {
  /** Characters in one message text. */
  maxTextLength: 32_000,
  /** Encoded plaintext payload, before padding and encryption. */
  maxPayloadBytes: 128 * 1024,
  /** Base64 characters of one envelope's content (the relay's default envelope limit is 256 KiB). */
  maxEnvelopeContentChars: Math.ceil((256 * 1024) / 3) * 4,
  /** One-time prekeys accepted in one upload. */
  maxPreKeysPerUpload: 1000,
} as const;
