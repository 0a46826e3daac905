import { z } from 'zod';
import { MAX_ATTACHMENT_BYTES } from './attachmentContract';
import { RelayUrlSchema } from './wire/relay';

/** Reasons a hospital would recognise for interrupting a colleague now. */
export const DEFAULT_URGENT_REASONS = [
  'Deteriorating patient',
  'Critical result',
  'Medication safety',
  'Needs review within 15 minutes',
  'Discharge or transfer blocked',
] as const;

/**
 * The organisation's managed policy (`policy.json`, written by hospital IT and read at start). Every field
 * is optional in the file; a missing field takes the safe default shown. Unknown fields are refused, so
 * a misspelt field is reported instead of silently ignored. Documented field by field in the README.
 */
export const OrgPolicySchema = z.strictObject({
  /** The relay every profile uses; when set, the first-run screen shows it and it cannot be changed. */
  relayUrl: RelayUrlSchema.optional(),
  /**
   * A PEM file (absolute path) of the certificate authorities that issue the relay's certificate, trusted for
   * relay connections besides the public ones: for a relay whose certificate comes from the hospital's own CA.
   */
  relayCaFile: z.string().max(4096).regex(/^(\/|[A-Za-z]:\\|\\\\)/, 'must be an absolute path').optional(),
  /**
   * Longest inactivity (minutes) before the app locks. Users may choose shorter, never longer. Fractions
   * are allowed (0.05 is three seconds, for trying the lock out).
   */
  maxInactivityMinutes: z.number().min(0.05).max(240).default(15),
  /** After this many hours locked, unlocking needs the relay password and a TOTP code again. */
  signOutAfterLockedHours: z.number().min(0.25).max(168).default(12),
  /** Whether notifications may show who wrote and what (otherwise only "New message in Rounds"). */
  notificationPreviews: z.boolean().default(false),
  /** Hide the window from screenshots and screen sharing (setContentProtection). */
  contentProtection: z.boolean().default(true),
  /** Delete messages older than this many days from each workstation (null: keep). */
  retentionDays: z.number().int().min(1).max(36_500).nullable().default(null),
  /** Erase a local profile after this many wrong passphrases in a row (null: never). */
  wipeAfterFailedUnlocks: z.number().int().min(3).max(100).nullable().default(10),
  /** Urgent messages: re-notify every this many minutes until read, at most `urgentMaxReminders` times. */
  urgentReminderMinutes: z.number().min(0.5).max(60).default(2),
  urgentMaxReminders: z.number().int().min(0).max(100).default(10),
  /**
   * Urgent needs a reason (issue 19): the sender picks one line of this list, which travels inside the
   * end-to-end encrypted message (the relay only learns that a message was urgent, to count urgent use).
   */
  urgentReasons: z.array(z.string().trim().min(1).max(120)).min(1).max(30).default([...DEFAULT_URGENT_REASONS]),
  /**
   * The escalation ladder an urgent message to a person or role offers by default: minutes after sending at
   * which each later rung receives it if nobody has acknowledged (the sender chooses who, or the role's backup
   * and the next role). Fractions allowed, for trying it out.
   */
  escalationMinutes: z.array(z.number().min(0.02).max(1440)).max(5).default([5, 10]),
  /**
   * Application updates, under IT's control: `off` (never contact any update server), `notify` (tell the
   * user an update is available), `auto` (download it and install on the next restart).
   */
  updates: z.enum(['off', 'notify', 'auto']).default('off'),
  /**
   * Photos and documents (issue 20): the largest file that may be sent (default 100 MiB); incoming ones up to
   * `autoDownloadBytes` are fetched without asking (default 10 MiB; 0: never); whether a received file may be
   * saved to disk (marked as downloaded from the internet) or an image copied to the clipboard (both off by
   * default); and whether received files are scanned with ClamAV (`clamdscan`, or `clamdscanPath`) before
   * they can be opened.
   */
  attachments: z.strictObject({
    maxBytes: z.number().int().min(1).max(MAX_ATTACHMENT_BYTES).default(100 * 1024 * 1024),
    autoDownloadBytes: z.number().int().min(0).max(MAX_ATTACHMENT_BYTES).default(10 * 1024 * 1024),
    saveAllowed: z.boolean().default(false),
    clipboardAllowed: z.boolean().default(false),
    scanBeforeOpen: z.boolean().default(false),
    clamdscanPath: z.string().max(4096).regex(/^(\/|[A-Za-z]:\\|\\\\)/, 'must be an absolute path').optional(),
  }).prefault({}),
  /** The hospital's own update feed (an electron-builder `generic` feed); required unless updates are off. */
  updateFeedUrl: z.url({ protocol: /^https$/ }).max(2048).optional(),
}).refine((p) => p.updates === 'off' || p.updateFeedUrl !== undefined, { message: 'updateFeedUrl is required when updates is "notify" or "auto"', path: ['updateFeedUrl'] });
export type OrgPolicy = z.infer<typeof OrgPolicySchema>;

/** The policy when no file is present. */
export const DEFAULT_POLICY: OrgPolicy = OrgPolicySchema.parse({});
