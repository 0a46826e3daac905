/**
 * What an export says about its records for people to read, besides events.jsonl: events.csv's rows,
 * report.html and people.json. It reads the records from events.jsonl's lines, a chunk of whole lines at a
 * time (their bytes, or their text decoded by the caller), so it can run beside the writer (on a
 * worker thread, for a year's export) and read exactly the lines written (which the writer checks against
 * their leaves). Pure.
 */
import type { ExportedRecord } from './bundleLayout';
import type { BundleHeader } from './bundleWriter';
import { AUDIT_CSV_HEADER, AuditCsv, csvCell } from './csv';
import { AuditDescriber } from './describe';
import { LocalTimes } from './localTimes';
import { AuditNames, EMPTY_DIRECTORY, type AuditDirectory } from './people';
import { AuditReport, type AuditReportVerification } from './report';

/** Who and what the readout is about (a BundleHeader's part that it reads). */
export interface ReadoutHeader extends Pick<BundleHeader, 'origin' | 'range' | 'title' | 'generatedAt' | 'directory' | 'workstation' | 'username'> {
  /** The banner of a bundle exported with its chain broken (events.csv's first line, the report's banner). */
  readonly warning?: string;
}

/** What the readout ends with: report.html and people.json. */
export interface ReadoutResult {
  readonly report: string;
  readonly people: AuditDirectory;
  /** From a readout elsewhere: SHA-256 of events.csv's bytes it made, taken there. */
  readonly digests?: { readonly csv: Uint8Array };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CHUNK = 1 << 20;

/**
 * events.jsonl lines in (whole lines, in order), events.csv bytes out through `csvOut` a megabyte at a time,
 * and at the end the report and the directory of the people the records name.
 */
export class ExportReadout {
  readonly #csvOut: (bytes: Uint8Array) => void;
  readonly #directory: AuditDirectory;
  readonly #describer: AuditDescriber;
  readonly #csv: AuditCsv;
  readonly #report: AuditReport;
  /** One user's export: the user ids its records name, so people.json lists only them. */
  readonly #named: Set<string> | null;
  #pending = new Uint8Array(CHUNK);
  #used = 0;

  constructor(header: ReadoutHeader, csvOut: (bytes: Uint8Array) => void) {
    this.#csvOut = csvOut;
    // One describer for the CSV and the report: each record's facts (who, outcome, counterparty) worked out once.
    const names = new AuditNames(header.directory ?? EMPTY_DIRECTORY);
    this.#directory = names.directory;
    this.#describer = new AuditDescriber(names, new LocalTimes(names.directory.timeZone), header.workstation);
    this.#csv = new AuditCsv(names.directory, { describer: this.#describer });
    this.#named = header.range.user === null ? null : new Set();
    this.#report = new AuditReport({
      title: header.title, origin: header.origin, range: { ...header.range, user: header.username ?? header.range.user }, directory: names.directory,
      generatedAt: header.generatedAt, describer: this.#describer, ...(header.workstation ? { workstation: header.workstation } : {}), ...(header.warning ? { warning: header.warning } : {}),
    });
    // A UTF-8 byte order mark first: without it Excel on Windows reads names and quotes as another code page.
    this.#text(`\uFEFF${header.warning ? `${csvCell(header.warning)}\r\n` : ''}${AUDIT_CSV_HEADER}`);
  }

  /** A chunk of events.jsonl: whole lines, each ending in a newline. */
  lines(chunk: Uint8Array): void {
    this.text(decoder.decode(chunk));
  }

  /** A chunk of events.jsonl decoded: whole lines, each ending in a newline. */
  text(text: string): void {
    // A JSON line holds no raw newline.
    let start = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
      this.#add(JSON.parse(text.slice(start, i)) as ExportedRecord);
      start = i + 1;
    }
  }

  #add(record: ExportedRecord): void {
    const facts = this.#describer.facts(record);
    const named = this.#named;
    if (named) {
      if (facts.actor.userId) named.add(facts.actor.userId);
      if (facts.subject.userId) named.add(facts.subject.userId);
      for (const party of facts.counterparties) if (party.userId) named.add(party.userId);
    }
    this.#text(this.#csv.row(record, facts));
    this.#report.add(record, facts);
  }

  /** The last of events.csv, the report over what the signatures cover, and the people the records name. */
  finish(verification: AuditReportVerification): ReadoutResult {
    this.#flush();
    const named = this.#named;
    const people = named ? { ...this.#directory, people: this.#directory.people.filter((p) => named.has(p.userId)), workstations: this.#directory.workstations.filter((w) => named.has(w.userId)) } : this.#directory;
    return { report: this.#report.render(verification), people };
  }

  /** Text for events.csv, encoded straight into a chunk buffer and handed out a megabyte at a time. */
  #text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.#used + text.length * 3 > CHUNK) {
      this.#flush();
      if (text.length * 3 > CHUNK) return this.#csvOut(encoder.encode(text));
    }
    this.#used += encoder.encodeInto(text, this.#pending.subarray(this.#used)).written;
  }

  #flush(): void {
    if (this.#used === 0) return;
    this.#csvOut(this.#pending.slice(0, this.#used));
    this.#used = 0;
  }
}
