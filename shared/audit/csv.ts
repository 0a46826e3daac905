/**
 * events.csv: one flat row per record that a spreadsheet opens as it is. Names resolved from the
 * export's directory, times in UTC and in the relay's zone, one sentence saying what happened, and the
 * raw ids at the end to find the record in events.jsonl. RFC 4180 (CRLF, quotes doubled). Cells that
 * a spreadsheet would run as a formula (= + - @ tab CR first) get a leading apostrophe, as OWASP's
 * "CSV injection" guidance says: usernames, workstation names and reasons are typed by people.
 *
 * Streaming: the lead writes AUDIT_CSV_HEADER, then one `row(record)` per record (each ends in CRLF).
 */
import { AuditDescriber, auditTypeLabel, type AuditLogOwner, type DescribedRecord } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames, type AuditDirectory, type AuditParty, type AuditPartyKind } from './people';

export const AUDIT_CSV_COLUMNS = [
  'seq', 'time_utc', 'time_local', 'actor_username', 'actor_display_name', 'actor_role', 'actor_workstation', 'actor_address', 'actor_kind',
  'subject', 'type', 'event', 'outcome', 'counterparty', 'flagged', 'description', 'actor_id', 'subject_id', 'counterparty_id',
] as const;

/** The header line, CRLF included. */
export const AUDIT_CSV_HEADER = `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/** One RFC 4180 cell, neutralised against formula injection. */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') return String(value);
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** What actor_kind says: user (at a workstation or by id), admin, api, system, anonymous. */
const KIND: Readonly<Record<AuditPartyKind, string>> = { workstation: 'user', user: 'user', admin: 'admin', api: 'api', system: 'system', anonymous: 'anonymous', envelope: 'envelope', none: '', other: 'other' };

/** A party in one cell: a username, `username @ workstation`, `admin:jdoe`, an address, an envelope id. */
function resolved(p: AuditParty): string {
  switch (p.kind) {
    case 'workstation':
    case 'api':
      return `${p.username ?? p.userId ?? ''}${p.workstation ? ` @ ${p.workstation}` : ''}`;
    case 'user': return p.username ?? p.userId ?? p.raw;
    case 'admin': return p.osAccount ? `admin:${p.osAccount}` : 'admin';
    case 'anonymous': return p.address ?? 'anonymous';
    default: return p.raw;
  }
}

export interface AuditCsvOptions {
  /** A workstation bundle's user and workstation: the actor of its records. */
  readonly owner?: AuditLogOwner;
}

/** Rows of events.csv for one export: the directory's maps and the zone's formatter are built once. */
export class AuditCsv {
  readonly #times: LocalTimes;
  readonly #describer: AuditDescriber;

  constructor(directory: AuditDirectory, options: AuditCsvOptions = {}) {
    this.#times = new LocalTimes(directory.timeZone);
    this.#describer = new AuditDescriber(new AuditNames(directory), this.#times, options.owner);
  }

  /** One record's row, CRLF included. Records must come in log order (a delivery names the sender of its envelope, accepted earlier). */
  row(record: DescribedRecord): string {
    const facts = this.#describer.facts(record);
    const { actor, subject, counterparties } = facts;
    const cells = [
      csvCell(record.seq),
      csvCell(this.#times.iso(record.at)),
      csvCell(this.#times.local(record.at)),
      csvCell(actor.kind === 'admin' ? resolved(actor) : actor.username),
      csvCell(actor.displayName),
      csvCell(actor.person?.role),
      csvCell(actor.workstation),
      csvCell(actor.address),
      csvCell(KIND[actor.kind]),
      csvCell(resolved(subject)),
      csvCell(record.type),
      csvCell(auditTypeLabel(record.type)),
      csvCell(facts.outcome),
      csvCell(counterparties.map(resolved).join('; ')),
      csvCell(facts.flagged ? 'yes' : 'no'),
      csvCell(this.#describer.sentence(record, facts)),
      csvCell(actor.raw),
      csvCell(subject.raw),
      csvCell(counterparties.map((p) => p.raw).join(' ')),
    ];
    return `${cells.join(',')}\r\n`;
  }
}

const writers = new WeakMap<AuditDirectory, AuditCsv>();

/**
 * One row with the export's directory (CRLF included): the AuditCsv for that directory object is kept,
 * so calling this per record costs no setup. Relay records; a workstation's need `new AuditCsv(directory, { owner })`.
 */
export function auditCsvRow(record: DescribedRecord, directory: AuditDirectory): string {
  let writer = writers.get(directory);
  if (!writer) {
    writer = new AuditCsv(directory);
    writers.set(directory, writer);
  }
  return writer.row(record);
}
