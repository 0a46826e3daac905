import { DEFAULT_ARGON2, type Argon2Params } from './auth/argon2Params';
import { DEFAULT_THROTTLE, type ThrottlePolicy } from './auth/LoginThrottle';
import type { SiemConfig } from './audit/siem/SiemConfig';
import type { LdapSyncConfig } from './directory/ldapSyncConfig';
import type { OidcConfig } from './auth/oidc/OidcConfig';
import type { RoleGroupMap } from './roles/directoryRoleHolders';

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
  /** What one recipient device's queue may hold (and one sender's share of it), and how much one device and one account may send. */
  readonly delivery: DeliveryLimits;
  /** Prekey bundle fetches: how many per hour one account may make, and of one colleague. */
  readonly keyFetches: KeyFetchLimits;
  /**
   * A run of refusals of one kind for one account ends after this long without another; its first refusal
   * is audited at once, its totals when it ends.
   */
  readonly refusalEpisodeQuietMs: number;
  /**
   * Below this much free space on the data directory's file system the relay refuses new envelopes
   * (RELAY_STORAGE_FULL, with Retry-After) and keeps the rest for what must still be written: deliveries and
   * their acknowledgements, sign-ins, the audit log (default 1 GiB).
   */
  readonly minFreeDiskBytes: number;
  readonly timeouts: ConnectionTimeouts;
  /** Attachment blobs (issue 20): their size, each account's share of the relay, and when they go. */
  readonly blobs: BlobLimits;
  /** When the relay sheds new WebSocket connects with RELAY_BUSY (503, Retry-After) rather than queue them. */
  readonly admission: ConnectAdmissionLimits;
  /**
   * Where the audit log is streamed as it is appended (syslog over TLS, or JSON lines to a file), from the
   * `siem` section of the config file (`serve --config`); none by default. server/audit/siem/SiemStream.ts.
   */
  readonly siem?: SiemConfig;
  /**
   * The LDAP / Active Directory the relay syncs accounts from on a timer (every `syncIntervalMinutes`, the first
   * run shortly after it starts), from the `directory.ldap` section of the config file; none by default.
   */
  readonly ldapSync?: LdapSyncConfig;
  /**
   * Sign-in with the hospital's identity provider (OpenID Connect), from the `oidc` section of the config file;
   * none by default (then /v1/sso/* answer NOT_FOUND). The client secret stays in its file until the relay starts.
   */
  readonly oidc?: OidcConfig;
  /**
   * SCIM groups whose members hold on-call roles standing (`scim.roleGroups` in the config file: a group's
   * displayName or externalId to a role's name); server/roles/directoryRoleHolders.ts. None by default.
   */
  readonly scimRoleGroups?: RoleGroupMap;
}

export interface BlobLimits {
  /** Largest blob, in bytes of ciphertext (PAYLOAD_TOO_LARGE above it; default 128 MiB: a 100 MiB file and its overhead). */
  readonly maxBlobBytes: number;
  /** What one account's blobs may hold on the relay together, uploads under way included (BLOB_QUOTA_EXCEEDED; default 2 GiB). */
  readonly accountQuotaBytes: number;
  /** A blob every device it was for has fetched is deleted this long after the last fetch (default 24 hours). */
  readonly fetchedGraceMs: number;
  /** An upload nobody continued for this long is deleted (default 24 hours). */
  readonly abandonedAfterMs: number;
  /** Blob requests (uploads, downloads, status) one device may make a minute (BLOB_RATE_LIMITED past it; default 600). */
  readonly requestsPerDeviceMinute: number;
  /** Blob bytes one device may move a minute, up and down together (BLOB_RATE_LIMITED past it; default 2 GiB). */
  readonly bytesPerDeviceMinute: number;
  /** Uploads and downloads one device may have under way on one relay instance at once (BLOB_RATE_LIMITED past it; default 4). */
  readonly maxTransfersPerDevice: number;
  /**
   * Blobs stop (RELAY_STORAGE_FULL) this far above minFreeDiskBytes, so that attachments never take the room
   * kept for messages, sign-ins and the audit log (default 1 GiB).
   */
  readonly freeDiskHeadroomBytes: number;
}

