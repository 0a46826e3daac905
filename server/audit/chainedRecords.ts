/**
 * The records an append adds to the hash-chained audit log, whatever the store: numbered after the last
 * record, each linked to the one before, hashed as it will read back. Text is stored as UTF-8, which has no
 * lone surrogates, and PostgreSQL's text holds no NUL: type, actor and subject are hashed with U+FFFD in their
 * place, or the chain would not hold (and every store keeps the same record).
 * Details are stored with their keys sorted (as the chain has them): flat details are then exactly the
 * events.jsonl line's (`line`), which lets a store put the line together itself.
 */
import { detailsJson } from '../../shared/audit/recordChain';
import { GENESIS_HASH, recordHash, type AuditEvent, type AuditRecord } from './AuditRecord';

export interface ChainedRecord {
  readonly record: AuditRecord;
  /** The details as stored (keys sorted). */
  readonly details: string;
  /** Whether the stored details are the line's (flat). */
  readonly detailsLine: boolean;
}

const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/** Text as every store keeps it (record names, device names): a lone surrogate or a NUL as U+FFFD. */
export function storableText(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '\uFFFD');
}

/** `events` as records after `last` (the log's last record; none: the log is empty), all at time `at`. */
export function chainedRecords(events: readonly AuditEvent[], last: { seq: number; hash: string } | undefined, at: number): ChainedRecord[] {
  let seq = last?.seq ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  return events.map((event) => {
    seq++;
    const unhashed = { seq, at, type: storableText(event.type) as AuditEvent['type'], actor: storableText(event.actor), subject: storableText(event.subject), details: event.details, flagged: event.flagged ?? false, prevHash };
    const hash = recordHash(unhashed);
    prevHash = hash;
    const details = detailsJson(event.details);
    return { record: { ...unhashed, hash }, details: details.chain, detailsLine: details.chain === details.line };
  });
}

/** A record's details as a store read them back; a row whose details are not JSON (written outside the relay) is named, not a bare SyntaxError. */
export function storedDetails(seq: number | string, text: string): AuditRecord['details'] {
  try {
    return JSON.parse(text) as AuditRecord['details'];
  } catch {
    throw new Error(`audit record ${seq} cannot be read: its stored details are not JSON (the database was changed outside the relay)`);
  }
}
