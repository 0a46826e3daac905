/**
 * events.csv: one flat row per record that a spreadsheet opens as it is. Names resolved from the
 * export's directory, times in UTC and in the relay's zone, one sentence saying what happened, and the
 * raw ids at the end to find the record in events.jsonl. RFC 4180 (CRLF, quotes doubled). Cells that
 * a spreadsheet would run as a formula (= + - @ |, or their full-width forms, first, after any blanks) get a
 * leading apostrophe, as OWASP's "CSV injection" guidance says, and cells holding `;` or a tab are quoted
 * too: usernames, workstation names and reasons are typed by people.
 *
 * Streaming: the lead writes AUDIT_CSV_HEADER, then one `row(record)` per record (each ends in CRLF).
 */
import { AuditDescriber, auditTypeLabel, type AuditFacts, type AuditLogOwner, type DescribedRecord } from './describe';
import { LocalTimes } from './localTimes';
import { PartyPairMemo, pairSentenceType } from './partyPairs';
import { AuditNames, type AuditDirectory, type AuditParty, type AuditPartyKind } from './people';

export const AUDIT_CSV_COLUMNS = [
  'seq', 'time_utc', 'time_local', 'actor_username', 'actor_display_name', 'actor_role', 'actor_workstation', 'actor_address', 'actor_kind',
  'subject', 'type', 'event', 'outcome', 'counterparty', 'flagged', 'description', 'actor_id', 'subject_id', 'counterparty_id',
] as const;

/** The header line, CRLF included. */
export const AUDIT_CSV_HEADER = `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;

// Also after leading blanks (a spreadsheet may trim them) and in full-width forms, and a leading `|` (DDE); a
// leading tab or CR too. Checked a character at a time (this runs for several cells of a million rows): the
// same as /^[\s\u00a0\u3000]*[=+\-@\uff1d\uff0b\uff0d\uff20|]|^[\t\r]/, which csv.test.ts holds it to.
function startsFormula(value: string): boolean {
  const first = value.charCodeAt(0);
  if (first === 9 || first === 13) return true;
  let i = 0;
  while (i < value.length && isBlank(value.charCodeAt(i))) i++;
  const c = value.charCodeAt(i);
  return c === 61 || c === 43 || c === 45 || c === 64 || c === 124 || c === 0xff1d || c === 0xff0b || c === 0xff0d || c === 0xff20;
}

/** What `\s` matches: the ECMAScript white space and line terminators. */
function isBlank(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

// `;` and tab too: a spreadsheet set to split on them (Excel in many European locales) would otherwise start a new,
// unguarded cell inside this one; quoted, the whole value stays one cell that starts as it starts here.
const NEEDS_QUOTES = /[",;\t\r\n]/;

/** One RFC 4180 cell, neutralised against formula injection. */
export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'string') return String(value);
  const quoted = NEEDS_QUOTES.test(value);
  const safe = startsFormula(value) ? `'${value}` : value;
  return quoted ? `"${safe.replaceAll('"', '""')}"` : safe;
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

/** A party's cells: its id (actor_id, subject_id, counterparty_id), as actor (six columns), as subject or counterparty. */
interface PartyCells {
  readonly id: string;
  actor: string | undefined;
  party: string | undefined;
}

export interface AuditCsvOptions {
  /** A workstation bundle's user and workstation: the actor of its records. */
  readonly owner?: AuditLogOwner;
  /** The export's one describer, shared with its AuditReport so that each record's facts are worked out once. */
  readonly describer?: AuditDescriber;
}

/** Rows of events.csv for one export: the directory's maps and the zone's formatter are built once. */
export class AuditCsv {
  readonly #times: LocalTimes;
  readonly #describer: AuditDescriber;
  /** Per resolved party (parties are shared, envelopes aside): its cells, looked up once a row per party. */
  readonly #cells = new WeakMap<AuditParty, PartyCells>();
  readonly #acceptedCells = new PartyPairMemo();
  readonly #deliveredCells = new PartyPairMemo();
  /** The type's two cells (as recorded, and its label). */
  readonly #typeCells = new Map<string, string>();

  constructor(directory: AuditDirectory, options: AuditCsvOptions = {}) {
    this.#describer = options.describer ?? new AuditDescriber(new AuditNames(directory), new LocalTimes(directory.timeZone), options.owner);
    this.#times = this.#describer.times;
  }

  /**
   * One record's row, CRLF included. Records must come in log order (a delivery names the sender of its
   * envelope, accepted earlier); `facts` from the shared describer's `facts(record)`, when the caller has them.
   */
  row(record: DescribedRecord, facts: AuditFacts = this.#describer.facts(record)): string {
    const { actor, subject, counterparties } = facts;
    const a = this.#cellsOf(actor);
    a.actor ??= [actor.kind === 'admin' ? resolved(actor) : actor.username, actor.displayName, actor.person?.role, actor.workstation, actor.address, KIND[actor.kind]].map(csvCell).join(',');
    // An envelope's id is a UUID (people.ts makes it one only then): hex digits and dashes are a cell as they are.
    const s = subject.kind === 'envelope' ? null : this.#cellsOf(subject);
    const only = counterparties.length === 1 ? counterparties[0] : undefined;
    const c = only === undefined || only.kind === 'envelope' ? null : this.#cellsOf(only);
    let counterparty = ',';
    let counterpartyIds = '';
    if (only !== undefined) {
      counterparty = `${c ? (c.party ??= csvCell(resolved(only))) : only.raw},`;
      counterpartyIds = c ? c.id : only.raw;
    } else if (counterparties.length > 1) {
      counterparty = `${csvCell(counterparties.map(resolved).join('; '))},`;
      counterpartyIds = csvCell(counterparties.map((p) => p.raw).join(' '));
    }
    return `${csvCell(record.seq)},${this.#times.iso(record.at)},${this.#times.local(record.at)},${a.actor},${s ? (s.party ??= csvCell(resolved(subject))) : subject.raw},`
      + `${this.#typeCell(record.type)},${facts.outcome},${counterparty}${facts.flagged ? 'yes' : 'no'},${this.#sentenceCell(record, facts)},`
      + `${a.id},${s ? s.id : subject.raw},${counterpartyIds}\r\n`;
  }

  /** A party's cells, made when first asked for. */
  #cellsOf(party: AuditParty): PartyCells {
    let cells = this.#cells.get(party);
    if (cells === undefined) {
      cells = { id: csvCell(party.raw), actor: undefined, party: undefined };
      this.#cells.set(party, cells);
    }
    return cells;
  }

  /** The description's cell; a message record's is kept per sender and recipient, like its sentence. */
  #sentenceCell(record: DescribedRecord, facts: AuditFacts): string {
    const pair = pairSentenceType(record, facts.counterparties);
    if (pair === null) return csvCell(this.#describer.sentence(record, facts));
    const memo = pair === 'envelope.accepted' ? this.#acceptedCells : this.#deliveredCells;
    const other = facts.counterparties[0] ?? null;
    let cell = memo.get(facts.actor, other);
    if (cell === undefined) {
      cell = csvCell(this.#describer.sentence(record, facts));
      memo.set(facts.actor, other, cell);
    }
    return cell;
  }

  #typeCell(type: string): string {
    let cells = this.#typeCells.get(type);
    if (cells === undefined) {
      cells = `${csvCell(type)},${csvCell(auditTypeLabel(type))}`;
      if (this.#typeCells.size < 1000) this.#typeCells.set(type, cells);
    }
    return cells;
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
