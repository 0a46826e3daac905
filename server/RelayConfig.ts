import { DEFAULT_ARGON2, type Argon2Params } from './auth/passwords';
import { DEFAULT_THROTTLE, type ThrottlePolicy } from './auth/LoginThrottle';

/** Everything an operator can tune; the defaults are what the README documents. */
export interface RelayConfig {
  /** Largest envelope content accepted, in bytes of ciphertext (default 256 KiB). */
  readonly maxEnvelopeBytes: number;
  /** Undelivered envelopes are deleted after this many days (default 30). */
  readonly retentionDays: number;
  /** Accounts nobody signed in to for this many days are deactivated (default 90; 0 turns it off). */
  readonly inactivityDays: number;
  /** How long an enrollment code from `user add` stays valid (default 7 days). */
  readonly enrollmentCodeTtlMs: number;
  /** How long an emergency sign-in grant lasts (default 1 hour). */
  readonly emergencyGrantMs: number;
  /** The relay tells a device to upload more one-time keys below this count (default 25). */
  readonly keysLowThreshold: number;
  readonly throttle: ThrottlePolicy;
  readonly argon2: Argon2Params;
}

export const DEFAULT_CONFIG: RelayConfig = {
  maxEnvelopeBytes: 256 * 1024,
  retentionDays: 30,
  inactivityDays: 90,
  enrollmentCodeTtlMs: 7 * 24 * 3600_000,
  emergencyGrantMs: 3600_000,
  keysLowThreshold: 25,
  throttle: DEFAULT_THROTTLE,
  argon2: DEFAULT_ARGON2,
};
