import { hash as nodeHash } from 'node:crypto';
import { GENESIS_HASH, canonicalRecord } from '../../shared/audit/recordChain';

/**
 * One entry of the relay's audit log. Metadata only: ids, sizes, times, reasons typed by an admin.
 * Never message content, never passwords or codes.
 */
export const AUDIT_EVENT_TYPES = [
  'account.created',
  'account.deactivated',
  'account.reactivated',
  'account.unlocked',
  /** `rounds-server user sso-only`: the account's password and authenticator forgotten; it signs in with the identity provider. */
  'account.sso_only',
  'account.locked',
  'account.inactive',
  'account.enrolled',
  /** An account a provisioning source (SCIM, LDAP sync, single sign-on, an admin command) created: its source and fields. */
  'user.provisioned',
  /** Directory fields of an account changed by a provisioning source or an admin command: which, and their new values. */
  'user.updated',
  /** SCIM deleted the account (after deactivating it): it is kept, deactivated, for the audit trail, and hidden from SCIM. */
  'user.deprovisioned',
  /** A SCIM group (care team or department) created, changed (name, members added and removed) or deleted: its source and what changed. */
  'group.provisioned',
  'group.updated',
  'group.deleted',
  /** `rounds-server scim token create/revoke`: a SCIM bearer token (its name; never the token). */
  'scim.token_created',
  'scim.token_revoked',
  /** SCIM requests refused for a missing, unknown or revoked token, by episode (per client address): first, then every tenfold count. */
  'scim.refused',
  /**
   * One directory sync run (LDAP / Active Directory): its run id and counts (read, created, updated, unchanged,
   * deactivated, reactivated, refused, skipped), or, flagged, `stopped` with the safety rule that stopped it.
   */
  'directory.synced',
  /** A user's own device set their presence (issue 19): status, end time, forward-to; whether a note was set, never its words. */
  'presence.changed',
  'login.success',
  'login.failure',
  'login.throttled',
  'credential.rejected',
  'emergency.issued',
  'emergency.used',
  'device.enrolled',
  'device.revoked',
  'keys.uploaded',
  'bundle.fetched',
  /** Bundle fetches refused by a rate limit, by episode (`episode`: started at once, ongoing at each tenfold count, ended with the totals). */
  'bundle.refused',
  'keys.refused',
  'envelope.accepted',
  /** Envelopes refused by a queue, share, rate, budget or storage limit, by episode (likewise). */
  'envelope.refused',
  'envelope.delivered',
  'envelope.expired',
  /** Attachment blobs (issue 20), by id and size only: uploaded and complete, fetched to the end by a device (once each), readers added (how many, never who), deleted (`reason`). */
  'blob.stored',
  'blob.fetched',
  'blob.readersAdded',
  /** Readers named only for an escalation ladder's rungs that never went, removed when the ladder was acknowledged (how many, never who). */
  'blob.readersRemoved',
  'blob.deleted',
  'audit.exported',
  'audit.export_refused',
  'audit.key_rotated',
  /** `audit check --rebuild-tree`: the stored Merkle tree dropped and grown again from the records (flagged). */
  'audit.tree_rebuilt',
  /**
   * The first record of the log a restore starts (flagged): the backup it came from, the log it replaces and
   * that log's last signed checkpoint, and the records of that log the restore lost (see server/backup.ts).
   */
  'audit.log_restored',
  /**
   * Issue 19: an acknowledgement of an urgent message, its signature verified with the acknowledging device's
   * identity key (who, when, which message, the statement's signature and that key: the log alone proves it).
   */
  'message.acknowledged',
  /** An urgent message's escalation ladder held by the relay: each rung's due time and recipients (never the text). */
  'escalation.held',
  /** A rung released into its recipients' queues at its time, nobody having acknowledged: the rung, how late, to whom. */
  'escalation.released',
  /** An acknowledgement stopped a ladder: how many rungs will never be released. */
  'escalation.cancelled',
  /** Past retention: how many finished ladders and recorded acknowledgements the relay deleted (the log keeps their story). */
  'escalation.purged',
  /** An on-call role created, or its name, department, time zone or backup changed (issue 19): the role's id and fields. */
  'role.created',
  'role.updated',
  /** Shifts of a role added or removed (in the app by a scheduler, or at the command line): the account, start, end and source of each. */
  'shift.added',
  'shift.removed',
  /**
   * An account deactivated (CLI, SCIM, directory sync, inactivity) while on a rota: its shifts not begun yet
   * removed and the one under way ended, so its roles fall to their backup (counts and role names only).
   */
  'shifts.vacated',
  /** A rota imported from a CSV or iCalendar file: the role, the span it covered, how many shifts it added and replaced (no file name). */
  'schedule.imported',
  /** `rounds-server user scheduler <username> --grant/--revoke`: the account may (no longer) change role schedules in the app. */
  'scheduler.granted',
  'scheduler.revoked',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  readonly type: AuditEventType;
  /**
   * Who did it: `admin:<os account>` (an admin command of the CLI, by the operating-system account that ran
   * it: `SUDO_USER`, else the login name; server/cli/adminActor.ts), `system` (the relay itself),
   * `anonymous@<address>` (before sign-in), or `<userId>.<deviceId>` (a signed-in device, including the
   * compliance role's exports through the API). Records written before admin commands named their account
   * say `admin`: they are never rewritten (they are leaves of the signed tree).
   */
  readonly actor: string;
  /** What it was done to (a user id, a device address, an envelope id), or empty. */
  readonly subject: string;
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
  /** Flagged events need a compliance officer's attention (emergency access, lockouts). */
  readonly flagged?: boolean;
}

