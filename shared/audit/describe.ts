/**
 * Audit records in words: who did what to whom, with what outcome, as one plain-English sentence per
 * record ("Dr. Anna Smith (asmith, clinician) signed in at Ward 4 nurses' station"). Used by report.html
 * and events.csv. Pure and streaming: an export describes a million records with one AuditDescriber.
 *
 * Relay records carry `actor`, `subject` and `details` (server/audit/AuditRecord.ts); a workstation's
 * records carry only `details`, and their actor is the workstation's own user (the log's owner). Nothing
 * here prints JSON, hashes or message content: the records hold none of the latter, and the former are
 * named in words or left to events.jsonl.
 */
import { personLabel, type AuditNames, type AuditParty, type AuditPerson } from './people';
import { LocalTimes } from './localTimes';
import { relaySentence } from './relaySentences';
import { workstationSentence } from './workstationSentences';
import { capitalise } from './words';

/** How an event ended, for the outcome column and the report's counts. */
export type AuditOutcome = 'success' | 'failure' | 'refused' | 'locked' | 'notice';

/** An exported record as the describer reads it (relay records have actor/subject; workstation records only details). */
export interface DescribedRecord {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly actor?: unknown;
  readonly subject?: unknown;
  readonly details?: unknown;
  readonly flagged?: unknown;
}

/** Whose workstation log this is (a workstation bundle): its records' actor. */
export interface AuditLogOwner {
  readonly username: string;
  readonly displayName: string;
  readonly deviceName: string;
}

export interface AuditFacts {
  readonly actor: AuditParty;
  readonly subject: AuditParty;
  /** The other side of a message: its recipients for a sent one, its sender for a delivered or received one. */
  readonly counterparties: readonly AuditParty[];
  readonly outcome: AuditOutcome;
  readonly flagged: boolean;
}

/** What a sentence is built from (relaySentences.ts, workstationSentences.ts). */
export interface SentenceContext {
  readonly record: DescribedRecord;
  readonly facts: AuditFacts;
  readonly details: Details;
  readonly names: AuditNames;
  readonly times: LocalTimes;
}

/** Scalar values of a record's details, read safely whatever was stored. */
export class Details {
  readonly #d: Readonly<Record<string, unknown>>;
  constructor(details: unknown) {
    this.#d = details !== null && typeof details === 'object' && !Array.isArray(details) ? details as Record<string, unknown> : {};
  }

  has(key: string): boolean {
    const v = this.#d[key];
    return v !== undefined && v !== null && v !== '';
  }

  /** A string value (numbers and booleans as written), or '' when absent. Long values are cut. */
  text(key: string): string {
    const v = this.#d[key];
    const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
    return s.length > 300 ? `${s.slice(0, 300)}…` : s;
  }

  /** A number (numeric strings too), or null. */
  number(key: string): number | null {
    const v = this.#d[key];
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    return Number.isFinite(n) ? n : null;
  }

  flag(key: string): boolean {
    return this.#d[key] === true || this.#d[key] === 'true';
  }

  /** Every scalar entry, for records of a type this version does not know. */
  entries(): [string, string][] {
    return Object.entries(this.#d).flatMap(([k, v]) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? [[k, this.text(k)] as [string, string]] : []));
  }
}

/** Envelopes remembered between their acceptance and their delivery, so a delivery names its sender. */
const MAX_ENVELOPES = 65_536;

/** Types whose subject is an envelope id (the others name a user, a workstation, or no one). */
const ENVELOPE_SUBJECT = new Set(['envelope.accepted', 'envelope.delivered']);

const REFUSED = /\.refused$|^credential\.rejected$|^login\.throttled$|^audit\.export_refused$|^message\.rejected$/;
const FAILED = /^login\.failure$|^session\.unlockFailed$|^unlock\.failed$/;

/** Reads records in order: facts (parties, outcome) for each, sentences for those shown. */
export class AuditDescriber {
  readonly #senders = new Map<string, string>();
  /** The envelopes in #senders, oldest overwritten first (Map's own first key is slow to find after many deletes). */
  readonly #envelopes: string[] = [];
  #nextEnvelope = 0;
  readonly #owner: AuditParty;

  constructor(readonly names: AuditNames, readonly times: LocalTimes = new LocalTimes(names.directory.timeZone), owner?: AuditLogOwner) {
    this.#owner = ownerParty(owner, owner ? names.personByUsername(owner.username) : null);
  }

