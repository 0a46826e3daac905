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
  /** What one recipient device's queue may hold, and how fast one device may send (see DEFAULT_CONFIG). */
  readonly delivery: DeliveryLimits;
  /** Prekey bundle fetches: how many per hour one device may make, for one user, and of one user by anyone. */
  readonly keyFetches: KeyFetchLimits;
  /** A run of refusals of one kind for one device ends after this long without another; then it is audited once. */
  readonly refusalEpisodeQuietMs: number;
  readonly timeouts: ConnectionTimeouts;
}

export interface DeliveryLimits {
  /** Envelopes waiting in one recipient device's queue (a sender is refused with RECIPIENT_QUEUE_FULL past it). */
  readonly maxQueuedEnvelopes: number;
  /** Bytes of ciphertext waiting in one recipient device's queue. */
  readonly maxQueuedBytes: number;
  /** Envelopes one device may send per minute (a burst of this many, then refilled evenly; SEND_RATE_LIMITED). */
  readonly sendEnvelopesPerMinute: number;
  /** Bytes of ciphertext one device may send per minute (likewise). */
  readonly sendBytesPerMinute: number;
}

export interface KeyFetchLimits {
  /** Bundle fetches one device may make per hour, of anyone (a burst of this many, then refilled evenly). */
  readonly perDevicePerHour: number;
  /** Fetches of one user's bundles by one device per hour: what actually stops one device draining a colleague's keys. */
  readonly perPeerPerHour: number;
  /** Fetches of one user's bundles per hour by all devices together. */
  readonly perTargetPerHour: number;
}

/**
 * How long a connection may take over each part of the exchange before the relay closes it. Every
 * listener (HTTP on loopback, HTTPS) applies them; sockets upgraded to WebSocket are exempt and kept
 * honest by the delivery hub's heartbeat instead.
 */
export interface ConnectionTimeouts {
  /** From connecting (TLS handshake included) to the end of the request headers (default 10 s). */
  readonly headersMs: number;
  /** Without a byte in either direction, at any point of an HTTP exchange (default 120 s). */
  readonly idleMs: number;
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
  /*
   * Sized so that no hospital hits them in normal use, while one account can no longer fill the disk:
   * - A queue: a clinician offline over a long weekend (4 days) in several busy care teams gets perhaps
   *   1,500 envelopes a day (texts, receipts, sender-key shares); 50,000 is 8 times that, and covers a
   *   three-week absence within the 30-day retention. A text envelope is about 1 KiB (padded), so 128 MiB
   *   leaves room for an average of 2.6 KiB, or 500 envelopes at the 256 KiB maximum. A relay with 5,000
   *   devices could still be asked for 640 GiB in the worst case: the sender limits below bound how fast.
   * - Sending: one care-team message goes to every member device at once; the largest team (500 members
   *   with 2 devices each) takes 1,000 envelopes, 2,000 with new sender keys. 12,000 a minute is several
   *   such messages back to back, far beyond typing speed; 32 MiB a minute is a dozen of the largest
   *   requests the relay accepts (1,000 envelopes, a few MiB), yet a device flooding a colleague is slowed
   *   to about 0.5 MiB/s after its first 32 MiB (the finding of issue 13 was 22 MiB/s for 13 s).
   */
  delivery: {
    maxQueuedEnvelopes: 50_000,
    maxQueuedBytes: 128 * 1024 * 1024,
    sendEnvelopesPerMinute: 12_000,
    sendBytesPerMinute: 32 * 1024 * 1024,
  },
  /*
   * A client fetches a user's bundles only when it has no session with one of their devices: on first
   * contact, and when they add a workstation. A new device joining care teams fetches every member once
   * (1,000 covers two teams of the largest size in an hour); a newly enrolled colleague is fetched by
   * every member of their teams (1,000). One device fetching one user 12 times an hour is already more
   * than a client does (it then has sessions with all of their devices); 40 fetches drained a stock of 20
   * one-time keys. A drained stock degrades, it does not break: the last-resort Kyber key and the signed
   * prekey still start sessions, and the owner's client refills the stock when it hears keysLow.
   */
  keyFetches: { perDevicePerHour: 1_000, perPeerPerHour: 12, perTargetPerHour: 1_000 },
  refusalEpisodeQuietMs: 10 * 60_000,
  timeouts: { headersMs: 10_000, idleMs: 120_000 },
};
