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

const REFUSED = /\.refused$|^credential\.rejected$|^login\.throttled$|^audit\.export_refused$|^message\.rejected$/;
const FAILED = /^login\.failure$|^session\.unlockFailed$|^unlock\.failed$/;
/** Types whose outcome is known, so a record's costs a map lookup rather than two regular expressions. */
const MAX_OUTCOMES = 1000;

/** Slots of EnvelopeSenders' table: four per envelope remembered, so at most half are ever taken (stale ones included). */
const SLOTS = MAX_ENVELOPES * 4;

/**
 * The last MAX_ENVELOPES envelopes accepted, each with its sender, for a delivery to name its sender.
 * Each new envelope id gets the next number and takes ring slot `number % MAX_ENVELOPES`, pushing out
 * the id that held it: an id is remembered while its number is at least `count - MAX_ENVELOPES`. The ids
 * are found through an open-addressing table of numbers (and their ids' hashes) in typed arrays, rebuilt
 * from the ring every MAX_ENVELOPES new ids, so the stale entries never fill it: a lookup reads a few
 * integers instead of chasing strings through a Map of 65,536 entries, and nothing is deleted a record at a time.
 */
class EnvelopeSenders {
  /** Per slot: the envelope's number + 1 (0: empty), and its id's hash; made with the first envelope (a workstation's log has none). */
  #numbers = new Int32Array(0);
  #hashes = new Int32Array(0);
  readonly #ids: string[] = [];
  readonly #senders: string[] = [];
  #count = 0;

