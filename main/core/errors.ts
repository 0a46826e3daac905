import type { ErrorCode, SerializedError } from '../../shared/errors';
import type { DeviceAddress, UserId } from '../../shared/ids';
import type { PassphraseProblem, PassphraseRule } from '../../shared/passphrasePolicy';

/**
 * Every error the core throws on purpose is a RoundsError with a stable `code`. Messages name ids and
 * codes only: never message text, names, passphrases or key material (they end up in logs).
 */
export class RoundsError extends Error {
  readonly code: ErrorCode;
  /** When trying again makes sense, and not before: the UI counts down from it. */
  readonly retryAfterSeconds: number | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.name = new.target.name;
  }
  toJSON(): SerializedError {
    return { code: this.code, message: this.message };
  }
}

export class MalformedPayloadError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('MALFORMED_PAYLOAD', `malformed payload: ${reason}`, options);
  }
}

export class UnsupportedPayloadVersionError extends RoundsError {
  constructor(readonly version: number) {
    super('UNSUPPORTED_PAYLOAD_VERSION', `payload version ${version} is not supported by this client`);
  }
}

export class PayloadTooLargeError extends RoundsError {
  constructor(size: number, limit: number) {
    super('PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds the limit of ${limit}`);
  }
}

export class MalformedEnvelopeError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('MALFORMED_ENVELOPE', `malformed envelope: ${reason}`, options);
  }
}

/** The ciphertext failed to authenticate or parse: tampered, truncated, or not meant for our keys. */
export class InvalidMessageError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('INVALID_MESSAGE', `message rejected: ${reason}`, options);
  }
}

/** A message we have already decrypted once (a replay, or a duplicate delivery). */
export class DuplicateMessageError extends RoundsError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('DUPLICATE_MESSAGE', `duplicate message: ${detail}`, options);
  }
}

export class WrongRecipientError extends RoundsError {
  constructor(intended: DeviceAddress, self: DeviceAddress) {
    super('WRONG_RECIPIENT', `envelope for ${intended.userId}.${intended.deviceId} delivered to ${self.userId}.${self.deviceId}`);
  }
}

/** No session with these devices yet: fetch their prekey bundles and call startSession. */
export class NoSessionError extends RoundsError {
  constructor(readonly addresses: readonly DeviceAddress[], options?: { cause?: unknown }) {
    super('NO_SESSION', `no session with ${addresses.map((a) => `${a.userId}.${a.deviceId}`).join(', ')}`, options);
  }
}

export class NoSenderKeyError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('NO_SENDER_KEY', `care-team message cannot be read: ${reason}`, options);
  }
}

export class InvalidBundleError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('INVALID_BUNDLE', `prekey bundle rejected: ${reason}`, options);
  }
}

/** The contact's identity key changed and the user has not acknowledged it: sending is refused. */
export class IdentityChangedError extends RoundsError {
  constructor(readonly userId: UserId, readonly addresses: readonly DeviceAddress[], options?: { cause?: unknown }) {
    super('IDENTITY_CHANGED', `identity of ${userId} changed; acknowledge the new safety number before sending`, options);
  }
}

export class NoLocalIdentityError extends RoundsError {
  constructor(message = 'this device has no identity yet; create one first') {
    super('NO_LOCAL_IDENTITY', message);
  }
}

export class SafetyNumberMismatchError extends RoundsError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('SAFETY_NUMBER_MISMATCH', reason, options);
  }
}

export class KeyIdsExhaustedError extends RoundsError {
  constructor(kind: string) {
    super('KEY_IDS_EXHAUSTED', `no ${kind} key ids left`);
  }
}

/** A new workstation passphrase breaks the passphrase policy: which rules, and what to do, in plain words. */
export class PassphrasePolicyError extends RoundsError {
  readonly rules: readonly PassphraseRule[];
  readonly issues: readonly string[];
  constructor(problems: readonly PassphraseProblem[]) {
    super('PASSPHRASE_POLICY', `the passphrase does not meet the policy (${problems.map((p) => p.rule).join(', ')})`);
    this.rules = problems.map((p) => p.rule);
    this.issues = problems.map((p) => p.message);
  }
}

/** A data API was used after lock(): the database is closed and its key overwritten. */
export class ProfileLockedError extends RoundsError {
  constructor() {
    super('PROFILE_LOCKED', 'the profile is locked; unlock it with the passphrase');
  }
}

/** The passphrase does not unwrap the profile's key (counted towards the throttle and the wipe limit). */
export class WrongPassphraseError extends RoundsError {
  constructor() {
    super('WRONG_PASSPHRASE', 'the passphrase is not correct');
  }
}

/** The policy's limit of wrong passphrases in a row was reached: the profile was erased. */
export class ProfileWipedError extends RoundsError {
  constructor(attempts: number) {
    super('PROFILE_WIPED', `the profile was erased after ${attempts} wrong passphrases, as the organisation's policy requires`);
  }
}

/** Too many wrong passphrases in a row: the next attempt has to wait. */
export class UnlockThrottledError extends RoundsError {
  constructor(retryAfterSeconds: number) {
    super('UNLOCK_THROTTLED', `too many wrong passphrases; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof RoundsError) return error.toJSON();
  return { code: 'INTERNAL', message: 'internal error' };
}
