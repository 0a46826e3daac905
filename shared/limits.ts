/** Size limits shared by the client core and the relay. */
export const LIMITS = {
  /** Characters in one message text. */
  maxTextLength: 32_000,
  /** Encoded plaintext payload, before padding and encryption. */
  maxPayloadBytes: 128 * 1024,
  /**
   * Hard ceiling on the base64 characters of one envelope's content (8 MiB of ciphertext). The relay
   * applies its own, configurable limit below this (default 256 KiB) and answers PAYLOAD_TOO_LARGE.
   */
  maxEnvelopeContentChars: Math.ceil((8 * 1024 * 1024) / 3) * 4,
  /** One-time prekeys accepted in one upload. */
  maxPreKeysPerUpload: 1000,
  /** Members of one care team. */
  maxCareTeamMembers: 500,
} as const;
