/**
 * The relay audit log's hash chain: each record's `hash` is the SHA-256 of its canonical form, which
 * includes `prevHash`, the hash of the record before it (GENESIS_HASH for record 1). This is the one
 * definition of that rule: the relay hashes with it when it appends and when `audit check` runs, and
 * `rounds-audit verify` recomputes exported records with it. Pure: SHA-256 is passed in.
 */
import { hex } from './checkpoint';
import type { Hash } from './merkle';

export const GENESIS_HASH = '0'.repeat(64);

/** What a record's hash covers: everything but the hash itself. */
export interface ChainedRecord {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor: string;
  readonly subject: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly flagged: boolean;
  readonly prevHash: string;
}

const encoder = new TextEncoder();

/** The canonical bytes of a record (fixed field order, details' keys sorted, no whitespace) that its hash covers. */
export function canonicalRecord(record: ChainedRecord): string {
  const details = Object.fromEntries(Object.entries(record.details).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify([record.seq, record.at, record.type, record.actor, record.subject, details, record.flagged, record.prevHash]);
}

/** hash = SHA-256 (hex) over the canonical record, which includes the previous record's hash. */
export function recordHash(sha256: Hash, record: ChainedRecord): string {
  return hex(sha256(encoder.encode(canonicalRecord(record))));
}

const HASH = /^[0-9a-f]{64}$/;
/** Problems listed one by one before the rest are counted: a rewritten log should not print a million lines. */
const MAX_LISTED = 10;

/** An exported record that carries its place in the chain, checked field by field (it comes from a file). */
function chained(record: Readonly<Record<string, unknown>>): (ChainedRecord & { hash: string }) | null {
  const { seq, at, type, actor, subject, details, flagged, prevHash, hash } = record;
  if (typeof seq !== 'number' || typeof at !== 'number' || typeof type !== 'string' || typeof actor !== 'string' || typeof subject !== 'string') return null;
  if (details === null || typeof details !== 'object' || Array.isArray(details) || typeof flagged !== 'boolean') return null;
  if (typeof prevHash !== 'string' || !HASH.test(prevHash) || typeof hash !== 'string' || !HASH.test(hash)) return null;
  return { seq, at, type, actor, subject, details: details as Record<string, unknown>, flagged, prevHash, hash };
}

/**
 * The exported records' hash chain, as far as an export shows it: every record hashes to its `hash`,
 * record 1 starts from GENESIS_HASH, and each record links to the one before it wherever both are in the
 * export (a one-user export skips records: only consecutive seq numbers can be linked). `required`: every
 * record must carry its hash and prevHash (a relay log's do); otherwise records without them are skipped.
 * Returns each problem in plain words, the first broken record first.
 */
export function chainProblems(sha256: Hash, records: readonly object[], required: boolean): string[] {
  const problems: string[] = [];
  let before: (ChainedRecord & { hash: string }) | null = null;
  for (const raw of records as readonly Readonly<Record<string, unknown>>[]) {
    const record = chained(raw);
    const seq = String(raw.seq);
    if (!record) {
      if (required || 'hash' in raw || 'prevHash' in raw) problems.push(`record ${seq} does not carry a well-formed hash chain (seq, at, type, actor, subject, details, flagged, prevHash, hash)`);
      before = null;
      continue;
    }
    const { hash, ...content } = record;
    if (recordHash(sha256, content) !== hash) problems.push(`hash chain broken at record ${seq}: its content does not match its hash (the record was altered)`);
    else if (record.seq === 1 && record.prevHash !== GENESIS_HASH) problems.push('hash chain broken at record 1: it does not start the chain');
    else if (before && before.seq === record.seq - 1 && record.prevHash !== before.hash) problems.push(`hash chain broken at record ${seq}: it does not link to record ${before.seq} (a record was replaced, removed or inserted)`);
    before = record;
  }
  if (problems.length <= MAX_LISTED) return problems;
  return [...problems.slice(0, MAX_LISTED), `... and ${problems.length - MAX_LISTED} more records whose hash chain does not hold`];
}