export interface DeliveryLimits {
  /** Envelopes waiting in one recipient device's queue (a sender is refused with RECIPIENT_QUEUE_FULL past it). */
  readonly maxQueuedEnvelopes: number;
  /** Bytes of ciphertext waiting in one recipient device's queue. */
  readonly maxQueuedBytes: number;
  /**
   * The share of each recipient device's queue, in envelopes and in bytes, that one sending account may
   * fill (percent; the recipient's own account is held only to the whole queue): past it that sender is
   * refused with RECIPIENT_QUEUE_FULL and `share: 'sender'`, while others still reach the device.
   */
  readonly senderSharePercent: number;
  /** Envelopes one device may send per minute (a burst of this many, then refilled evenly; SEND_RATE_LIMITED). */
  readonly sendEnvelopesPerMinute: number;
  /** Bytes of ciphertext one device may send per minute (likewise). */
  readonly sendBytesPerMinute: number;
  /** Envelopes all devices of one account together may send per minute (likewise). */
  readonly accountEnvelopesPerMinute: number;
  /** Bytes of ciphertext all devices of one account together may send per minute (likewise). */
  readonly accountBytesPerMinute: number;
  /**
   * Envelopes one account may send per day: a day's budget, refilled evenly over the day (SEND_RATE_LIMITED
   * with Retry-After). It bounds what one account can make the relay write for good: each envelope leaves
   * one `envelope.accepted` audit record and, acknowledged, one `envelope.delivered`.
   */
  readonly accountEnvelopesPerDay: number;
}

/**
 * Per requesting account, never per target: a budget that every requester shares would let a few of them
 * lock everyone out of starting sessions with a colleague.
 */