export interface AuditRecord extends AuditEvent {
  readonly seq: number;
  readonly at: number;
  readonly flagged: boolean;
  readonly prevHash: string;
  readonly hash: string;
}

// The chain's rule (canonical form, genesis) is shared/audit/recordChain.ts: `rounds-audit verify` checks exported records by it.
export { GENESIS_HASH, canonicalRecord } from '../../shared/audit/recordChain';

/**
 * hash = SHA-256 over the canonical record, which includes the previous record's hash: shared/audit/recordChain's
 * `recordHash`, in one call of Node's (the UTF-8 bytes and the hex digits made in C++: two records a message, and
 * the JavaScript hex of 32 concatenations was a tenth of what a saturated relay allocated).
 */
export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  return nodeHash('sha256', canonicalRecord(record), 'hex');
}

export interface ChainCheck {
  readonly ok: boolean;
  readonly records: number;
  /** The hash of the last record checked: recorded outside the relay, it shows later that nothing was cut or rewritten. */
  readonly head?: string;
  /** The first record that does not match its hash or its predecessor, when not ok. */
  readonly brokenAt?: number;
  readonly reason?: string;
}

/** Checks that every record hashes to its stored hash and links to the one before, in order. */
export function checkChain(records: Iterable<AuditRecord>, expectedFirstPrev = GENESIS_HASH, expectedFirstSeq?: number): ChainCheck {
  let prev = expectedFirstPrev;
  let expectedSeq = expectedFirstSeq;
  let count = 0;
  for (const record of records) {
    if (expectedSeq !== undefined && record.seq !== expectedSeq) return { ok: false, records: count, brokenAt: record.seq, reason: `expected record ${expectedSeq}, found ${record.seq}` };
    if (record.prevHash !== prev) return { ok: false, records: count, brokenAt: record.seq, reason: 'does not link to the previous record' };
    const { hash, ...rest } = record;
    if (recordHash(rest) !== hash) return { ok: false, records: count, brokenAt: record.seq, reason: 'content does not match its hash' };
    prev = hash;
    expectedSeq = record.seq + 1;
    count++;
  }
  return { ok: true, records: count, head: prev };
}
