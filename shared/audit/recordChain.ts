/**
 * The relay audit log's hash chain: each record's `hash` is the SHA-256 of its canonical form, which
 * includes `prevHash`, the hash of the record before it (GENESIS_HASH for record 1). This is the one
 * definition of that rule: the relay hashes with it when it appends and when `audit check` runs, and
 * `rounds-audit verify` recomputes exported records with it. Pure: SHA-256 is passed in.
 */
import { canonicalJson } from './canonicalJson';
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

/**
 * A record's details as the chain's form has them (top-level keys sorted, then JSON.stringify) and as the
 * exported line has them (canonicalJson: sorted at every level). Relay details are flat, so the two are one
 * string, computed once, without sorting when the keys are already in order.
 */
export function detailsJson(details: Readonly<Record<string, unknown>>): { readonly chain: string; readonly line: string } {
  const keys = Object.keys(details);
  let sorted = true;
  let flat = true;
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && !((keys[i - 1] as string) < (keys[i] as string))) sorted = false;
    const v = details[keys[i] as string];
    if (typeof v === 'object' && v !== null) flat = false;
  }
  const chain = sorted ? JSON.stringify(details) : JSON.stringify(Object.fromEntries(keys.sort().map((k) => [k, details[k]])));
  return { chain, line: flat ? chain : canonicalJson(details) };
}

/** The canonical bytes of a record (fixed field order, details' keys sorted, no whitespace) that its hash covers. */
export function canonicalRecord(record: ChainedRecord, details?: string): string {
  // The form is JSON.stringify([seq, at, type, actor, subject, sortedDetails, flagged, prevHash]). With the
  // details' keys already in order (as every exported line has them) V8 serialises the whole array in one
  // call, about twice as fast as the fields one by one; otherwise the details are sorted first.
  if (details === undefined && keysInOrder(record.details)) {
    return JSON.stringify([record.seq, record.at, record.type, record.actor, record.subject, record.details, record.flagged, record.prevHash]);
  }
  return `[${JSON.stringify(record.seq)},${JSON.stringify(record.at)},${JSON.stringify(record.type)},${JSON.stringify(record.actor)},${JSON.stringify(record.subject)},${details ?? detailsJson(record.details).chain},${String(record.flagged)},${JSON.stringify(record.prevHash)}]`;
}

/** Whether an object's own keys are in strictly ascending order (the chain's form sorts only the top level). */
function keysInOrder(value: Readonly<Record<string, unknown>>): boolean {
  let before: string | null = null;
  for (const key in value) {
    if (before !== null && !(before < key)) return false;
    before = key;
  }
  return true;
}

/**
 * A relay record's line in events.jsonl: the canonical JSON (keys sorted, no whitespace) of
 * { actor, at, details, flagged, hash, prevHash, seq, subject, type }, byte for byte what canonicalJson
 * gives for it, without sorting keys per record. It is the record's Merkle leaf.
 */
export function relayRecordLine(record: ChainedRecord & { readonly hash: string }, details = detailsJson(record.details).line): string {
  return `{"actor":${JSON.stringify(record.actor)},"at":${JSON.stringify(record.at)},"details":${details},"flagged":${String(record.flagged)},"hash":${JSON.stringify(record.hash)},"prevHash":${JSON.stringify(record.prevHash)},"seq":${JSON.stringify(record.seq)},"subject":${JSON.stringify(record.subject)},"type":${JSON.stringify(record.type)}}`;
}

/** hash = SHA-256 (hex) over the canonical record, which includes the previous record's hash. */
export function recordHash(sha256: Hash, record: ChainedRecord): string {
  return hex(sha256(encoder.encode(canonicalRecord(record))));
}

/** A SHA-256 in lowercase hex (a loop: a verifier tests two per record, and a regular expression costs more). */
function isHash(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = value.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}
/** Problems listed one by one before the rest are counted: a rewritten log should not print a million lines. */
const MAX_LISTED = 10;

/** An exported record that carries its place in the chain, checked field by field (it comes from a file). */
function chained(record: Readonly<Record<string, unknown>>): (ChainedRecord & { hash: string }) | null {
  const { seq, at, type, actor, subject, details, flagged, prevHash, hash } = record;
  if (typeof seq !== 'number' || typeof at !== 'number' || typeof type !== 'string' || typeof actor !== 'string' || typeof subject !== 'string') return null;
  if (details === null || typeof details !== 'object' || Array.isArray(details) || typeof flagged !== 'boolean') return null;
  // `hash` is only a string here: inspectChained tells a malformed one from an altered record when it does not match.
  if (!isHash(prevHash) || typeof hash !== 'string') return null;
  return { seq, at, type, actor, subject, details: details as Record<string, unknown>, flagged, prevHash, hash };
}