  accepted(envelope: string, sender: string): void {
    if (this.#numbers.length === 0) {
      this.#numbers = new Int32Array(SLOTS);
      this.#hashes = new Int32Array(SLOTS);
    }
    const hash = hashOf(envelope);
    let n = this.#find(envelope, hash);
    if (n < 0) {
      if (this.#count > 0 && this.#count % MAX_ENVELOPES === 0) this.#rebuild();
      n = this.#count++;
      this.#ids[n % MAX_ENVELOPES] = envelope;
      this.#insert(n, hash);
    }
    this.#senders[n % MAX_ENVELOPES] = sender;
  }

  senderOf(envelope: string): string | undefined {
    if (this.#count === 0) return undefined;
    const n = this.#find(envelope, hashOf(envelope));
    return n < 0 ? undefined : this.#senders[n % MAX_ENVELOPES];
  }

  /** The number of a remembered envelope, or -1. */
  #find(envelope: string, hash: number): number {
    const oldest = this.#count - MAX_ENVELOPES;
    for (let slot = hash & (SLOTS - 1); ; slot = (slot + 1) & (SLOTS - 1)) {
      const stored = this.#numbers[slot] ?? 0;
      if (stored === 0) return -1;
      const n = stored - 1;
      if (n >= oldest && this.#hashes[slot] === hash && this.#ids[n % MAX_ENVELOPES] === envelope) return n;
    }
  }

  #insert(n: number, hash: number): void {
    let slot = hash & (SLOTS - 1);
    while (this.#numbers[slot] !== 0) slot = (slot + 1) & (SLOTS - 1);
    this.#numbers[slot] = n + 1;
    this.#hashes[slot] = hash;
  }

  /** The table again from the ring's ids alone (those pushed out of the ring were taking slots). */
  #rebuild(): void {
    this.#numbers.fill(0);
    for (let n = Math.max(0, this.#count - MAX_ENVELOPES); n < this.#count; n++) this.#insert(n, hashOf(this.#ids[n % MAX_ENVELOPES] ?? ''));
  }
}

/** FNV-1a over the id's UTF-16 units. */
function hashOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** Reads records in order: facts (parties, outcome) for each, sentences for those shown. */
export class AuditDescriber {
  readonly #senders = new EnvelopeSenders();
  readonly #outcomes = new Map<string, AuditOutcome>();
  readonly #owner: AuditParty;

  constructor(readonly names: AuditNames, readonly times: LocalTimes = new LocalTimes(names.directory.timeZone), owner?: AuditLogOwner) {
    this.#owner = ownerParty(owner, owner ? names.personByUsername(owner.username) : null);
  }

  facts(record: DescribedRecord): AuditFacts {
    const type = record.type;
    const actor = typeof record.actor === 'string' ? this.names.party(record.actor) : this.#owner;
    const subjectId = typeof record.subject === 'string' ? record.subject : '';
    // The subject of envelope.accepted and envelope.delivered is an envelope id.
    const subject = this.names.party(subjectId, type === 'envelope.accepted' || type === 'envelope.delivered');
    return { actor, subject, counterparties: this.#counterparties(record, subjectId, actor), outcome: this.#outcome(type), flagged: record.flagged === true };
  }

  /** One sentence about the record, in plain words. */
  sentence(record: DescribedRecord, facts: AuditFacts = this.facts(record)): string {
    const context: SentenceContext = { record, facts, details: new Details(record.details), names: this.names, times: this.times };
    const said = typeof record.actor === 'string' ? relaySentence(context) : workstationSentence(context);
    return said ?? genericSentence(context);
  }

  #outcome(type: string): AuditOutcome {
    if (typeof type !== 'string') return outcomeOf(type);
    let outcome = this.#outcomes.get(type);
    if (outcome === undefined) {
      outcome = outcomeOf(type);
      if (this.#outcomes.size < MAX_OUTCOMES) this.#outcomes.set(type, outcome);
    }
    return outcome;
  }

  #counterparties(record: DescribedRecord, subject: string, actor: AuditParty): AuditParty[] {
    switch (record.type) {
      case 'envelope.accepted': {
        if (subject !== '') this.#senders.accepted(subject, actor.raw);
        const details = new Details(record.details);
        return details.has('recipient') ? [this.names.party(details.text('recipient'))] : [];
      }
      case 'envelope.delivered': {
        const details = new Details(record.details);
        const sender = details.has('sender') ? details.text('sender') : this.#senders.senderOf(subject);
        return sender ? [this.names.party(sender)] : [];
      }
      case 'message.sent':
        return addresses(new Details(record.details).text('recipients')).map((a) => this.names.party(a));
      case 'message.received':
      case 'message.rejected': {
        const details = new Details(record.details);
        return details.has('sender') ? [this.names.party(details.text('sender'))] : [];
      }
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
  'account.sso_only': 'Moved to single sign-on',
  'account.locked': 'Sign-ins locked',
  'account.inactive': 'Account deactivated (inactive)',
  'account.enrolled': 'Enrollment completed',
  'user.provisioned': 'Account provisioned from the directory',
  'user.updated': 'Directory details changed',
  'user.deprovisioned': 'Account removed by the directory',
  'group.provisioned': 'Directory group created',
  'group.updated': 'Directory group changed',
  'group.deleted': 'Directory group deleted',
  'scim.token_created': 'SCIM token created',
  'scim.token_revoked': 'SCIM token revoked',
  'scim.refused': 'SCIM requests refused',
  'directory.synced': 'Directory sync run',
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
  'message.acknowledged': 'Urgent message acknowledged',
  'escalation.held': 'Escalation held',
  'escalation.released': 'Escalated',
  'escalation.cancelled': 'Escalation stopped',
  'escalation.purged': 'Old escalations deleted',
  'envelope.accepted': 'Message sent',
  'envelope.refused': 'Messages refused',
  'envelope.delivered': 'Message delivered',
  'envelope.expired': 'Undelivered messages expired',
  'blob.stored': 'Attachment uploaded',
  'blob.fetched': 'Attachment fetched',
  'blob.readersAdded': 'Attachment readers added',
  'blob.readersRemoved': 'Attachment readers removed',
  'blob.deleted': 'Attachment deleted',
  'audit.exported': 'Audit log exported',
  'audit.export_refused': 'Audit export refused',
  'audit.key_rotated': 'Audit signing key rotated',
  'audit.tree_rebuilt': 'Audit tree rebuilt',
  'audit.log_restored': 'Relay restored from a backup',
  'presence.changed': 'Status changed',
  'role.created': 'On-call role created',
  'role.updated': 'On-call role changed',
  'shift.added': 'Shift added',
  'shift.removed': 'Shift removed',
  'schedule.imported': 'Rota imported',
  'shifts.vacated': 'Shifts removed with the account',
  'scheduler.granted': 'Scheduler permission granted',
  'scheduler.revoked': 'Scheduler permission removed',
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
  'attachment.sent': 'Attachment sent',
  'attachment.fetched': 'Attachment fetched',
  'attachment.saved': 'Attachment saved to disk',
  'attachment.saveAttempted': 'Attachment save begun',
  'attachment.saveFailed': 'Attachment save failed',
  'attachment.copied': 'Image copied to the clipboard',
  'urgent.acknowledged': 'Urgent message acknowledged',
  'acknowledgement.received': 'Acknowledgement received',
  'acknowledgement.refused': 'Acknowledgement refused',
  'forwarding.refused': 'Forwarding not acted on',
};

export const auditTypeLabel = (type: string): string => (Object.hasOwn(AUDIT_TYPE_LABELS, type) ? AUDIT_TYPE_LABELS[type] ?? type : type);