  facts(record: DescribedRecord): AuditFacts {
    const details = new Details(record.details);
    const relay = typeof record.actor === 'string';
    const actor = relay ? this.names.party(record.actor as string) : this.#owner;
    const subject = this.names.party(typeof record.subject === 'string' ? record.subject : '', ENVELOPE_SUBJECT.has(record.type));
    return { actor, subject, counterparties: this.#counterparties(record, details, actor), outcome: outcomeOf(record.type), flagged: record.flagged === true };
  }

  /** One sentence about the record, in plain words. */
  sentence(record: DescribedRecord, facts: AuditFacts = this.facts(record)): string {
    const context: SentenceContext = { record, facts, details: new Details(record.details), names: this.names, times: this.times };
    const said = typeof record.actor === 'string' ? relaySentence(context) : workstationSentence(context);
    return said ?? genericSentence(context);
  }

  #counterparties(record: DescribedRecord, details: Details, actor: AuditParty): AuditParty[] {
    switch (record.type) {
      case 'envelope.accepted': {
        const subject = typeof record.subject === 'string' ? record.subject : '';
        if (subject !== '' && !this.#senders.has(subject)) {
          const oldest = this.#envelopes[this.#nextEnvelope];
          if (oldest !== undefined) this.#senders.delete(oldest);
          this.#envelopes[this.#nextEnvelope] = subject;
          this.#nextEnvelope = (this.#nextEnvelope + 1) % MAX_ENVELOPES;
        }
        if (subject !== '') this.#senders.set(subject, actor.raw);
        return details.has('recipient') ? [this.names.party(details.text('recipient'))] : [];
      }
      case 'envelope.delivered': {
        const sender = details.has('sender') ? details.text('sender') : this.#senders.get(typeof record.subject === 'string' ? record.subject : '');
        return sender ? [this.names.party(sender)] : [];
      }
      case 'message.sent':
        return addresses(details.text('recipients')).map((a) => this.names.party(a));
      case 'message.received':
      case 'message.rejected':
        return details.has('sender') ? [this.names.party(details.text('sender'))] : [];
      default:
        return [];
    }
  }
}

function outcomeOf(type: string): AuditOutcome {
  if (FAILED.test(type)) return 'failure';
  if (REFUSED.test(type)) return 'refused';
  if (type === 'account.locked') return 'locked';
  return 'success';
}

const addresses = (list: string) => list.split(/\s+/).filter((a) => a !== '').slice(0, 50);

/** The workstation's user: the directory's person of that username when there is one (so the report counts them once). */
function ownerParty(owner: AuditLogOwner | undefined, person: AuditPerson | null): AuditParty {
  const who = person ? personLabel(person) : owner ? (owner.displayName ? `${owner.displayName} (${owner.username})` : owner.username) : "this workstation's user";
  return {
    kind: 'workstation', raw: '', userId: person?.userId ?? null, deviceId: null, person, username: owner?.username ?? null, displayName: owner?.displayName || person?.displayName || null,
    workstation: owner?.deviceName ?? null, address: null, osAccount: null, label: who, short: owner ? owner.displayName || owner.username : who,
  };
}

/** Values that would only be noise in a sentence: hashes, keys, signatures (they stay in events.jsonl). */
const OPAQUE = /^(?:[0-9a-f]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})$/i;

/** A type this version does not know: who, the type's name, whom, and its plain details. */
function genericSentence({ record, facts, details }: SentenceContext): string {
  const about = facts.subject.kind === 'none' ? '' : ` concerning ${facts.subject.label}`;
  const plain = details.entries().filter(([, v]) => !OPAQUE.test(v)).slice(0, 8).map(([k, v]) => `${k} ${v}`);
  return `${capitalise(facts.actor.label)} recorded “${record.type}”${about}${plain.length > 0 ? ` (${plain.join('; ')})` : ''}.`;
}

/** Human names of event types, for headings, filters and counts; an unknown type keeps its own name. */
export const AUDIT_TYPE_LABELS: Readonly<Record<string, string>> = {
  'account.created': 'Account created',
  'account.deactivated': 'Account deactivated',
  'account.reactivated': 'Account reactivated',
  'account.unlocked': 'Sign-in lock lifted',
  'account.locked': 'Sign-ins locked',
  'account.inactive': 'Account deactivated (inactive)',
  'account.enrolled': 'Enrollment completed',
  'login.success': 'Signed in',
  'login.failure': 'Failed sign-in',
  'login.throttled': 'Sign-in attempts paused',
  'credential.rejected': 'Workstation credential refused',
  'emergency.issued': 'Emergency access issued',
  'emergency.used': 'Emergency access used',
  'device.enrolled': 'Workstation enrolled',
  'device.revoked': 'Workstation revoked',
  'keys.uploaded': 'Encryption keys uploaded',
  'bundle.fetched': 'Encryption keys fetched',
  'bundle.refused': 'Key fetches refused',
  'keys.refused': 'Key uploads refused',
  'envelope.accepted': 'Message sent',
  'envelope.refused': 'Messages refused',
  'envelope.delivered': 'Message delivered',
  'envelope.expired': 'Undelivered messages expired',
  'audit.exported': 'Audit log exported',
  'audit.export_refused': 'Audit export refused',
  'audit.key_rotated': 'Audit signing key rotated',
  'audit.tree_rebuilt': 'Audit tree rebuilt',
  'audit.log_restored': 'Relay restored from a backup',
  'session.unlocked': 'Unlocked', unlock: 'Unlocked',
  'session.signedIn': 'Signed in', signIn: 'Signed in',
  'session.locked': 'Locked', lock: 'Locked',
  'session.autoLocked': 'Locked automatically', autoLock: 'Locked automatically',
  'session.signedOut': 'Signed out', signOut: 'Signed out',
  'session.unlockFailed': 'Failed unlock', 'unlock.failed': 'Failed unlock',
  'profile.keySealed': 'Profile key protection changed',
  'passphrase.changed': 'Passphrase changed',
  'passphrase.belowPolicy': 'Passphrase below policy',
  'policy.loaded': 'Policy applied',
  'audit.relayExported': 'Relay audit log exported',
  'retention.deleted': 'Old messages deleted',
  'message.sent': 'Message sent',
  'message.received': 'Message received',
  'message.read': 'Messages read',
  'message.rejected': 'Unreadable messages',
  'careTeam.changed': 'Care team changed',
  'contact.identityAcknowledged': 'New safety number acknowledged',
  'contact.verified': 'Contact verified',
  'contact.unverified': 'Contact verification removed',
};

export const auditTypeLabel = (type: string): string => (Object.hasOwn(AUDIT_TYPE_LABELS, type) ? AUDIT_TYPE_LABELS[type] ?? type : type);
