import { z } from 'zod';

/**
 * Stable error codes. They cross process and network boundaries as `{ code, message }`;
 * the UI chooses its wording from the code, never from the message.
 */
export const ERROR_CODES = [
  // Payload (the plaintext structure inside a ciphertext)
  'MALFORMED_PAYLOAD',
  'UNSUPPORTED_PAYLOAD_VERSION',
  'PAYLOAD_TOO_LARGE',
  // Envelopes and ciphertext
  'MALFORMED_ENVELOPE',
  'INVALID_MESSAGE',
  'DUPLICATE_MESSAGE',
  'WRONG_RECIPIENT',
  'NO_SESSION',
  'NO_SENDER_KEY',
  'INVALID_BUNDLE',
  'INVALID_KEY_ID',
  // Identity and trust
  'IDENTITY_CHANGED',
  'NO_LOCAL_IDENTITY',
  'SAFETY_NUMBER_MISMATCH',
  // Key management
  'KEY_IDS_EXHAUSTED',
  // Local profile
  'WRONG_PASSPHRASE',
  'PROFILE_LOCKED',
  'PROFILE_WIPED',
  'PROFILE_EXISTS',
  'PROFILE_NOT_FOUND',
  'UNLOCK_THROTTLED',
  'PASSPHRASE_POLICY',
  'SIGN_IN_REQUIRED',
  'STORAGE_CORRUPT',
  'STORAGE_FULL',
  // Account and conversations
  'ALREADY_ENROLLED',
  'NOT_A_MEMBER',
  /** No one holds the on-call role now and it has no backup who could (issue 19): nothing was sent. */
  'ROLE_UNCOVERED',
  'ROLE_TOO_MANY_HOLDERS',
  /** Rounds could not ask the relay who holds the on-call role now (issue 19): nothing was sent, nothing queued. */
  'ROLE_LOOKUP_FAILED',
  'NOT_FOUND',
  'INVALID_INPUT',
  // Sign-in with the hospital's identity provider (the app's side; the relay's refusals are OIDC_* relay codes)
  /** The relay offers no single sign-on, or this door (app or harness) cannot send a browser to the provider. */
  'SSO_UNAVAILABLE',
  /** The provider sent the browser back with an error (the person declined, or the provider refused them). */
  'SSO_REFUSED',
  /** The browser did not come back in time. */
  'SSO_TIMED_OUT',
  /** The person cancelled the sign-in in Rounds. */
  'SSO_CANCELLED',
  /** The app could not listen on this computer's loopback interface for the redirect. */
  'SSO_LISTENER_FAILED',
  // Attachments (issue 20)
  /** Larger than the organisation's policy allows (or the staged bytes disagree with the size announced). */
  'ATTACHMENT_TOO_LARGE',
  /** The fetched blob, or the digest/key in the message, does not verify: refused, never shown. */
  'ATTACHMENT_TAMPERED',
  /** Not (yet) in this profile: fetch it first. */
  'ATTACHMENT_NOT_STORED',
  /** Deleted by retention, here or on the relay. */
  'ATTACHMENT_EXPIRED',
  /** The user cancelled the transfer. */
  'ATTACHMENT_CANCELLED',
  /** The organisation's policy does not allow this (saving, copying to the clipboard). */
  'ATTACHMENT_POLICY',
  /** The policy's virus scan (ClamAV) found something: the file cannot be opened or saved. */
  'ATTACHMENT_INFECTED',
  /** The policy requires a virus scan and it could not run: the file cannot be opened until it does. */
  'ATTACHMENT_SCAN_FAILED',
  /** Staged chunks out of order, or a staging id that is unknown, finished or discarded. */
  'ATTACHMENT_STAGING',
  /** The image could not be decoded or converted for display (a damaged HEIC, say). */
  'ATTACHMENT_UNREADABLE',
  /** A saved copy could not be written where the user chose; nothing was left there. */
  'ATTACHMENT_SAVE_FAILED',
  /** A saved copy could not be marked as downloaded from the internet (Zone.Identifier, quarantine): it was deleted. */
  'ATTACHMENT_MARK_FAILED',
  // Urgent messages (issue 19)
  /** An urgent message needs a reason from the organisation's list. */
  'URGENT_REASON_REQUIRED',
  // Anything else
  'INTERNAL',
] as const;

export const ErrorCodeSchema = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

/** The only shape an error takes when it crosses a boundary. */
export const SerializedErrorSchema = z.strictObject({
  code: ErrorCodeSchema,
  message: z.string().max(2000),
});
export type SerializedError = z.infer<typeof SerializedErrorSchema>;

/**
 * One line for logs. Logs carry codes and ids, never message text, names or key material:
 * callers must not put those in error messages in the first place.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' || typeof code === 'number' ? `[${String(code)}] ` : '';
    return `${prefix}${error.name}: ${error.message}`;
  }
  return `non-error thrown: ${typeof error}`;
}