export interface KeyFetchLimits {
  /** Bundle fetches all devices of one account together may make per hour, of anyone (a burst of this many, then refilled evenly). */
  readonly perAccountPerHour: number;
  /** Fetches of one colleague's bundles by all devices of one account per hour: what stops one account draining a colleague's keys. */
  readonly perPairPerHour: number;
  /**
   * Key uploads one device may make per hour. A client uploads when it enrolls, when its signed prekey is
   * due (every few days) and when the relay says keysLow (a batch of 100 at a time): a few an hour at most.
   */
  readonly uploadsPerDeviceHour: number;
  /** Key uploads all devices of one account may make per hour together (a device cap alone multiplies with up to 127 devices). */
  readonly uploadsPerAccountHour: number;
  /** One-time keys of each kind (EC, Kyber) the relay holds per device at most (a Kyber key is about 1.6 KB). */
  readonly maxStoredPerKind: number;
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

/** Load shedding at `/v1/ws` (server/http/ConnectAdmission.ts): a reconnect storm is spread out, not queued. */
export interface ConnectAdmissionLimits {
  /** Connects whose authentication is under way at once (default 256). */
  readonly maxConnecting: number;
  /** How late the event loop may run before new connects are shed (default 200 ms). */
  readonly maxEventLoopLagMs: number;
  /** Shed connects are given return times this many a second, so they come back spread out (default 1,000). */
  readonly connectsPerSecond: number;
  /** The longest Retry-After a shed connect is given (default 30 s). */
  readonly maxRetryAfterSeconds: number;
  /**
   * Connections the kernel holds for the relay to accept (listen backlog; default 4,096, capped by
   * net.core.somaxconn). Node's 511 overflows in a reconnect storm: the kernel then drops connects, which
   * clients retry only after 1, 3, 7, 15, 31, 63 s, and some never reach the relay to hear Retry-After.
   */
  readonly listenBacklog: number;
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
   * - One sender's share of a queue: 20% (10,000 envelopes, 25.6 MiB) holds what the chattiest colleague
   *   sends one device (a few hundred envelopes a day) over the whole 30-day retention, while it takes five
   *   accounts to fill a colleague's queue (one took all of it before, and locked everyone else out).
   * - One account: its workstations together may send twice what one may (someone at two workstations at
   *   once); before, each of up to 127 workstations had its own 12,000 a minute.
   * - One account's day: the busiest clinician we can picture, a charge nurse in six teams one of which is
   *   a 500-member hospital-wide team, at two or three workstations, sends 40 messages a day to the large
   *   team (1,000 envelopes each: 40,000), 200 to ward teams of 40 (16,000) and 100 direct ones (400);
   *   receives about 2,100 messages, each acknowledged by a delivery receipt from both her workstations to
   *   the sender's two devices and her own two (16,800), and read receipts, at worst one per message
   *   (8,400); and shares new sender keys when the large team changes (5 x 1,000). About 87,000 envelopes:
   *   200,000 is more than twice that. An account thus adds at most about 400,000 envelope records (150 MiB)
   *   a day to the audit log (key uploads and bundle fetches have their own hourly limits) (twice that on a flood's first day: the full budget, then its refill), where one device
   *   could add 17.5 GiB a day before.
   */
  delivery: {
    maxQueuedEnvelopes: 50_000,
    maxQueuedBytes: 128 * 1024 * 1024,
    senderSharePercent: 20,
    sendEnvelopesPerMinute: 12_000,
    sendBytesPerMinute: 32 * 1024 * 1024,
    accountEnvelopesPerMinute: 24_000,
    accountBytesPerMinute: 64 * 1024 * 1024,
    accountEnvelopesPerDay: 200_000,
  },
  /*
   * A client fetches a user's bundles only when it has no session with one of their devices: on first
   * contact, and when they add a workstation. A new workstation joining care teams fetches every member
   * once: 2,000 an hour covers two new workstations of one account joining two teams of the largest size.
   * Each workstation fetches a colleague once (a fetch returns all of their devices) and again when they
   * add one: 12 an hour per account and colleague covers six workstations doing both, while no account
   * takes more than 12 one-time keys an hour from each of a colleague's devices (40 fetches drained a stock
   * of 20). Nothing is limited per colleague fetched: a newly enrolled colleague is fetched by every
   * member of their teams at once, and a budget shared by all requesters let a few of them lock everyone
   * out. A drained stock degrades, it does not break: the last-resort Kyber key and the signed prekey
   * still start sessions, and the owner's client refills the stock when it hears keysLow.
   */
  keyFetches: { perAccountPerHour: 2_000, perPairPerHour: 12, uploadsPerDeviceHour: 60, uploadsPerAccountHour: 240, maxStoredPerKind: 1_000 },
  refusalEpisodeQuietMs: 10 * 60_000,
  // Room for about 2.5 million audit records (about 400 bytes each) of deliveries and sign-ins, and for
  // SQLite's own checkpoints, while the operator frees space.
  minFreeDiskBytes: 1024 * 1024 * 1024,
  timeouts: { headersMs: 10_000, idleMs: 120_000 },
  // A ward's photos and reports: a clinician sending twenty 100 MiB files that nobody has fetched yet is far
  // beyond a day's use, and still less than a thousandth of a modest relay disk per account. Blobs also go
  // with the envelopes' retention (retentionDays) at the latest.
  // One device: a 128 MiB blob is 32 chunks; the client moves one transfer at a time, so four at once and 2 GiB a
  // minute never slow it, while a stolen credential cannot hold the relay's memory or bandwidth.
  blobs: {
    maxBlobBytes: 128 * 1024 * 1024, accountQuotaBytes: 2 * 1024 ** 3, fetchedGraceMs: 24 * 3600_000, abandonedAfterMs: 24 * 3600_000,
    requestsPerDeviceMinute: 600, bytesPerDeviceMinute: 2 * 1024 ** 3, maxTransfersPerDevice: 4, freeDiskHeadroomBytes: 1024 ** 3,
  },
  admission: { maxConnecting: 256, maxEventLoopLagMs: 200, connectsPerSecond: 1000, maxRetryAfterSeconds: 30, listenBacklog: 4096 },
};