/** What one record shows of the chain by itself (inspectChained); whether it links to the record before it needs that record. */
export interface ChainLocal {
  /** The record's chain fields, or null when it does not carry a well-formed chain. */
  readonly record: (ChainedRecord & { hash: string }) | null;
  /** 'malformed': no well-formed chain where one is required; 'quiet': none and none expected; 'altered': its content is not its hash; 'not-genesis': record 1 that does not start the chain. */
  readonly finding: 'malformed' | 'quiet' | 'altered' | 'not-genesis' | null;
}

/**
 * The checks of one exported record that need no other record: its chain fields are well formed, it hashes
 * to its `hash`, record 1 starts from GENESIS_HASH. `textHash`: SHA-256 of a string's UTF-8 as hex, where
 * the platform does it in one call (Node's crypto.hash).
 */
export function inspectChained(raw: Readonly<Record<string, unknown>>, required: boolean, sha256: Hash, textHash?: (text: string) => string): ChainLocal {
  const record = chained(raw);
  if (!record) return { record: null, finding: required || 'hash' in raw || 'prevHash' in raw ? 'malformed' : 'quiet' };
  // canonicalRecord reads the chained fields only: the record's own hash is not part of it.
  const computed = textHash ? textHash(canonicalRecord(record)) : recordHash(sha256, record);
  // A match is lowercase hex by construction, so only a mismatch needs the form of `hash` tested.
  if (computed !== record.hash) return isHash(record.hash) ? { record, finding: 'altered' } : { record: null, finding: 'malformed' };
  return { record, finding: record.seq === 1 && record.prevHash !== GENESIS_HASH ? 'not-genesis' : null };
}

/** The chain's problems in plain words, the first broken record first, the rest counted past MAX_LISTED. */
export class ChainProblems {
  readonly #problems: string[] = [];
  #count = 0;

  note(finding: 'malformed' | 'altered' | 'not-genesis' | 'unlinked', seq: string, beforeSeq?: number): void {
    this.#count++;
    if (this.#problems.length >= MAX_LISTED) return;
    this.#problems.push(finding === 'malformed' ? `record ${seq} does not carry a well-formed hash chain (seq, at, type, actor, subject, details, flagged, prevHash, hash)`
      : finding === 'altered' ? `hash chain broken at record ${seq}: its content does not match its hash (the record was altered)`
        : finding === 'not-genesis' ? 'hash chain broken at record 1: it does not start the chain'
          : `hash chain broken at record ${seq}: it does not link to record ${String(beforeSeq)} (a record was replaced, removed or inserted)`);
  }

  list(): string[] {
    return this.#count <= MAX_LISTED ? [...this.#problems] : [...this.#problems, `... and ${this.#count - MAX_LISTED} more records whose hash chain does not hold`];
  }
}

/**
 * The exported records' hash chain, as far as an export shows it, checked a record at a time: every record
 * hashes to its `hash`, record 1 starts from GENESIS_HASH, and each record links to the one before it
 * wherever both are in the export (a one-user export skips records: only consecutive seq numbers can be
 * linked). `required`: every record must carry its hash and prevHash (a relay log's do); otherwise records
 * without them are skipped. `problems()` gives each problem in plain words, the first broken record first.
 */
export class ChainChecker {
  readonly #sha256: Hash;
  readonly #textHash: ((text: string) => string) | undefined;
  readonly #required: boolean;
  readonly #problems = new ChainProblems();
  #before: (ChainedRecord & { hash: string }) | null = null;

  /** `textHash`: SHA-256 of a string's UTF-8, as hex, where the platform does it in one call (Node's crypto.hash). */
  constructor(sha256: Hash, required: boolean, textHash?: (text: string) => string) {
    this.#sha256 = sha256;
    this.#textHash = textHash;
    this.#required = required;
  }

  add(raw: Readonly<Record<string, unknown>>): void {
    const { record, finding } = inspectChained(raw, this.#required, this.#sha256, this.#textHash);
    const seq = String(raw.seq);
    const before = this.#before;
    this.#before = record;
    if (finding === 'quiet') return;
    if (finding) this.#problems.note(finding, seq);
    else if (record && before && before.seq === record.seq - 1 && record.prevHash !== before.hash) this.#problems.note('unlinked', seq, before.seq);
  }

  problems(): string[] {
    return this.#problems.list();
  }
}
